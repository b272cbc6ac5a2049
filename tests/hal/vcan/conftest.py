"""SocketCAN tests on real vcan interfaces.

They need a kernel with CAN and ``vcan0``, so the host suite runs them through
``tests/hal/test_socketcan_in_uml.py`` (inside a user-mode-linux guest where this kernel has no
CAN). A run that merely passes by (``pytest``, ``pytest tests``) does not collect them; asking
for them (``pytest tests/hal/vcan``, or ``ROADGATE_IN_VCAN=1``) does, and without SocketCAN
every test then fails saying why.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hil.uml import kernel_has_can

IN_VCAN_ENV = "ROADGATE_IN_VCAN"
VCAN = "vcan0"
HERE = Path(__file__).resolve().parent


def _asked_for(config: pytest.Config) -> bool:
    for arg in config.args:
        path = (config.invocation_params.dir / arg.partition("::")[0]).resolve()
        if path == HERE or HERE in path.parents:
            return True
    return False


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    # Consulted for this directory's files only: a directory cannot ignore itself.
    if collection_path.parent != HERE or not collection_path.name.startswith("test_"):
        return None
    if os.environ.get(IN_VCAN_ENV) == "1" or _asked_for(config):
        return None
    return True


@pytest.fixture(scope="session", autouse=True)
def vcan0() -> str:
    """The vcan interface these tests share; fails every test where there is none."""
    if not kernel_has_can():
        pytest.fail(
            "this kernel has no SocketCAN (socket(AF_CAN) failed): run these tests through "
            "tests/hal/test_socketcan_in_uml.py, which boots a user-mode-linux guest that has it"
        )
    if not Path("/sys/class/net", VCAN).exists():
        pytest.fail(
            f"no {VCAN} interface: create it with 'ip link add dev {VCAN} type vcan && "
            f"ip link set dev {VCAN} mtu 72 up' (root), or run these tests through "
            "tests/hal/test_socketcan_in_uml.py"
        )
    return VCAN
