"""What every emulator offers the runner, and the thread plumbing they share."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections import Counter
from typing import Protocol

from hil.clock import ScenarioClock
from hil.errors import HilError

JOIN_TIMEOUT_S = 5.0


class HilEmulatorError(HilError):
    """An emulator could not start, or failed while running (the cause is chained)."""


class Emulator(Protocol):
    """Plays one piece of hardware on its own daemon thread."""

    name: str

    def start(self, clock: ScenarioClock) -> None:
        """Acquire the emulated device and start the thread; returns at once."""
        ...

    def stop(self) -> None:
        """Stop, join and release; idempotent. Raises ``HilEmulatorError`` if the thread
        failed."""
        ...

    @property
    def stats(self) -> dict[str, int]:
        """Counters for the report."""
        ...


class CanEmulator(Emulator, Protocol):
    """An emulator sending on one CAN channel."""

    channel: str

    @property
    def delivered(self) -> Counter[int]:
        """Arbitration id -> data frames sent successfully while the gate was open."""
        ...


class ThreadedEmulator(ABC):
    """Runs ``_run`` on a daemon thread; keeps its exception for ``stop`` to raise."""

    def __init__(self, name: str) -> None:
        if not name:
            raise ValueError("an emulator needs a name")
        self.name = name
        self._counts: Counter[str] = Counter()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._clock: ScenarioClock | None = None
        self._error: BaseException | None = None
        self._opened = False
        self._closed = False

    @property
    def stats(self) -> dict[str, int]:
        return dict(self._counts)

    @property
    def error(self) -> BaseException | None:
        """What stopped the thread, if anything (``stop`` raises it)."""
        return self._error

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def open(self) -> None:
        """Acquire the device now (e.g. a serial port that must exist before the daemon
        starts); ``start`` does it otherwise. Harmless when already open."""
        if self._closed:
            raise HilEmulatorError(f"emulator {self.name!r} was stopped")
        if not self._opened:
            self._open()
            self._opened = True

    def start(self, clock: ScenarioClock) -> None:
        """Open the device here, so that a bad setup fails in the caller, then start."""
        if self._thread is not None or self._closed:
            raise HilEmulatorError(f"emulator {self.name!r} was already started")
        self.open()
        self._clock = clock
        self._thread = threading.Thread(target=self._main, name=f"hil-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        thread = self._thread
        if thread is not None:
            thread.join(JOIN_TIMEOUT_S)
            if thread.is_alive():
                raise HilEmulatorError(
                    f"emulator {self.name!r} did not stop within {JOIN_TIMEOUT_S} s"
                )
        if not self._closed:
            self._closed = True
            if self._opened:
                self._close()
        error, self._error = self._error, None  # raised once: stop stays safe in cleanups
        if error is not None:
            raise HilEmulatorError(f"emulator {self.name!r} failed: {error!r}") from error

    def _main(self) -> None:
        assert self._clock is not None  # set by start()
        try:
            self._run(self._clock)
        except BaseException as err:  # kept for stop(): a thread's exception would vanish
            self._error = err

    def _wait_until(self, t_s: float) -> bool:
        """Sleep until scenario time ``t_s``; True if ``stop`` was called meanwhile."""
        assert self._clock is not None
        return self._stopping.wait(max(0.0, t_s - self._clock.now_s()))

    @abstractmethod
    def _open(self) -> None:
        """Acquire the device (bus, pty); raise ``HilEmulatorError`` when it cannot."""

    @abstractmethod
    def _run(self, clock: ScenarioClock) -> None:
        """The thread's work, until ``self._stopping`` is set."""

    @abstractmethod
    def _close(self) -> None:
        """Release the device; called once, after the thread ended, if it was opened."""
