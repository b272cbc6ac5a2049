"""The COVESA VSS catalogue: every signal path with its type, datatype and unit.

The catalogue shipped with the package is VSS 5.1 (``vss_release_5.1.json``, MPL-2.0) plus
RoadGate's overlay (``overlay.toml``): leaves VSS lacks, added under existing branches.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from protocols.toml_table import TomlTable
from protocols.vss.errors import VssMappingError

PACKAGE_DIR = Path(__file__).resolve().parent
CATALOGUE_JSON = PACKAGE_DIR / "vss_release_5.1.json"
OVERLAY_TOML = PACKAGE_DIR / "overlay.toml"

_LEAF_TYPES = ("sensor", "actuator", "attribute")
_DATATYPES = (
    "boolean",
    "string",
    "float",
    "double",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
)


@dataclass(frozen=True)
class VssLeaf:
    """One VSS signal: ``type`` is sensor, actuator or attribute; ``unit`` None if unitless."""

    path: str
    type: str
    datatype: str
    unit: str | None = None
    description: str = ""
    overlay: bool = False  # from RoadGate's overlay, not the VSS release


@dataclass(frozen=True)
class VssCatalogue:
    """Leaves and branches by path."""

    leaves: Mapping[str, VssLeaf]
    branches: frozenset[str]

    def leaf(self, path: str) -> VssLeaf | None:
        """The leaf at ``path``, or None."""
        return self.leaves.get(path)

    def near(self, path: str, limit: int = 8) -> list[str]:
        """Leaf paths spelled like ``path``, else those under its deepest existing branch
        (for error messages)."""
        close = difflib.get_close_matches(path, list(self.leaves), n=limit, cutoff=0.8)
        if close:
            return close
        parts = path.split(".")
        while parts and ".".join(parts) not in self.branches:
            parts.pop()
        prefix = ".".join(parts) + "."
        return sorted(p for p in self.leaves if p.startswith(prefix))[:limit]


@cache
def load_catalogue(
    catalogue_json: Path = CATALOGUE_JSON, overlay_toml: Path | None = OVERLAY_TOML
) -> VssCatalogue:
    """Read a vss-tools JSON export and an optional overlay.

    Raises ``VssMappingError`` for an unreadable file, or an overlay leaf that already exists,
    lacks an existing parent branch, or has an unknown type or datatype.
    """
    try:
        tree = json.loads(catalogue_json.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise VssMappingError(f"{catalogue_json}: cannot read the VSS catalogue: {err}") from err
    leaves: dict[str, VssLeaf] = {}
    branches: set[str] = set()
    _walk(tree, "", leaves, branches)
    if overlay_toml is not None:
        for leaf in _read_overlay(overlay_toml, leaves, branches):
            leaves[leaf.path] = leaf
    return VssCatalogue(leaves=leaves, branches=frozenset(branches))


def _walk(
    node: Mapping[str, Any], prefix: str, leaves: dict[str, VssLeaf], branches: set[str]
) -> None:
    for name, entry in node.items():
        path = f"{prefix}{name}"
        if entry.get("type") == "branch":
            branches.add(path)
            _walk(entry.get("children", {}), f"{path}.", leaves, branches)
        else:
            leaves[path] = VssLeaf(
                path=path,
                type=str(entry.get("type")),
                datatype=str(entry.get("datatype")),
                unit=entry.get("unit"),
                description=str(entry.get("description", "")),
            )


class _OverlayTable(TomlTable):
    error_type = VssMappingError


def _read_overlay(path: Path, leaves: Mapping[str, VssLeaf], branches: set[str]) -> list[VssLeaf]:
    root = _OverlayTable.read(path, "VSS overlay")
    result: list[VssLeaf] = []
    for entry in root.tables("leaf"):
        leaf = VssLeaf(
            path=entry.string("path"),
            type=entry.string("type", choices=_LEAF_TYPES),
            datatype=entry.string("datatype", choices=_DATATYPES),
            unit=entry.string("unit", None),
            description=entry.string("description", ""),
            overlay=True,
        )
        entry.reject_unknown()
        parent = leaf.path.rpartition(".")[0]
        if leaf.path in leaves:
            raise entry.error("path", leaf.path, "a leaf not in the catalogue already")
        if parent not in branches:
            raise entry.error("path", leaf.path, f"a leaf under an existing branch ({parent!r})")
        result.append(leaf)
    root.reject_unknown()
    return result
