"""Restarting the box's own process: stop in order (SIGTERM), then exec the same command.

``request`` is what a command calls; ``roadgate run`` calls ``exec_if_requested`` once its
box has stopped, so the outbox is committed and the retained ``OFFLINE`` status sent first.
The process keeps its id: systemd (or whatever started it) sees one long-running service.
"""

from __future__ import annotations

import logging
import os
import signal
import sys

log = logging.getLogger("firmware_py.box")


class ProcessRestart:
    def __init__(self) -> None:
        self.requested = False

    def request(self) -> None:
        """Stop the box as SIGTERM does (``lifecycle.stop_event``), to be started again."""
        self.requested = True
        signal.raise_signal(signal.SIGTERM)

    def exec_if_requested(self) -> None:
        """Replace this process with the command that started it, if a restart was asked."""
        if not self.requested:
            return
        argv = [sys.executable, *sys.orig_argv[1:]]
        log.info("restarting: %s", " ".join(argv))
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, argv)


PROCESS_RESTART = ProcessRestart()
"""The one restart of this process."""
