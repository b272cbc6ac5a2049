"""The sensors' present state for the health report (and so the metrics): each CAN bus's state
and the GNSS receiver's last fix, as integer gauges beside the pipelines' counters."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from edge.pipelines.health import HealthReport
from hal.can.port import BusState, CanPort
from protocols.nmea import GnssFix, NmeaFixAssembler
from protocols.nmea.fix import FixMode, FixQuality

BUS_STATE_CODES: Mapping[BusState, int] = {
    BusState.UNKNOWN: 0,
    BusState.ACTIVE: 1,
    BusState.WARNING: 2,
    BusState.PASSIVE: 3,
    BusState.BUS_OFF: 4,
    BusState.DOWN: 5,
}
"""A bus state as the number health carries in ``can_state.<bus>`` (counters are integers)."""

FIX_STALE_S = 3.0
"""A fix older than this is no fix: the receiver went quiet (NMEA comes at 1 Hz or more)."""


class WatchedFixAssembler(NmeaFixAssembler):
    """An ``NmeaFixAssembler`` that remembers its last fix and when it came, for ``gauges``."""

    def __init__(
        self,
        *,
        allow_missing_checksum: bool = False,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(allow_missing_checksum=allow_missing_checksum)
        self._monotonic = monotonic
        self.last_fix: GnssFix | None = None
        self._last_fix_at = 0.0

    def feed(self, line: bytes) -> GnssFix | None:
        fix = super().feed(line)
        if fix is not None:
            self.last_fix = fix
            self._last_fix_at = self._monotonic()
        return fix

    def gauges(self) -> dict[str, int]:
        """``fix`` (1: a fresh fix with a position, else 0), the last fix's GGA ``quality`` and
        ``satellites`` used, and ``fix_age_ms``; only ``fix`` before the first fix."""
        fix = self.last_fix
        if fix is None:
            return {"fix": 0}
        age_s = max(0.0, self._monotonic() - self._last_fix_at)
        return {
            "fix": int(has_position(fix) and age_s <= FIX_STALE_S),
            "quality": int(fix.quality),
            "satellites": fix.satellites if fix.satellites is not None else 0,
            "fix_age_ms": round(age_s * 1000),
        }


def has_position(fix: GnssFix) -> bool:
    """Whether ``fix`` places the receiver (a position the receiver itself calls valid)."""
    return (
        fix.latitude_deg is not None
        and fix.longitude_deg is not None
        and fix.quality is not FixQuality.NONE
        and fix.mode is not FixMode.NO_FIX
    )


def bus_states(ports: Mapping[str, CanPort]) -> Callable[[], Mapping[str, int]]:
    """A counter source: each bus's state code (``BUS_STATE_CODES``) by bus name."""
    return lambda: {name: BUS_STATE_CODES[port.state] for name, port in ports.items()}


def report_sensors(
    health: HealthReport, ports: Mapping[str, CanPort], fixes: NmeaFixAssembler | None
) -> None:
    """Add the buses' states as ``can_state.<bus>`` and, when ``fixes`` remembers its fixes,
    the GNSS gauges as ``gnss.<key>`` to ``health``."""
    if ports:
        health.add("can_state", bus_states(ports))
    if isinstance(fixes, WatchedFixAssembler):
        health.add("gnss", fixes.gauges)
