"""SENSOR_FAULT events for the box's own sensors, once each way: a CAN bus going
error-passive or bus-off and back, a port lost and reopened, the GNSS fix lost and regained.

Health counters already count these; an operator watching the ``events`` stream needs the
moment each began and ended. The watch compares the ports' state and counters at each
``check`` (a bus that went bus-off and recovered between two checks still gives both events,
from its counters) and is told of every GNSS fix by ``on_fix``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from edge.fault_events import FaultEvents
from hal.can.port import BusState
from protocols.nmea.fix import FixQuality
from protocols.schema.v1 import roadgate_pb2 as pb

log = logging.getLogger(__name__)

Output = tuple[pb.TrafficEvent, int]
"""An event and its capture time (Unix ns)."""

_GOOD_STATES = (BusState.ACTIVE, BusState.WARNING)
# Counter names of the hal adapters (socketcan_raw, python-can, pyserial).
_LOST_KEYS = ("disconnects", "interface_down")
_BACK_KEYS = ("reopens", "interface_up")
_PASSIVE_KEYS = ("bus_error_passive",)
_BUS_OFF_KEYS = ("bus_off",)
DEFAULT_FIX_TIMEOUT_S = 3.0


class PositionFix(Protocol):
    """What ``has_position`` reads of a fix (``protocols.nmea.GnssFix`` has it)."""

    @property
    def latitude_deg(self) -> float | None: ...
    @property
    def longitude_deg(self) -> float | None: ...
    @property
    def quality(self) -> Any: ...


def has_position(fix: PositionFix) -> bool:
    """True for a fix with a position: not a receiver's no-fix epoch (GGA quality 0)."""
    return (
        fix.latitude_deg is not None
        and fix.longitude_deg is not None
        and fix.quality != FixQuality.NONE
    )


class WatchedPort(Protocol):
    """A hal port: a name and monotonic counters."""

    @property
    def name(self) -> str: ...

    @property
    def counters(self) -> Mapping[str, int]: ...


class WatchedBus(WatchedPort, Protocol):
    """A CAN port, which also knows its controller's state."""

    @property
    def state(self) -> BusState: ...


class _PortWatch:
    def __init__(self, kind: str, port: WatchedPort) -> None:
        self.label = f"{kind} port {port.name!r}"
        self.port = port
        self.seen = dict(port.counters)
        self.lost = False
        self.bus_fault: str | None = None  # "error-passive" or "bus-off" while reported

    def grew(self, now: Mapping[str, int], keys: Sequence[str]) -> bool:
        return any(now.get(key, 0) > self.seen.get(key, 0) for key in keys)


