"""A local east-north-up frame that follows the car: anchored at its first fix and moved
along when the car is ``REANCHOR_M`` from the origin, before the flat frame's curvature and
scale errors matter (at 5 km they are about 2 m of height and a millimetre of distance)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from edge.geodesy import LocalFrame

REANCHOR_M = 5_000.0


@dataclass(frozen=True)
class FrameMove:
    """How positions in the old frame map to the new one: subtract ``origin_east_m`` and
    ``origin_north_m`` (the new origin, in the old frame), then rotate so that headings grow by
    ``heading_shift_rad``."""

    heading_shift_rad: float
    origin_east_m: float
    origin_north_m: float


class MovingFrame:
    """Converts fixes to local metres and back; ``frame`` is None before the first fix."""

    def __init__(self, reanchor_m: float = REANCHOR_M) -> None:
        self._reanchor_m = reanchor_m
        self.frame: LocalFrame | None = None
        self.up_m = 0.0  # the last fix's height in the frame: positions are given back at it

    def local(
        self, latitude_deg: float, longitude_deg: float, altitude_m: float
    ) -> tuple[float, float, FrameMove | None]:
        """The point's east and north in the frame, and the move when this point moved the
        frame (the caller moves what it keeps in the old frame). Raises ``GeodesyError`` (a
        ``ValueError``) for a point that is no place on Earth."""
        if self.frame is None:
            self.frame = LocalFrame.at(latitude_deg, longitude_deg, altitude_m)
        east, north, up = self.frame.geodetic_to_enu(latitude_deg, longitude_deg, altitude_m)
        move = None
        if math.hypot(float(east), float(north)) > self._reanchor_m:
            new = LocalFrame.at(latitude_deg, longitude_deg, altitude_m)
            ahead = self.frame.enu_to_geodetic(float(east), float(north) + 100.0, float(up))
            ahead_east, ahead_north, _ = new.geodetic_to_enu(*ahead)
            # The old frame's north, seen from the new origin: the rotation between the frames.
            shift = math.atan2(float(ahead_east), float(ahead_north))
            move = FrameMove(shift, float(east), float(north))
            self.frame = new
            east, north, up = new.geodetic_to_enu(latitude_deg, longitude_deg, altitude_m)
        self.up_m = float(up)
        return float(east), float(north), move

    def geodetic(self, east_m: float, north_m: float) -> tuple[float, float] | None:
        """Latitude and longitude (degrees) of a point of the frame; None before the first
        fix."""
        if self.frame is None:
            return None
        lat, lon, _ = self.frame.enu_to_geodetic(east_m, north_m, self.up_m)
        return float(lat), float(lon)
