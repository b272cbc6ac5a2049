"""Dependencies point one way (ARCHITECTURE.md): checked on every import statement of our code.

Each rule is a function taking the tree's root and returning the violations it finds, so the
self-test at the bottom can run the same rules on a small tree with violations planted in it.
"""

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
"""Vendor libraries are imported only by hal's adapters (STYLE.md, principle 1), in every
package: simulators and emulators send through ``CanPort`` too."""
VENDOR_EXCEPTIONS: dict[str, str] = {
    # file: why it may import a vendor library directly
    "hil/can_benchmark.py": "the benchmark's peer: plain python-can as a user would use it, "
    "the baseline our adapters are measured against",
}
EDGE_MAY_NOT_USE = (
    "hal.can.python_can_port",
    "hal.serial.pyserial_port",
    "hal.can.registry",
    "hal.net.udp_port",
    "hal.net.udp_link",
)
"""edge uses hal ports, never adapters: the composition root picks adapters."""
PROTOCOLS_IO = ("socket", "can", "serial", "aiomqtt", "paho", "sqlite3", "asyncio")
LEAF_MODULES: dict[str, str] = {
    # module: why every package may import it
    "protocols.toml_table": "the one TOML reader; hal's board profiles read their files with it",
    "protocols.mqtt_connection": "the one MQTT connection settings and reconnect backoff of "
    "boxes (edge) and the bridge (cloud_bridge): protocols is the one package both may import, "
    "and it does no I/O; a leaf so that it stays free of the rest of protocols",
    "hal.can.frames": "the CAN frame layout and flag constants; protocols decodes frame batches "
    "and candump logs with them",
    "hal.net.paho_loop": "the one asyncio driver of paho-mqtt's socket: the uplink (edge) and "
    "the bridge (cloud_bridge) connect with it; I/O, so it lives in hal, whose adapters do I/O",
    "hal.sqlite_wal": "the one background WAL checkpointer of SQLite files written from an event "
    "loop: the uplink's outbox (edge) and the bridge's SQLite store (cloud_bridge); I/O, so hal",
}
"""Leaf modules: every package may import them (by their full name) whatever ALLOWED says,
because each imports nothing of ours (``test_leaf_modules_import_nothing_of_ours``). The
layout is fixed, so a leaf lives inside an existing package."""


def _is_leaf(module: str) -> bool:
    return any(module == leaf or module.startswith(f"{leaf}.") for leaf in LEAF_MODULES)


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def _sources(root: Path, package: str) -> list[Path]:
    return sorted((root / package).rglob("*.py"))


def package_direction_violations(root: Path, package: str) -> list[str]:
    """Imports in ``root/package`` of our packages that ALLOWED does not give it."""
    violations = []
    for path in _sources(root, package):
        for line, module in _imports(path):
            top = module.split(".")[0]
            if _is_leaf(module):
                continue
            if top in ALLOWED and top != package and top not in ALLOWED[package]:
                violations.append(f"{path.relative_to(root)}:{line} imports {module}")
            if top == "tests":
                violations.append(f"{path.relative_to(root)}:{line} imports {module}")
    return violations


def edge_adapter_violations(root: Path) -> list[str]:
    """Imports in ``root/edge`` of hal adapters (edge may use ports only)."""
    return [
        f"{path.relative_to(root)}:{line} imports {module}"
        for path in _sources(root, "edge")
        for line, module in _imports(path)
        if module.startswith(EDGE_MAY_NOT_USE)
    ]


def protocols_io_violations(root: Path) -> list[str]:
    """Imports in ``root/protocols`` of I/O libraries."""
    return [
        f"{path.relative_to(root)}:{line} imports {module}"
        for path in _sources(root, "protocols")
        for line, module in _imports(path)
        if module.split(".")[0] in PROTOCOLS_IO
    ]


