"""The sources of a fused object: the bits of its ``source_mask`` named by its list's
``sensor_ids`` (the wire carries a mask, not a name per source and object)."""

from __future__ import annotations

from collections.abc import Sequence


def source_names(source_mask: int, sensor_ids: Sequence[str]) -> tuple[str, ...]:
    """The names of the sources set in ``source_mask``, in ``sensor_ids`` order; a bit beyond
    ``sensor_ids`` (a list from a unit with more sources than it named) is left out."""
    return tuple(name for bit, name in enumerate(sensor_ids) if source_mask >> bit & 1)
