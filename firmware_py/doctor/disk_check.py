"""The outbox's filesystem: its directory writable, room for the outbox's size limit beyond
the free space it must leave (``[outbox]``)."""

from __future__ import annotations

import os
from pathlib import Path

from edge.uplink.outbox import OutboxLimits
from firmware_py.doctor.findings import Finding, failed, passed

_MIB = 1024 * 1024


def check_disk(outbox: Path, limits: OutboxLimits) -> Finding:
    """Room on ``outbox``'s filesystem (its nearest existing directory if not made yet)."""
    directory = outbox.parent
    existing = next((d for d in (directory, *directory.parents) if d.exists()), Path("/"))
    if not os.access(existing, os.W_OK | os.X_OK):
        return failed(
            "disk",
            f"{existing} is not writable by this user (outbox {outbox})",
            "run the box as its service user with StateDirectory=roadgate, or correct "
            "[outbox] path",
        )
    try:
        fs = os.statvfs(existing)
    except OSError as err:
        return failed("disk", f"cannot read {existing}'s filesystem: {err}", "check the mount")
    free = fs.f_bavail * fs.f_frsize
    needed = existing_outbox_bytes(outbox)
    wanted = max(limits.max_bytes - needed, 0) + limits.min_free_bytes
    if free < wanted:
        return failed(
            "disk",
            f"{free / _MIB:.0f} MiB free on {existing}'s filesystem; the outbox may grow to "
            f"{limits.max_bytes / _MIB:.0f} MiB and leaves {limits.min_free_bytes / _MIB:.0f} "
            "MiB free",
            "free space there (journal: `journalctl --vacuum-size=100M`) or lower [outbox] "
            "max_bytes",
        )
    return passed(
        "disk",
        f"{free / _MIB:.0f} MiB free for the outbox at {outbox} "
        f"(needs up to {wanted / _MIB:.0f} MiB)",
    )


def existing_outbox_bytes(outbox: Path) -> int:
    """What the outbox already holds on disk (database, WAL), 0 when it is not there yet."""
    total = 0
    for suffix in ("", "-wal", "-shm"):
        try:
            total += Path(f"{outbox}{suffix}").stat().st_size
        except OSError:
            continue
    return total
