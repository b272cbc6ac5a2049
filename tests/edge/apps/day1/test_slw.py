"""SLW scenarios on the example intersection 101 (every approach limited to 50 km/h by its
MAP): warns above the lane's limit and, approaching an RSI speed-limit sign, above the sign's;
silent under the limit, within the tolerance, for the other direction's sign or one behind,
without a known limit, and for an RSU no longer heard."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.apps.day1.picture import frame_at
from edge.apps.day1.slw import Slw, SlwSettings
from firmware_py.simulation.v2x_scenes import ORIGIN, Mover, V2xScene, run_scene
from protocols.v2x import GeoPoint, SignKind, StaticSign
from protocols.v2x.csae53 import decode_frame
from protocols.v2x.intersection_file import read_intersection_file

EXAMPLE = Path(__file__).parents[4] / "firmware_py" / "examples" / "intersection-101.toml"
MAP = read_intersection_file(EXAMPLE).map
FRAME = frame_at(ORIGIN)
KPH = 1 / 3.6
HALF_LENGTH = 2.3


def ego(speed_kph: float, north: float = -150.0) -> Mover:
    """Northbound on the south approach's straight lane (32, 5.25 m east)."""
    return Mover(east_m=5.25, north_m=north, heading_deg=0.0, speed_mps=speed_kph * KPH)


def limit_sign(east: float, north: float, kph: float | None = 30.0, sign_id: int = 1) -> StaticSign:
    lat, lon, _ = FRAME.enu_to_geodetic(east, north, 0.0)
    return StaticSign(SignKind.SPEED_LIMIT, GeoPoint(float(lat), float(lon)), kph, sign_id)


def test_over_the_lanes_limit_warns_once_the_map_is_confirmed() -> None:
    run = run_scene(V2xScene(ego=ego(60.0), intersection=MAP), [Slw()], duration_s=6.0)
    # The MAP is used once it came twice (1 s), the engine confirms a cycle later.
    assert run.first("SLW") == pytest.approx(1.1)
    assert run.count("SLW") == 1
    warning = run.started[0][1]
    assert "50 km/h limit (lane)" in warning.description


@pytest.mark.parametrize("speed_kph", [45.0, 54.0])
def test_under_the_limit_or_within_the_tolerance_is_silent(speed_kph: float) -> None:
    run = run_scene(V2xScene(ego=ego(speed_kph), intersection=MAP), [Slw()], duration_s=6.0)
    assert run.first("SLW") is None


def test_a_speed_limit_sign_ahead_applies_from_its_approach_distance() -> None:
    # 43 km/h, no MAP: a 30 km/h sign 200 m ahead on the right verge; it applies 100 m out.
    sign = limit_sign(12.5, -100.0)
    run = run_scene(V2xScene(ego=ego(43.0, -300.0), signs=[sign]), [Slw()], duration_s=14.0)
    first = run.first("SLW")
    assert first is not None
    reach = (200.0 - HALF_LENGTH - 100.0) / (43.0 * KPH)
    assert reach <= first <= reach + 0.2  # the crossing cycle and the confirming one
    assert run.count("SLW") == 1
    assert "30 km/h limit" in run.started[0][1].description


def test_a_sign_outranks_the_lane_until_the_ego_passes_it() -> None:
    # 43 km/h in the 50 km/h lane, a 30 km/h sign 60 m ahead.
    sign = limit_sign(12.5, -100.0)
    scene = V2xScene(ego=ego(43.0, -160.0), intersection=MAP, signs=[sign])
    run = run_scene(scene, [Slw()], duration_s=9.0)
    assert run.first("SLW") == pytest.approx(1.1)
    assert run.count("SLW") == 1  # passing it, the lane's 50 km/h holds: no new warning
    assert run.engine.active == []
    assert (
        run_scene(V2xScene(ego=ego(43.0, -160.0), intersection=MAP), [Slw()], 9.0).count("SLW") == 0
    )


def test_the_other_directions_sign_a_sign_behind_and_no_limit_are_silent() -> None:
    other_side = limit_sign(-12.5, -100.0, sign_id=1)  # the southbound verge, 17.75 m left
    behind = limit_sign(12.5, -340.0, sign_id=2)
    no_figure = limit_sign(12.5, -200.0, kph=None, sign_id=3)  # says no limit we can read
    school = StaticSign(SignKind.SCHOOL_ZONE, limit_sign(12.5, -250.0).position, sign_id=4)
    scene = V2xScene(ego=ego(80.0, -300.0), signs=[other_side, behind, no_figure, school])
    run = run_scene(scene, [Slw()], duration_s=8.0)
    assert run.first("SLW") is None


def _rsi_ticks(keep: Callable[[int], bool]) -> Callable[[int, bytes], bytes | None]:
    def tamper(tick: int, data: bytes) -> bytes | None:
        return data if keep(tick) or decode_frame(data)[0] != "rsiFrame" else None

    return tamper


def test_an_rsu_no_longer_heard_is_forgotten() -> None:
    sign = limit_sign(12.5, -100.0)
    until_two_s = _rsi_ticks(lambda tick: tick <= 20)
    scene = V2xScene(ego=ego(43.0, -300.0), signs=[sign])
    assert run_scene(scene, [Slw()], duration_s=14.0, tamper=until_two_s).first("SLW") is None


def test_settings_are_honoured() -> None:
    app = Slw(SlwSettings(tolerance_mps=0.0))
    run = run_scene(V2xScene(ego=ego(54.0), intersection=MAP), [app], duration_s=4.0)
    assert run.first("SLW") == pytest.approx(1.1)
    sign = limit_sign(12.5, -100.0)
    app = Slw(SlwSettings(sign_ahead_m=50.0))
    run = run_scene(V2xScene(ego=ego(43.0, -300.0), signs=[sign]), [app], duration_s=14.0)
    first = run.first("SLW")
    assert first is not None
    reach = (200.0 - HALF_LENGTH - 50.0) / (43.0 * KPH)
    assert reach <= first <= reach + 0.2


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf])
def test_settings_refuse_negative_and_non_finite_values(bad: float) -> None:
    with pytest.raises(ValueError, match="tolerance_mps"):
        SlwSettings(tolerance_mps=bad)
