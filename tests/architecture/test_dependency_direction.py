"""Dependencies point one way (DESIGN.md): checked on every import statement of our code."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("protocols", "hal", "edge", "cloud_bridge", "firmware_py", "hil")
ALLOWED: dict[str, set[str]] = {
    "protocols": set(),
    "hal": set(),
    "edge": {"hal", "protocols"},
    "cloud_bridge": {"protocols"},
    "firmware_py": {"protocols", "hal", "edge", "cloud_bridge"},
    "hil": {"protocols", "hal", "edge", "cloud_bridge", "firmware_py"},
}
VENDOR_ONLY_IN_ADAPTERS = {"can": "hal/can/", "serial": "hal/serial/"}
"""Inside hal, vendor libraries are imported only by adapters (STYLE.md, principle 1)."""
EDGE_MAY_NOT_USE = (
    "hal.can.python_can_port",
    "hal.serial.pyserial_port",
    "hal.can.registry",
    "hal.net.udp_port",
    "hal.net.udp_link",
)
"""edge uses hal ports, never adapters: the composition root picks adapters."""


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def _sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", PACKAGES)
def test_package_imports_only_what_design_allows(package: str) -> None:
    violations = []
    for path in _sources(package):
        for line, module in _imports(path):
            top = module.split(".")[0]
            if top in ALLOWED and top != package and top not in ALLOWED[package]:
                violations.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
            if top == "tests":
                violations.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert violations == [], "dependency direction broken:\n" + "\n".join(violations)


def test_edge_uses_ports_not_adapters() -> None:
    violations = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in _sources("edge")
        for line, module in _imports(path)
        if module.startswith(EDGE_MAY_NOT_USE)
    ]
    assert violations == []


def test_protocols_does_no_io() -> None:
    forbidden = ("socket", "can", "serial", "aiomqtt", "paho", "sqlite3", "asyncio")
    violations = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in _sources("protocols")
        for line, module in _imports(path)
        if module.split(".")[0] in forbidden
    ]
    assert violations == []


def test_vendor_libraries_stay_in_their_adapters() -> None:
    violations = []
    for path in _sources("hal"):
        rel = path.relative_to(ROOT).as_posix()
        for line, module in _imports(path):
            home = VENDOR_ONLY_IN_ADAPTERS.get(module.split(".")[0])
            if home is not None and not rel.startswith(home):
                violations.append(f"{rel}:{line} imports {module}")
    assert violations == []


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from edge.uplink import publisher\nimport firmware_py.cli\n")
    assert [m for _, m in _imports(bad)] == ["edge.uplink", "firmware_py.cli"]