def vendor_import_violations(root: Path) -> list[str]:
    """Imports in our packages of python-can or pyserial outside hal's adapter folders (and
    the files of ``VENDOR_EXCEPTIONS``)."""
    violations = []
    for package in PACKAGES:
        for path in _sources(root, package):
            rel = path.relative_to(root).as_posix()
            if rel in VENDOR_EXCEPTIONS:
                continue
            for line, module in _imports(path):
                home = VENDOR_ONLY_IN_ADAPTERS.get(module.split(".")[0])
                if home is not None and not rel.startswith(home):
                    violations.append(f"{rel}:{line} imports {module}")
    return violations


@pytest.mark.parametrize("package", PACKAGES)
def test_package_imports_only_what_design_allows(package: str) -> None:
    violations = package_direction_violations(ROOT, package)
    assert violations == [], "dependency direction broken:\n" + "\n".join(violations)


def test_edge_uses_ports_not_adapters() -> None:
    assert edge_adapter_violations(ROOT) == []


def test_protocols_does_no_io() -> None:
    assert protocols_io_violations(ROOT) == []


def test_vendor_libraries_stay_in_their_adapters() -> None:
    assert all((ROOT / rel).is_file() for rel in VENDOR_EXCEPTIONS)  # no stale exception
    assert vendor_import_violations(ROOT) == []


def _plant(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    _plant(
        tmp_path,
        {
            "protocols/x.py": "import edge.uplink\nimport asyncio\n",
            "protocols/ok.py": "import math\n",
            "edge/y.py": "from hal.can.python_can_port import PythonCanPort\n",
            "edge/ok.py": "from hal.can.port import CanPort\nimport protocols.dbc\n",
            "hal/z.py": "import can\n",
            "hal/can/adapter.py": "import can\n",
            "hil/emulators/e.py": "def f():\n    import can.interfaces\n",
            "firmware_py/simulation/s.py": "from serial import Serial\n",
            **dict.fromkeys(VENDOR_EXCEPTIONS, "import can\n"),
            "cloud_bridge/w.py": "from tests.support import waiting\n",
        },
    )
    assert package_direction_violations(tmp_path, "protocols") == [
        "protocols/x.py:1 imports edge.uplink"
    ]
    assert package_direction_violations(tmp_path, "edge") == []
    assert package_direction_violations(tmp_path, "cloud_bridge") == [
        "cloud_bridge/w.py:1 imports tests.support"
    ]
    assert edge_adapter_violations(tmp_path) == ["edge/y.py:1 imports hal.can.python_can_port"]
    assert protocols_io_violations(tmp_path) == ["protocols/x.py:2 imports asyncio"]
    assert vendor_import_violations(tmp_path) == [
        "hal/z.py:1 imports can",
        "firmware_py/simulation/s.py:1 imports serial",
        "hil/emulators/e.py:2 imports can.interfaces",
    ]


def leaf_violations(root: Path) -> list[str]:
    """Imports of anything of ours (or of tests) by a leaf module."""
    ours = (*PACKAGES, "tests")
    violations = []
    for leaf in LEAF_MODULES:
        path = root / f"{leaf.replace('.', '/')}.py"
        for line, module in _imports(path) if path.is_file() else []:
            if module.split(".")[0] in ours:
                violations.append(f"{path.relative_to(root)}:{line} imports {module}")
    return violations


def test_leaf_modules_import_nothing_of_ours() -> None:
    assert all((ROOT / f"{leaf.replace('.', '/')}.py").is_file() for leaf in LEAF_MODULES)
    assert leaf_violations(ROOT) == []


def test_the_checker_allows_leaves_and_holds_them_to_importing_nothing(tmp_path: Path) -> None:
    leaf = next(iter(LEAF_MODULES))
    _plant(
        tmp_path,
        {
            f"{leaf.replace('.', '/')}.py": "import math\nfrom edge.geo import GeoPoint\n",
            "hal/uses_leaf.py": f"from {leaf} import X\nimport {leaf}\n",
            "hal/not_leaf.py": f"import {leaf}_extra\n",
        },
    )
    assert package_direction_violations(tmp_path, "hal") == [
        f"hal/not_leaf.py:1 imports {leaf}_extra"
    ]
    assert leaf_violations(tmp_path) == [f"{leaf.replace('.', '/')}.py:2 imports edge.geo"]
