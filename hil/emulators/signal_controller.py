"""A traffic signal controller: NTCIP 1202 SPaT broadcasts (TSCBM) of a fixed-time plan over UDP.

Like an Econolite or Siemens controller with its SPaT broadcast pointed at the roadside unit:
every ``1 / rate_hz`` s one 245-byte datagram with the state of each signal group of the plan
(each group is the phase of the same number) and its time to change, in tenths of a second.
"""

from __future__ import annotations

import math
import socket
import threading
from datetime import UTC, datetime
from typing import Any

from edge.roadside.signal_plan import FixedTimePlan
from hil.clock import ScenarioClock
from hil.emulators.base import HilEmulatorError, ThreadedEmulator
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.spat import PhaseTiming, StatusGroups, TscbmMessage, encode_tscbm, phase_bitmap

_MAX_DS = 0xFFFF  # the largest time to change a u16 holds, in tenths


def tscbm_from_plan(plan: FixedTimePlan, t_s: float, *, sequence: int, utc: datetime) -> bytes:
    """The datagram a controller running ``plan`` sends at plan time ``t_s`` (its cycle
    starts at ``plan.epoch_s``); ``utc`` is the message's time of day."""
    spat = plan.spat(t_s)
    phases: list[PhaseTiming] = []
    by_state: dict[int, list[int]] = {}
    for phase in spat.phases:
        tenths = min(_MAX_DS, round(phase.likely_end_s * 10))
        phases.append(PhaseTiming(phase.signal_group, tenths, tenths))
        by_state.setdefault(phase.state, []).append(phase.signal_group)
    status = StatusGroups(
        reds=phase_bitmap(by_state.get(pb.SIGNAL_STATE_RED, [])),
        yellows=phase_bitmap(by_state.get(pb.SIGNAL_STATE_AMBER, [])),
        greens=phase_bitmap(by_state.get(pb.SIGNAL_STATE_GREEN, [])),
    )
    message = TscbmMessage(
        tuple(phases),
        status,
        sequence=sequence % 256,
        hour=utc.hour,
        minute=utc.minute,
        second=utc.second,
        millisecond=utc.microsecond // 1000,
    )
    return encode_tscbm(message)


class SignalControllerEmulator(ThreadedEmulator):
    """Sends the SPaT broadcast of ``plan`` to ``target_host``:``target_port``.

    ``plan`` runs on scenario time: its ``epoch_s`` is the scenario second its cycle starts
    (0: at the start). Broadcasts sit on the scenario-time grid of the rate. Its signal groups
    must be 1-16 (TSCBM phase numbers). Stats: ``sent``, ``silenced`` (not sent while
    silenced), ``failed`` (the kernel refused the send).
    """

    def __init__(
        self,
        name: str,
        *,
        plan: FixedTimePlan,
        target_host: str = "127.0.0.1",
        target_port: int,
        rate_hz: float = 10.0,
    ) -> None:
        """Raises ``ValueError`` for a rate <= 0, a port outside 1-65535, or a signal group
        that is not a TSCBM phase number (1-16)."""
        super().__init__(name)
        if not rate_hz > 0:
            raise ValueError(f"emulator {name!r}: rate_hz must be positive, got {rate_hz}")
        if not 1 <= target_port <= 65535:
            raise ValueError(f"emulator {name!r}: target_port {target_port} not in 1-65535")
        bad = [g.signal_group for g in plan.groups if not 1 <= g.signal_group <= 16]
        if bad:
            raise ValueError(f"emulator {name!r}: signal groups {bad} are not phases 1-16")
        self.plan = plan
        self.target = (target_host, target_port)
        self._period_s = 1.0 / rate_hz
        self._lock = threading.Lock()  # the silence flag, shared with fault calls
        self._silenced = False
        # The socket and the resolved target address, from _open() to _close().
        self._link: tuple[socket.socket, tuple[Any, ...]] | None = None
        self._sequence = 0
        for key in ("sent", "silenced", "failed"):
            self._counts[key] = 0

    def silence(self, on: bool) -> None:
        """Stop (``True``) or resume (``False``) sending, as a controller whose link is cut."""
        with self._lock:
            self._silenced = on

    def _open(self) -> None:
        host, port = self.target
        try:
            family, kind, proto, _, address = socket.getaddrinfo(
                host, port, type=socket.SOCK_DGRAM
            )[0]
            sock = socket.socket(family, kind, proto)
        except OSError as err:
            raise HilEmulatorError(
                f"emulator {self.name!r}: cannot send to {host}:{port}: {err}"
            ) from err
        self._link = (sock, tuple(address))

    def _close(self) -> None:
        if self._link is not None:
            self._link[0].close()
            self._link = None

    def _run(self, clock: ScenarioClock) -> None:
        tick = math.floor(clock.now_s() / self._period_s) + 1
        while True:
            t_s = tick * self._period_s
            if self._wait_until(t_s):
                return
            self._emit(t_s, clock)
            tick += 1
            # After a stall, go on from now rather than sending a burst of old states.
            tick = max(tick, math.floor(clock.now_s() / self._period_s))

    def _emit(self, t_s: float, clock: ScenarioClock) -> None:
        with self._lock:
            if self._silenced:
                self._counts["silenced"] += 1
                return
        assert self._link is not None  # opened by start()
        sock, address = self._link
        utc = datetime.fromtimestamp(clock.t0_unix + t_s, UTC)
        data = tscbm_from_plan(self.plan, t_s, sequence=self._sequence, utc=utc)
        try:
            sock.sendto(data, address)
        except OSError:
            self._counts["failed"] += 1
            return
        self._sequence += 1
        self._counts["sent"] += 1
