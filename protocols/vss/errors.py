"""The error of ``protocols.vss``: a mapping or catalogue that cannot be used."""

from __future__ import annotations

from protocols.errors import DefinitionError


class VssMappingError(DefinitionError):
    """A VSS mapping file (or the catalogue) is invalid: the message names the file, the key,
    the value and what would be valid."""

    reason = "vss_mapping"