class SensorFaultWatch:
    """Turns the state of ``can_ports`` and ``serial_ports`` and the GNSS fixes into
    ``SENSOR_FAULT`` events: WARNING when a fault begins, INFO when it ends.

    ``fix_timeout_s``: with no valid fix for this long after one was had, the fix is lost.
    Counters: ``bus_faults``, ``bus_recoveries``, ``ports_lost``, ``ports_reopened``,
    ``fixes_lost``, ``fixes_regained``.
    """

    def __init__(
        self,
        device_id: str,
        *,
        can_ports: Sequence[WatchedBus] = (),
        serial_ports: Sequence[WatchedPort] = (),
        fix_timeout_s: float = DEFAULT_FIX_TIMEOUT_S,
        wall_clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        """Raises ``ValueError`` for a ``fix_timeout_s`` that is not positive."""
        if not fix_timeout_s > 0:
            raise ValueError(f"fix_timeout_s must be positive, got {fix_timeout_s}")
        self._device_id = device_id
        self._buses = [(_PortWatch("CAN", port), port) for port in can_ports]
        self._serial = [_PortWatch("serial", port) for port in serial_ports]
        self._fix_timeout_s = fix_timeout_s
        self._wall_clock_ns = wall_clock_ns
        self._faults = FaultEvents(device_id, "sensor", pb.EVENT_TYPE_SENSOR_FAULT)
        self._last_fix_s: float | None = None  # monotonic time of the last valid fix
        self._fix_lost = False
        self._counts = dict.fromkeys(
            (
                "bus_faults",
                "bus_recoveries",
                "ports_lost",
                "ports_reopened",
                "fixes_lost",
                "fixes_regained",
            ),
            0,
        )

    @property
    def counters(self) -> Mapping[str, int]:
        return dict(self._counts)

    def on_fix(self, valid: bool, now_s: float) -> list[Output]:
        """A fix arrived at monotonic ``now_s``; ``valid``: it has a position (a receiver
        reports epochs without one as no-fix). Returns the events it causes."""
        if not valid:
            if self._last_fix_s is None or self._fix_lost:
                return []
            return self._lose_fix("the receiver reports no fix")
        self._last_fix_s = now_s
        if not self._fix_lost:
            return []
        self._fix_lost = False
        return [self._event("fixes_regained", pb.SEVERITY_INFO, "GNSS fix regained")]

    def check(self, now_s: float) -> list[Output]:
        """Call periodically (monotonic ``now_s``): the events since the last check."""
        outputs: list[Output] = []
        for watch, bus in self._buses:
            outputs.extend(self._check_port(watch))
            outputs.extend(self._check_bus(watch, bus.state))
        for watch in self._serial:
            outputs.extend(self._check_port(watch))
        for watch in (*(w for w, _ in self._buses), *self._serial):
            watch.seen = dict(watch.port.counters)
        if (
            self._last_fix_s is not None
            and not self._fix_lost
            and now_s - self._last_fix_s >= self._fix_timeout_s
        ):
            outputs.extend(self._lose_fix(f"no GNSS fix for {now_s - self._last_fix_s:.1f} s"))
        return outputs

    def _lose_fix(self, why: str) -> list[Output]:
        self._fix_lost = True
        return [self._event("fixes_lost", pb.SEVERITY_WARNING, f"GNSS fix lost: {why}")]

    def _check_port(self, watch: _PortWatch) -> list[Output]:
        now = watch.port.counters
        outputs: list[Output] = []
        lost, back = watch.grew(now, _LOST_KEYS), watch.grew(now, _BACK_KEYS)
        if (lost or back) and not watch.lost:
            watch.lost = True
            outputs.append(self._event("ports_lost", pb.SEVERITY_WARNING, f"{watch.label} lost"))
        if back and watch.lost:
            watch.lost = False
            outputs.append(
                self._event("ports_reopened", pb.SEVERITY_INFO, f"{watch.label} reopened")
            )
        return outputs

    def _check_bus(self, watch: _PortWatch, state: BusState) -> list[Output]:
        now = watch.port.counters
        outputs: list[Output] = []
        went_off = state is BusState.BUS_OFF or watch.grew(now, _BUS_OFF_KEYS)
        went_passive = state is BusState.PASSIVE or watch.grew(now, _PASSIVE_KEYS)
        fault = "bus-off" if went_off else "error-passive" if went_passive else None
        if fault is not None and watch.bus_fault != fault and watch.bus_fault != "bus-off":
            watch.bus_fault = fault
            text = f"{watch.label} is {fault}: check the wiring, termination and bitrate"
            outputs.append(self._event("bus_faults", pb.SEVERITY_WARNING, text))
        if watch.bus_fault is not None and state in _GOOD_STATES:
            watch.bus_fault = None
            text = f"{watch.label} is {state.value} again"
            outputs.append(self._event("bus_recoveries", pb.SEVERITY_INFO, text))
        return outputs

    def _event(self, counter: str, severity: pb.Severity.ValueType, text: str) -> Output:
        self._counts[counter] += 1
        level = logging.WARNING if severity == pb.SEVERITY_WARNING else logging.INFO
        log.log(level, "%s: %s", self._device_id, text)
        return self._faults.make(severity, text), self._wall_clock_ns()
