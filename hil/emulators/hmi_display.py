"""The box's HMI (a dashboard display): it listens on a UDP port for the warnings' JSON lines
(``edge.apps.day1.hmi``) and records each with its scenario time of arrival."""

from __future__ import annotations

import json
import threading
from typing import Any

from hal.errors import HalError
from hal.net.udp_port import UdpDatagramPort
from hil.clock import ScenarioClock
from hil.emulators.base import HilEmulatorError, ThreadedEmulator

HMI_CHANGES = ("start", "update", "end")
_POLL_S = 0.05

HmiLine = tuple[float, dict[str, Any]]
"""(scenario time of arrival, the decoded JSON object) of one warning change."""


class HmiLineError(ValueError):
    """A datagram that is not one HMI JSON line (the reason says why)."""


def parse_hmi_line(data: bytes) -> dict[str, Any]:
    """The JSON object of one HMI datagram: UTF-8, one object with ``"v": 1``, a ``change``
    of ``HMI_CHANGES`` and a string ``app``. Raises ``HmiLineError`` otherwise."""
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise HmiLineError(f"not a JSON line: {err}") from err
    if not isinstance(value, dict):
        raise HmiLineError(f"not a JSON object: {type(value).__name__}")
    if value.get("v") != 1:
        raise HmiLineError(f"format version {value.get('v')!r}, expected 1")
    if value.get("change") not in HMI_CHANGES:
        raise HmiLineError(f"change {value.get('change')!r}, expected one of {HMI_CHANGES}")
    if not isinstance(value.get("app"), str):
        raise HmiLineError(f"app {value.get('app')!r} is not a string")
    return value


class HmiDisplayEmulator(ThreadedEmulator):
    """Receives on ``host``:``port`` (the box's ``[hmi] udp_port``) and records every warning
    change with its kernel receive time. Stats: ``received``, ``received.<change>``,
    ``rejected`` (a datagram that is not an HMI line)."""

    def __init__(self, name: str, *, port: int, host: str = "127.0.0.1") -> None:
        """Raises ``ValueError`` for a port outside 1-65535."""
        super().__init__(name)
        if not 1 <= port <= 65535:
            raise ValueError(f"emulator {name!r}: port {port} not in 1-65535")
        self.host = host
        self.port = port
        self._port: UdpDatagramPort | None = None
        self._lock = threading.Lock()  # _lines, read by the runner while the thread runs
        self._lines: list[HmiLine] = []
        for key in ("received", "rejected"):
            self._counts[key] = 0

    @property
    def lines(self) -> list[HmiLine]:
        """Every warning change received so far, in arrival order."""
        with self._lock:
            return list(self._lines)

    def _open(self) -> None:
        port = UdpDatagramPort(self.name, self.host, self.port)
        try:
            port.open()
        except HalError as err:
            raise HilEmulatorError(f"emulator {self.name!r}: {err}") from err
        self._port = port

    def _close(self) -> None:
        if self._port is not None:
            self._port.close()
            self._port = None

    def _run(self, clock: ScenarioClock) -> None:
        assert self._port is not None  # opened by start()
        while not self._stopping.is_set():
            for data, stamp in self._port.receive(timeout=_POLL_S, max_datagrams=256):
                self.record(data, stamp - clock.t0_unix)

    def record(self, data: bytes, t_s: float) -> None:
        """Keep one datagram that arrived at scenario time ``t_s``, or count it rejected."""
        try:
            line = parse_hmi_line(data)
        except HmiLineError:
            self._counts["rejected"] += 1
            return
        self._counts["received"] += 1
        self._counts[f"received.{line['change']}"] += 1
        with self._lock:
            self._lines.append((t_s, line))
