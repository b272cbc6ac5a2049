"""``roadgate hil up`` / ``down``: the vcan interfaces a set of scenarios needs, on this kernel."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

from hil.errors import HilError
from hil.scenario_engine import Scenario
from hil.uml import INSTALL_HINT, kernel_has_can

NO_CAN = (
    "this kernel has no SocketCAN (socket(AF_CAN) fails), so it cannot have vcan interfaces; "
    "`roadgate hil run` runs the scenarios inside user-mode-linux instead "
    f"({INSTALL_HINT}). On a Linux board: `modprobe vcan` (package linux-modules-extra on Ubuntu)"
)


def interfaces_of(scenarios: Iterable[Scenario]) -> list[str]:
    """Every vcan interface the scenarios use, in first-use order."""
    names: dict[str, None] = {}
    for scenario in scenarios:
        names.update(dict.fromkeys(scenario.vcan))
    return list(names)


def _ip(*args: str) -> None:
    try:
        result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise HilError("`ip` is missing: apt-get install iproute2") from None
    if result.returncode != 0:
        raise HilError(f"ip {' '.join(args)} failed: {result.stderr.strip()} (needs root)")


def up(names: Sequence[str]) -> list[str]:
    """Create (CAN FD capable) and bring up the missing interfaces; returns those created."""
    if not kernel_has_can():
        raise HilError(NO_CAN)
    created = []
    for name in names:
        if Path("/sys/class/net", name).exists():
            continue
        _ip("link", "add", "dev", name, "type", "vcan")
        # mtu 72: CAN FD capable; classic frames pass as well.
        _ip("link", "set", "dev", name, "mtu", "72", "txqueuelen", "10000", "up")
        created.append(name)
    return created


def down(names: Sequence[str]) -> list[str]:
    """Delete the interfaces that exist; returns those deleted."""
    deleted = []
    for name in names:
        if Path("/sys/class/net", name).exists():
            _ip("link", "del", "dev", name)
            deleted.append(name)
    return deleted
