"""Supervising a command's process tree: its output drained on a thread and copied as it
arrives, a deadline, and, whatever happens (timeout, SIGTERM, an exception), every process it
started killed. Used for linux.uml (whose helpers may outlive it) and for native runs alike.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from types import FrameType
from typing import BinaryIO

from hil.uml.errors import VcanTimeoutError


class OutputPump:
    """Drains a pipe on a thread (so the child never blocks on a full pipe), tees to ``copy``."""

    def __init__(self, fd: int, copy: BinaryIO | None) -> None:
        self._fd = fd
        self._copy = copy
        self._chunks: list[bytes] = []
        self._thread = threading.Thread(target=self._run, name="uml-output", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while chunk := os.read(self._fd, 65536):
                self._chunks.append(chunk)
                if self._copy is not None:
                    self._copy.write(chunk)
                    self._copy.flush()
        except OSError:  # closed by finish() after a leftover process kept the pipe open
            pass

    def finish(self) -> None:
        """Wait briefly for EOF, then stop reading; harmless to call twice."""
        self._thread.join(timeout=2.0)
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self._thread.join(timeout=1.0)

    def text(self) -> str:
        return b"".join(self._chunks).decode(errors="replace")


def run_process(
    make_command: Callable[[int], list[str]],
    *,
    cwd: Path | None,
    env: Mapping[str, str] | None,
    uml_log: BinaryIO | None,
    output: BinaryIO | None,
    deadline: float,
    what: str,
) -> tuple[int, str]:
    """Run ``make_command(fd)`` in a new session until it exits; returns (status, output).

    The child writes its output to ``fd``: its stdout and stderr, or, when ``uml_log`` is given
    (which then takes stdout and stderr), a passed descriptor that the guest console uses.
    Whatever happens (timeout, SIGTERM, an exception), the whole process tree is killed.
    """
    read_fd, write_fd = os.pipe()
    process: subprocess.Popen[bytes] | None = None
    pump: OutputPump | None = None
    status: int | None = None
    # Noted, not raised at once: raised inside Popen it would orphan the child.
    with sigterm_noted() as terminated:
        try:
            try:
                process = subprocess.Popen(
                    make_command(write_fd),
                    cwd=cwd,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=write_fd if uml_log is None else uml_log,
                    stderr=subprocess.STDOUT,
                    pass_fds=() if uml_log is None else (write_fd,),
                    start_new_session=True,  # one process group to kill, whatever it forks
                )
            finally:
                os.close(write_fd)  # the pump sees EOF once every writer is gone
            pump = OutputPump(read_fd, output)
            while not terminated and (left := deadline - time.monotonic()) > 0:
                with suppress(subprocess.TimeoutExpired):
                    status = process.wait(timeout=min(left, 0.1))
                    break
        finally:
            # Also after a normal exit: linux.uml's helpers may outlive it; none may outlive us.
            if process is not None:
                kill_tree(process)
            if pump is not None:
                pump.finish()
            else:
                os.close(read_fd)
    assert pump is not None  # set, or an exception left above
    if terminated:
        raise SystemExit(128 + signal.SIGTERM)
    if status is None:
        raise VcanTimeoutError(
            f"{what} did not finish in time; killed it and every process it started. "
            f"Output so far:\n{pump.text()[-4000:]}"
        )
    return status, pump.text()


def kill_tree(process: subprocess.Popen[bytes], grace_s: float = 3.0) -> None:
    """Stop ``process`` (SIGTERM, then SIGKILL after ``grace_s``) and every process it started,
    its group included; returns once it is reaped."""
    tree: dict[int, str] = {}
    if process.returncode is None:
        # Listed while the root is alive (orphans are reparented away), before SIGTERM.
        tree = descendants(process.pid)
        # linux.uml halts the guest and reaps its helpers on SIGTERM; SIGKILL would orphan them.
        with suppress(ProcessLookupError):
            process.terminate()
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace_s)
        if process.poll() is None:
            tree |= descendants(process.pid)
            with suppress(ProcessLookupError):
                process.kill()
    for pid, started in tree.items():
        # A helper may have left the process group; the start time proves the pid is not reused.
        if _start_time(pid) == started:
            with suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    # The group outlives its leader while any member lives, so its id cannot have been reused.
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _stat_fields(pid: int | str) -> list[str] | None:
    """Fields 3.. of /proc/PID/stat (after the command name, which may contain anything)."""
    try:
        return Path("/proc", str(pid), "stat").read_text().rpartition(")")[2].split()
    except OSError:  # gone
        return None


def _start_time(pid: int) -> str | None:
    fields = _stat_fields(pid)
    return None if fields is None else fields[19]  # field 22: start time in clock ticks


def descendants(root: int) -> dict[int, str]:
    """Every live descendant of ``root`` with its start time, from /proc."""
    children: dict[int, list[tuple[int, str]]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat_fields(entry.name)) is not None:
            children.setdefault(int(fields[1]), []).append((int(entry.name), fields[19]))
    found: dict[int, str] = {}
    pending = [root]
    while pending:
        for child, started in children.get(pending.pop(), []):
            found[child] = started
            pending.append(child)
    return found


@contextmanager
def sigterm_noted() -> Iterator[list[int]]:
    """Meanwhile, SIGTERM is appended to the yielded list instead of ending the process.

    Only in the main thread (where Python runs signal handlers) and only when nobody else
    handles SIGTERM; otherwise the list stays empty.
    """
    received: list[int] = []
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield received
        return

    def note(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    signal.signal(signal.SIGTERM, note)
    try:
        yield received
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
