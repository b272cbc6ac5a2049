"""``hal`` imports no other package of ours, and vendor libraries only when a port opens."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import hal

HAL_ROOT = Path(hal.__file__).resolve().parent
OUR_OTHER_PACKAGES = {"protocols", "edge", "cloud_bridge", "firmware_py", "hil", "tests"}
VENDOR_LIBRARIES = {"can", "serial"}


def imported_top_level_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_hal_imports_no_other_package_of_ours() -> None:
    modules = sorted(HAL_ROOT.rglob("*.py"))
    assert len(modules) > 5
    offenders = {
        str(path.relative_to(HAL_ROOT)): sorted(imported_top_level_names(path) & OUR_OTHER_PACKAGES)
        for path in modules
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_importing_every_hal_module_imports_no_vendor_library() -> None:
    modules = [
        "hal." + ".".join(path.relative_to(HAL_ROOT).with_suffix("").parts)
        for path in sorted(HAL_ROOT.rglob("*.py"))
        if path.name != "__init__.py"
    ]
    assert "hal.can.python_can_port" in modules
    assert "hal.serial.pyserial_port" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"print(sorted(m for m in {sorted(VENDOR_LIBRARIES)!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
        cwd=HAL_ROOT.parent,
    )
    assert result.stdout.strip() == "[]"
