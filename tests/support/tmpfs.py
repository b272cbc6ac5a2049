"""A small tmpfs mounted for one test: a disk that fills up in seconds (needs root)."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

NEEDS_ROOT = "this test needs root to mount a tmpfs (mount -t tmpfs): run it as root, as CI does"


@contextmanager
def tiny_tmpfs(mount_point: Path, size_kib: int, *, options: str = "") -> Iterator[Path]:
    """Mount a tmpfs of ``size_kib`` KiB on ``mount_point`` (created), unmount it after.

    Raises ``AssertionError`` (a failure, never a skip) when it cannot be mounted.
    """
    mount_point.mkdir(parents=True, exist_ok=True)
    opts = f"size={size_kib}k" + (f",{options}" if options else "")
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"{NEEDS_ROOT}; mount said: {result.stderr.strip()}")
    try:
        yield mount_point
    finally:
        # Lazily: a process the test failed to stop must not leave the mount behind.
        subprocess.run(["umount", "-l", str(mount_point)], check=True)


def free_bytes(path: Path) -> int:
    """Bytes an unprivileged writer may still use on ``path``'s filesystem."""
    fs = os.statvfs(path)
    return fs.f_bavail * fs.f_frsize


def fill(path: Path) -> int:
    """Write zeros to ``path`` until the filesystem is full; returns how many bytes it took."""
    written = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        while True:
            written += os.write(fd, bytes(4096))
    except OSError as err:
        if err.errno != errno.ENOSPC:
            raise
        return written
    finally:
        os.close(fd)
