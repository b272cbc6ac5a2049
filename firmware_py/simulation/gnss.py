"""A simulated GNSS receiver: NMEA GGA + RMC on a pseudo-terminal, like a UART receiver.

The gateway opens the pseudo-terminal's device path with pyserial, exactly as it opens
``/dev/ttyACM0`` on a board, so the whole serial path (framing, parsing, reopening) is real.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import math
import os
import time
import tty
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Self

from edge.geo import GeoPoint
from firmware_py.simulation.world import Actor
from protocols.nmea import FixQuality, format_gga, format_rmc

Track = Callable[[float], tuple[GeoPoint, float, float]]
"""Unix time -> (position, speed m/s, course degrees)."""

RATE_HZ = 5.0  # u-blox receivers in vehicles are commonly set to 5-10 Hz


def riding(actor: Actor) -> Track:
    """The track of a receiver riding on ``actor`` (world time = Unix time)."""

    def track(now: float) -> tuple[GeoPoint, float, float]:
        state = actor.state_at(now)
        course = math.degrees(state.heading_rad) % 360
        return actor.position_at(now), state.speed_mps, course

    return track


def fixed_point(point: GeoPoint) -> Track:
    """The track of a receiver on a pole."""
    return lambda _now: (point, 0.0, 0.0)


def epoch_sentences(
    utc: datetime,
    point: GeoPoint,
    speed_mps: float,
    course_deg: float,
    quality: FixQuality,
    *,
    hdop: float,
    satellites: int = 18,
) -> bytes:
    """One receiver epoch: GGA and RMC for ``point`` at ``utc``, CR/LF terminated."""
    gga = format_gga(
        utc,
        point.latitude_deg,
        point.longitude_deg,
        altitude_msl_m=point.altitude_m,
        quality=quality,
        satellites=satellites,
        hdop=hdop,
    )
    rmc = format_rmc(
        utc,
        point.latitude_deg,
        point.longitude_deg,
        speed_mps=speed_mps,
        course_deg=course_deg,
        quality=quality,
    )
    return gga + b"\r\n" + rmc + b"\r\n"


class GnssSimulator:
    """Owns a pseudo-terminal pair; ``run()`` writes NMEA to it at ``rate_hz``."""

    def __init__(self, track: Track, rate_hz: float = RATE_HZ) -> None:
        self._track = track
        self._period = 1 / rate_hz
        self._master = -1
        self._slave = -1
        self.device_path = ""
        self.sentences_sent = 0
        self.overruns = 0

    def __enter__(self) -> Self:
        self._master, self._slave = os.openpty()
        # Raw mode: no echo, no CR/LF translation, as on a real UART.
        tty.setraw(self._slave)
        flags = fcntl.fcntl(self._master, fcntl.F_GETFL)
        fcntl.fcntl(self._master, fcntl.F_SETFL, flags | os.O_NONBLOCK)
        self.device_path = os.ttyname(self._slave)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close both ends; harmless when already closed."""
        for fd in (self._master, self._slave):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = -1

    def sentences(self, now: float) -> bytes:
        """The GGA and RMC of the epoch at Unix time ``now``, CR/LF terminated."""
        point, speed, course = self._track(now)
        utc = datetime.fromtimestamp(now, tz=UTC)
        return epoch_sentences(utc, point, speed, course, FixQuality.RTK_FIXED, hdop=0.6)

    async def run(self) -> None:
        """Write an epoch every period until cancelled."""
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        while True:
            now = round(time.time(), 2)  # NMEA carries time to 1/100 s
            try:
                os.write(self._master, self.sentences(now))
                self.sentences_sent += 2
            except BlockingIOError:
                self.overruns += 1  # nobody reads: a UART would overrun too
            next_tick += self._period
            await asyncio.sleep(max(0.0, next_tick - loop.time()))
