"""cloud_bridge imports protocols only (DESIGN.md: dependencies point one way)."""

from __future__ import annotations

import ast
from pathlib import Path

import cloud_bridge

FORBIDDEN = {"hal", "edge", "firmware_py", "hil", "tests"}


def _imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_cloud_bridge_imports_only_protocols_of_ours() -> None:
    package = Path(cloud_bridge.__file__).parent
    sources = sorted(package.rglob("*.py"))
    assert len(sources) >= 7

    offenders = {
        str(path.relative_to(package)): sorted(_imported_roots(path) & FORBIDDEN)
        for path in sources
        if _imported_roots(path) & FORBIDDEN
    }

    assert offenders == {}
