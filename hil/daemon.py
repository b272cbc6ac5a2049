"""The device under test: ``roadgate run --config ...`` as a separate process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


class DaemonProcess:
    """Starts, kills and restarts the real daemon; its output goes to ``log_path``."""

    def __init__(self, config: Path, log_path: Path) -> None:
        self.config = config
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self._process is None else self._process.poll()

    def start(self) -> None:
        # ``python -m firmware_py`` is the ``roadgate`` console script, found without PATH.
        argv = [sys.executable, "-m", "firmware_py", "run", "--config", str(self.config)]
        with self.log_path.open("ab") as log:
            log.write(f"--- start {self.starts + 1}: {' '.join(argv)}\n".encode())
            log.flush()
            self._process = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        self.starts += 1

    def kill(self) -> None:
        """SIGKILL: no goodbye, no flush; what the outbox held on disk must survive."""
        if self._process is not None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait()

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM and wait (SIGKILL after ``timeout``); returns the exit status."""
        process = self._process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])
