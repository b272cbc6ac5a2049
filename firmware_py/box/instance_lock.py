"""One box per state: an exclusive lock beside the outbox, held while the box runs.

Two ``roadgate run`` with one config (a unit file and a shell, say) would share the SQLite
outbox and fight over the MQTT client id. So a box first takes ``fcntl.flock`` on
``<outbox file>.lock`` and writes its pid into it; a second box is refused at once with
``StateLockedError`` naming the file and that pid. The kernel drops the lock when the holder's
last descriptor closes, however the process ends (SIGKILL, a crash): a lock file left behind
never blocks the next start. An in-memory outbox has no state to share and takes no lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from types import TracebackType

from firmware_py.errors import FirmwareError

IN_MEMORY = ":memory:"
LOCK_SUFFIX = ".lock"
MAX_LOCK_FILE_BYTES = 64
"""A pid takes a few bytes; more is not ours and is not read."""


class StateLockedError(FirmwareError):
    """Another process holds the lock: ``path`` and ``pid`` (None when it wrote none yet)."""

    def __init__(self, path: Path, pid: int | None) -> None:
        holder = f"pid {pid}" if pid is not None else "a process that has not written its pid"
        super().__init__(
            f"another box already runs with this state: {path} is locked by {holder}; "
            f"stop it first, or give this box its own [outbox] path"
        )
        self.path = path
        self.pid = pid


def lock_path(outbox_path: Path) -> Path | None:
    """The lock file of the box whose outbox is ``outbox_path``; None for an in-memory one."""
    if str(outbox_path) == IN_MEMORY:
        return None
    # Resolved: two configs naming one outbox by different paths still meet on one lock.
    resolved = outbox_path.expanduser().resolve()
    return resolved.with_name(resolved.name + LOCK_SUFFIX)


class InstanceLock:
    """The exclusive lock on ``path``, held from ``acquire`` until ``release`` or exit."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock without waiting and write our pid into the file.

        Raises ``StateLockedError`` when another process holds it, ``FirmwareError`` when the
        directory or the file cannot be made.
        """
        if self._fd is not None:
            raise RuntimeError(f"{self.path} is already held by this lock")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Not truncated before the lock is ours: the holder's pid must stay readable.
            # (os.open's descriptors are not inherited: a child never keeps the lock alive.)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise FirmwareError(f"cannot open the lock file {self.path}: {err}") from err
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            raise StateLockedError(self.path, pid) from None
        except OSError as err:
            os.close(fd)
            raise FirmwareError(f"cannot lock {self.path}: {err}") from err
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as err:
            os.close(fd)  # closing releases the lock
            raise FirmwareError(f"cannot write the lock file {self.path}: {err}") from err
        self._fd = fd

    def release(self) -> None:
        """Let go of the lock (the file stays: removing it would race a starting box)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def lock_box_state(outbox_path: Path) -> contextlib.AbstractContextManager[object]:
    """The lock of the box whose outbox is ``outbox_path``, to ``enter`` before anything else
    (nothing for an in-memory outbox). Entering raises what ``InstanceLock.acquire`` raises."""
    path = lock_path(outbox_path)
    return contextlib.nullcontext() if path is None else InstanceLock(path)


def lock_holder(path: Path) -> int | None:
    """The pid holding the lock on ``path`` (-1 when it wrote none yet), or None when free.

    A check for ``roadgate doctor``: it takes the lock for an instant when it is free, so a box
    starting in that very instant would be refused and should be started again.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    except OSError as err:
        raise FirmwareError(f"cannot open the lock file {path}: {err}") from err
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = _read_pid(fd)
        return -1 if pid is None else pid
    finally:
        os.close(fd)
    return None


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, MAX_LOCK_FILE_BYTES, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
