"""A vehicle's own state, from a gateway's ``state`` message or a BSM heard by the radio, lands
in the intersection's frame with honest covariances; bad or unavailable values are refused by
reason, never raised."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.geodesy import LocalFrame
from edge.roadside.bsm_feed import BsmFeed
from edge.roadside.cooperative import (
    CooperativeAssociator,
    CooperativeSettings,
    ReportDefaults,
    bsm_vehicle_id,
    report_from_bsm,
    report_from_state,
)
from edge.roadside.cooperative_reports import bsm_capture_time, polar_velocity
from edge.v2x import V2xRadio
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.v2x import decode_message_frame, encode_bsm, station_id_bytes
from tests.edge.test_v2x_radio import FakeLink

FRAME = LocalFrame.at(34.2237, 108.8906, 400.0)
CAPTURE_S = 1_772_446_542.25


def state_at(east: float, north: float, **fields: Any) -> pb.VehicleState:
    """A fix at (east, north) metres in FRAME, 0.8 m accurate, and whatever else is given."""
    geodetic = FRAME.enu_to_geodetic(east, north, 0.0)
    position = pb.Position(
        latitude_deg=float(geodetic.latitude_deg),
        longitude_deg=float(geodetic.longitude_deg),
        altitude_m=float(geodetic.altitude_m),
        horizontal_accuracy_m=0.8,
        fix_quality=pb.FIX_QUALITY_GNSS,
    )
    return pb.VehicleState(position=position, **fields)


def test_state_round_trip_lands_where_it_was_put() -> None:
    state = state_at(
        -40.0,
        25.0,
        speed_mps=12.0,
        heading_rad=math.radians(90.0),  # due east
        speed_accuracy_mps=0.2,
        heading_accuracy_rad=0.05,
        length_m=4.6,
        width_m=1.9,
    )
    report = report_from_state("veh-1", CAPTURE_S, state, FRAME)
    assert report is not None
    assert report.vehicle_id == "veh-1"
    assert report.time_s == CAPTURE_S
    np.testing.assert_allclose(report.position, [-40.0, 25.0], atol=1e-6)
    np.testing.assert_allclose(report.velocity, [12.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(report.position_covariance, 0.64 * np.eye(2))
    # Along the track (east): the speed's variance and the arc's shortening;
    # across it (north): s * sigma_heading = 0.6 m/s.
    assert report.velocity_covariance[0, 0] == pytest.approx(0.04 + 3 * (12 * 0.05**2) ** 2)
    assert report.velocity_covariance[1, 1] == pytest.approx(0.36)
    assert report.velocity_covariance[0, 1] == pytest.approx(0.0, abs=1e-12)
    assert (report.length_m, report.width_m) == (4.6, 1.9)


def test_state_with_unknown_accuracies_takes_the_defaults() -> None:
    defaults = ReportDefaults(speed_std_mps=0.7, heading_std_rad=0.1)
    state = state_at(0.0, 0.0, speed_mps=10.0, heading_rad=0.0)  # due north, accuracies 0
    report = report_from_state("veh-1", CAPTURE_S, state, FRAME, defaults=defaults)
    assert report is not None
    assert report.velocity_covariance[1, 1] == pytest.approx(0.49 + 3 * (10 * 0.01) ** 2)
    assert report.velocity_covariance[0, 0] == pytest.approx(1.0)  # (10 m/s * 0.1 rad)^2


def test_a_clock_error_grows_the_position_along_the_motion() -> None:
    state = state_at(0.0, 0.0, speed_mps=20.0, heading_rad=0.0, speed_accuracy_mps=0.1)
    report = report_from_state("veh-1", CAPTURE_S, state, FRAME, clock_error_s=0.05)
    assert report is not None
    # 20 m/s for up to 50 ms: one more metre of uncertainty along the road (north), and the
    # velocity's own uncertainty over those 50 ms.
    expected = 0.64 * np.eye(2) + 0.05**2 * (
        np.outer([0.0, 20.0], [0.0, 20.0]) + report.velocity_covariance
    )
    np.testing.assert_allclose(report.position_covariance, expected, atol=1e-9)
    assert report.position_covariance[1, 1] > 0.64 + 1.0


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda s: s.position.ClearField("horizontal_accuracy_m"), "no_position_accuracy"),
        (lambda s: setattr(s.position, "fix_quality", pb.FIX_QUALITY_NONE), "no_position"),
        (lambda s: s.ClearField("position"), "no_position"),
        (lambda s: setattr(s, "speed_mps", math.nan), "non_finite"),
        (lambda s: setattr(s.position, "horizontal_accuracy_m", math.inf), "non_finite"),
        (lambda s: setattr(s.position, "horizontal_accuracy_m", -1.0), "out_of_range"),
        (lambda s: setattr(s.position, "latitude_deg", 91.0), "out_of_range"),
        (lambda s: setattr(s, "length_m", -4.0), "out_of_range"),
    ],
)
def test_state_refusals_are_counted_by_reason(change: Any, reason: str) -> None:
    state = state_at(5.0, 5.0, speed_mps=3.0)
    change(state)
    rejects: Counter[str] = Counter()
    assert report_from_state("veh-1", CAPTURE_S, state, FRAME, rejects=rejects) is None
    assert rejects == Counter({reason: 1})


def bsm_fields(state: pb.VehicleState, station_id: int, unix_s: float) -> dict[str, Any]:
    data = encode_bsm(state, vehicle_id=station_id_bytes(station_id), msg_cnt=3, unix_s=unix_s)
    kind, fields = decode_message_frame(data)
    assert kind == "bsm"
    return fields


def test_bsm_round_trip_through_the_standard() -> None:
    state = state_at(
        60.0, -12.5, speed_mps=8.5, heading_rad=math.radians(200.0), length_m=4.5, width_m=1.8
    )
    fields = bsm_fields(state, 0x1234ABCD, CAPTURE_S)
    report = report_from_bsm(fields, CAPTURE_S + 0.08, FRAME)
    assert report is not None
    assert report.vehicle_id == "bsm:1234abcd"
    assert report.time_s == pytest.approx(CAPTURE_S, abs=1e-6)  # secMark: whole milliseconds
    # 1e-7 degrees is 1.1 cm of latitude; the encoder rounds.
    np.testing.assert_allclose(report.position, [60.0, -12.5], atol=0.02)
    heading = math.radians(200.0)
    expected = 8.5 * np.array([math.sin(heading), math.cos(heading)])
    np.testing.assert_allclose(report.velocity, expected, atol=0.02)  # 0.02 m/s, 0.0125 deg
    # Neither accuracy travels in what the decoder returns: the defaults.
    defaults = ReportDefaults()
    np.testing.assert_allclose(
        report.position_covariance, defaults.bsm_position_std_m**2 * np.eye(2)
    )
    assert (report.length_m, report.width_m) == pytest.approx((4.5, 1.8))


def test_bsm_accuracies_are_used_when_the_fields_carry_them() -> None:
    fields = bsm_fields(state_at(0.0, 0.0, speed_mps=5.0), 7, CAPTURE_S)
    fields["position_accuracy_m"] = 1.5
    report = report_from_bsm(fields, CAPTURE_S, FRAME)
    assert report is not None
    np.testing.assert_allclose(report.position_covariance, 2.25 * np.eye(2))


def test_bsm_ids_have_at_least_eight_hex_digits() -> None:
    assert bsm_vehicle_id(0x4D2) == "bsm:000004d2"
    assert bsm_vehicle_id(2**64 - 1) == "bsm:ffffffffffffffff"


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("latitude_deg", None, "no_position"),
        ("speed_mps", None, "no_speed"),
        ("sec_mark_ms", 65535, "no_time"),
        ("sec_mark_ms", 60500, "no_time"),  # a leap second: not placed in a minute
        ("station_id", "x", "malformed"),
        ("heading_rad", None, "malformed"),
        ("latitude_deg", math.nan, "non_finite"),
        ("latitude_deg", 95.0, "out_of_range"),
        ("length_m", -1.0, "out_of_range"),
    ],
)
def test_bsm_refusals_are_counted_by_reason(key: str, value: Any, reason: str) -> None:
    fields = bsm_fields(state_at(0.0, 0.0, speed_mps=5.0), 7, CAPTURE_S)
    fields[key] = value
    rejects: Counter[str] = Counter()
    assert report_from_bsm(fields, CAPTURE_S, FRAME, rejects=rejects) is None
    assert rejects == Counter({reason: 1})


def test_missing_bsm_fields_are_malformed() -> None:
    fields = bsm_fields(state_at(0.0, 0.0, speed_mps=5.0), 7, CAPTURE_S)
    del fields["sec_mark_ms"]
    rejects: Counter[str] = Counter()
    assert report_from_bsm(fields, CAPTURE_S, FRAME, rejects=rejects) is None
    assert rejects == Counter({"malformed": 1})


@given(
    capture_ms=st.integers(min_value=1_600_000_000_000, max_value=2_000_000_000_000),
    latency_ms=st.integers(min_value=-29_999, max_value=29_999),
)
def test_bsm_capture_time_is_recovered_within_half_a_minute(
    capture_ms: int, latency_ms: int
) -> None:
    sec_mark = capture_ms % 60_000
    received_s = (capture_ms + latency_ms) / 1000.0
    assert bsm_capture_time(sec_mark, received_s) == pytest.approx(capture_ms / 1000.0, abs=1e-6)


def test_radio_hands_what_it_heard_on_with_the_receive_time() -> None:
    heard: list[tuple[str, Mapping[str, Any], float]] = []
    radio = V2xRadio(FakeLink(), 1, on_heard=lambda kind, f, t: heard.append((kind, f, t)))
    state = state_at(10.0, 20.0, speed_mps=4.0)
    data = encode_bsm(state, vehicle_id=station_id_bytes(99), msg_cnt=0, unix_s=CAPTURE_S)
    radio.datagram(data, CAPTURE_S + 0.03)
    radio.datagram(b"\xff" * 4, CAPTURE_S + 0.04)  # bad: counted by the radio, not handed on
    [(kind, fields, received_s)] = heard
    assert (kind, received_s) == ("bsm", CAPTURE_S + 0.03)
    report = report_from_bsm(fields, received_s, FRAME)
    assert report is not None
    assert report.vehicle_id == bsm_vehicle_id(99)
    np.testing.assert_allclose(report.position, [10.0, 20.0], atol=0.02)


@pytest.mark.parametrize(
    ("speed", "speed_std", "heading_std"),
    [
        (15.0, 0.3, 0.02),
        (30.0, 0.05, 0.1),
        (10.0, 1.0, 0.17),
        (10.0, 0.2, 0.3),
        (2.0, 0.5, 0.6),
        (5.0, 0.3, 1.0),
        (0.3, 0.5, 1.5),
    ],
)
def test_polar_velocity_covariance_covers_the_truth(
    speed: float, speed_std: float, heading_std: float
) -> None:
    """Speed and heading errors pushed through the covariance: the 95 % and 99 % ellipses hold
    at least that share of true velocities (less 1 % for 4000 draws), slow and fast, precise
    and poor headings."""
    rng = np.random.default_rng(7)
    heading = 1.0
    true_v = speed * np.array([math.sin(heading), math.cos(heading)])
    d2 = []
    for _ in range(4000):
        measured_speed = speed + rng.normal(0.0, speed_std)
        measured_heading = heading + rng.normal(0.0, heading_std)
        v, cov = polar_velocity(measured_speed, measured_heading, speed_std, heading_std)
        e = true_v - v
        d2.append(float(e @ np.linalg.solve(cov, e)))
    for p in (0.95, 0.99):
        inside = np.mean(np.array(d2) <= -2.0 * math.log(1.0 - p))  # chi-square, 2 dof
        assert inside >= p - 0.01, (p, inside)


finite_or_not = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-200.0, max_value=200.0),
)
field_values = st.one_of(
    st.none(),
    finite_or_not,
    st.integers(min_value=-(2**70), max_value=2**70),
    st.text(max_size=4),
    st.booleans(),
)


@given(
    overrides=st.dictionaries(
        st.sampled_from(
            [
                "station_id",
                "sec_mark_ms",
                "latitude_deg",
                "longitude_deg",
                "altitude_m",
                "speed_mps",
                "heading_rad",
                "length_m",
                "width_m",
                "position_accuracy_m",
                "speed_accuracy_mps",
                "heading_accuracy_rad",
            ]
        ),
        field_values,
    ),
    received_s=finite_or_not,
)
def test_any_bsm_fields_give_a_finite_report_or_a_counted_refusal(
    overrides: dict[str, Any], received_s: float
) -> None:
    fields = {
        "station_id": 5,
        "sec_mark_ms": 1000,
        "latitude_deg": 34.2237,
        "longitude_deg": 108.8906,
        "altitude_m": None,
        "speed_mps": 3.0,
        "heading_rad": 1.0,
        "length_m": 4.0,
        "width_m": 1.8,
        **overrides,
    }
    rejects: Counter[str] = Counter()
    report = report_from_bsm(fields, received_s, FRAME, rejects=rejects)
    if report is None:
        assert sum(rejects.values()) == 1
    else:
        assert not rejects
        _assert_finite(report)


@given(
    values=st.tuples(*[finite_or_not] * 9),
    fix=st.sampled_from(list(pb.FixQuality.values())),
)
def test_any_state_gives_a_finite_report_or_a_counted_refusal(
    values: tuple[float, ...], fix: pb.FixQuality.ValueType
) -> None:
    lat, lon, accuracy, speed, heading, s_acc, h_acc, length, capture = values
    state = pb.VehicleState(
        position=pb.Position(
            latitude_deg=lat, longitude_deg=lon, horizontal_accuracy_m=accuracy, fix_quality=fix
        ),
        speed_mps=speed,
        heading_rad=heading,
        speed_accuracy_mps=s_acc,
        heading_accuracy_rad=h_acc,
        length_m=length,
    )
    rejects: Counter[str] = Counter()
    report = report_from_state("veh-1", capture, state, FRAME, rejects=rejects)
    if report is None:
        assert sum(rejects.values()) == 1
    else:
        assert not rejects
        _assert_finite(report)


def _assert_finite(report: Any) -> None:
    for array in (
        report.position,
        report.velocity,
        report.position_covariance,
        report.velocity_covariance,
    ):
        assert np.isfinite(array).all()


def test_the_bsm_feed_offers_what_the_radio_heard_to_the_associator() -> None:
    associator = CooperativeAssociator(CooperativeSettings())
    feed = BsmFeed(FRAME, associator.offer)
    radio = V2xRadio(FakeLink(), 1, on_heard=feed)
    heard_at = CAPTURE_S + 0.02
    good = state_at(-20.0, 5.0, speed_mps=6.0, heading_rad=math.pi / 2)
    radio.datagram(
        encode_bsm(good, vehicle_id=station_id_bytes(0xBEEF), msg_cnt=1, unix_s=CAPTURE_S), heard_at
    )
    unplaced = pb.VehicleState(speed_mps=6.0)  # lat/lon 0, 0: no fix
    radio.datagram(
        encode_bsm(unplaced, vehicle_id=station_id_bytes(2), msg_cnt=2, unix_s=CAPTURE_S), heard_at
    )
    spat = pb.SignalPhaseTiming(intersection_id=1, phases=[pb.PhaseState(signal_group=1)])
    radio.broadcast_spat(spat, int(CAPTURE_S * 1e9))  # a SPAT: not the feed's business
    radio.datagram(radio.link.sent[-1], heard_at)  # type: ignore[attr-defined]
    assert feed.counters == {"heard": 2, "offered": 1, "rejects.no_position": 1}
    match = associator.associate(
        CAPTURE_S + 0.1, np.empty(0, np.int64), np.empty((0, 4)), np.empty((0, 4, 4))
    )
    [report] = match.unmatched
    assert report.vehicle_id == "bsm:0000beef"
    np.testing.assert_allclose(report.position, [-20.0 + 0.6, 5.0], atol=0.05)
    assert associator.counters == {"vehicles": 1, "paired": 0}
