"""Vendor libraries load only when a port opens (the static import rules are in
tests/architecture)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import hal

HAL_ROOT = Path(hal.__file__).resolve().parent
VENDOR_LIBRARIES = {"can", "serial"}


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
