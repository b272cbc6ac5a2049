"""The box's instance lock (``firmware_py.box.instance_lock``): free, so a box can start."""

from __future__ import annotations

from pathlib import Path

from firmware_py.box.instance_lock import lock_holder, lock_path
from firmware_py.doctor.findings import Finding, failed, passed
from firmware_py.errors import FirmwareError


def check_lock(outbox: Path) -> Finding:
    """Whether another process holds the lock of the box whose outbox is ``outbox``."""
    path = lock_path(outbox)
    if path is None:
        return passed("lock", "in-memory outbox: no state to lock")
    try:
        pid = lock_holder(path)
    except FirmwareError as err:
        return failed("lock", str(err), f"make {path.parent} readable by this user")
    if pid is None:
        return passed("lock", f"{path} is free")
    holder = "a process that has not written its pid" if pid == -1 else f"pid {pid}"
    return failed(
        "lock",
        f"{path} is held by {holder}: a box already runs with this state",
        "stop it (`sudo systemctl stop roadgate`, or kill that pid) before starting another, "
        "or give this box its own [outbox] path",
    )
