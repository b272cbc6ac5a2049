"""validate(): every reject reason, value ranges, capture-time flags, never an exception."""

from __future__ import annotations

import math

import pytest
from google.protobuf.message import Message
from hypothesis import example, given
from hypothesis import strategies as st

from cloud_bridge.validation import (
    MAX_SQL_INTEGER,
    Accepted,
    CaptureWindow,
    Rejected,
    validate,
)
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.topics import Stream, Topic
from tests.cloud_bridge.factories import REGION, T0_NS, envelope, topic

LIMIT = 4096
REASONS = {
    "oversized",
    "bad_topic",
    "malformed",
    "unknown_schema_version",
    "no_body",
    "no_device_id",
    "no_boot_id",
    "device_mismatch",
    "stream_mismatch",
    "out_of_range",
}


def test_accepts_a_valid_message_with_its_topic_envelope_and_bytes() -> None:
    env = envelope("obu-7", 42)
    payload = env.SerializeToString()

    verdict = validate(topic("obu-7"), payload, LIMIT)

    assert isinstance(verdict, Accepted)
    assert verdict.topic == Topic(REGION, "obu-7", Stream.STATE)
    assert verdict.envelope == env
    assert verdict.payload == payload


def test_accepts_a_payload_of_exactly_the_limit() -> None:
    payload = envelope().SerializeToString()

    assert isinstance(validate(topic(), payload, len(payload)), Accepted)
    assert validate(topic(), payload, len(payload) - 1) == Rejected(
        "oversized", f"{len(payload)} bytes > limit of {len(payload) - 1}"
    )


def _with(env: pb.Envelope, **fields: object) -> bytes:
    for name, value in fields.items():
        setattr(env, name, value)
    return env.SerializeToString()


@pytest.mark.parametrize(
    ("topic_", "payload", "reason"),
    [
        pytest.param(topic(), b"\x00" * (LIMIT + 1), "oversized", id="oversized"),
        pytest.param("rg/v2/xian/rsu-001/state", envelope(), "bad_topic", id="other-root"),
        pytest.param(topic(stream="bogus"), envelope(), "bad_topic", id="unknown-stream"),
        pytest.param("rg/v1/xian/rsu 001/state", envelope(), "bad_topic", id="bad-device-id"),
        pytest.param("rg/v1/xian/rsu-001/state/x", envelope(), "bad_topic", id="too-deep"),
        pytest.param(topic(), b"\xff\xff\xff\xff", "malformed", id="malformed"),
        pytest.param(
            topic(), _with(envelope(), schema_version=2), "unknown_schema_version", id="v2"
        ),
        pytest.param(
            topic(),
            pb.Envelope(schema_version=1, device_id="rsu-001").SerializeToString(),
            "no_body",
            id="no-body",
        ),
        pytest.param(topic(), _with(envelope(), device_id=""), "no_device_id", id="no-device"),
        pytest.param(topic(), _with(envelope(), boot_id=""), "no_boot_id", id="no-boot"),
        pytest.param(topic("rsu-002"), envelope("rsu-001"), "device_mismatch", id="spoofed"),
        pytest.param(topic(stream="events"), envelope(), "stream_mismatch", id="wrong-stream"),
        pytest.param(
            topic(), _with(envelope(), sequence=MAX_SQL_INTEGER + 1), "out_of_range", id="seq"
        ),
    ],
)
def test_rejects_with_a_machine_readable_reason(
    topic_: str, payload: bytes | pb.Envelope, reason: str
) -> None:
    raw = payload.SerializeToString() if isinstance(payload, pb.Envelope) else payload

    verdict = validate(topic_, raw, LIMIT)

    assert isinstance(verdict, Rejected)
    assert verdict.reason == reason
    assert verdict.detail


def test_accepts_the_largest_storable_sequence() -> None:
    payload = _with(envelope(), sequence=MAX_SQL_INTEGER)

    verdict = validate(topic(), payload, LIMIT)

    assert isinstance(verdict, Accepted)
    assert verdict.envelope.sequence == MAX_SQL_INTEGER


@given(st.text(), st.binary(max_size=300))
@example("", b"")
@example(topic(), b"")
def test_never_raises_on_arbitrary_input(topic_: str, payload: bytes) -> None:
    verdict = validate(topic_, payload, 256)

    assert isinstance(verdict, Accepted | Rejected)
    if isinstance(verdict, Rejected):
        assert verdict.reason in REASONS


_VALID_PAYLOAD = envelope("rsu-001", 7).SerializeToString()


@given(
    st.sampled_from([s.value for s in Stream]),
    st.lists(st.tuples(st.integers(0, len(_VALID_PAYLOAD) - 1), st.integers(0, 255)), max_size=8),
    st.integers(0, len(_VALID_PAYLOAD)),
)
def test_never_raises_on_corrupted_valid_payloads(
    stream: str, flips: list[tuple[int, int]], cut: int
) -> None:
    # Random bytes rarely get past the first tag; corrupting a real payload reaches the deeper
    # checks (schema version, body, device and stream agreement).
    corrupted = bytearray(_VALID_PAYLOAD)
    for index, value in flips:
        corrupted[index] = value
    verdict = validate(topic("rsu-001", stream), bytes(corrupted[:cut]), LIMIT)

    assert isinstance(verdict, Accepted | Rejected)
    if isinstance(verdict, Rejected):
        assert verdict.reason in REASONS


# --- value ranges (out_of_range) -------------------------------------------------------------

_POSITION_FIELDS = ("latitude_deg", "longitude_deg", "altitude_m", "horizontal_accuracy_m")


def _one_of_each_body() -> dict[str, pb.Envelope]:
    """A valid envelope of each uplink stream, every nested message present."""
    position = pb.Position(latitude_deg=34.2, longitude_deg=108.9, altitude_m=400.0)
    bodies = {
        "state": pb.VehicleState(position=position, speed_mps=12.0, length_m=4.5, width_m=1.8),
        "objects": pb.ObjectList(
            sensor_position=position,
            objects=[
                pb.PerceivedObject(
                    x_m=30.0,
                    position=position,
                    position_covariance=pb.EastNorthCovariance(east_east=1.0),
                    velocity_covariance=pb.EastNorthCovariance(north_north=1.0),
                ),
                pb.PerceivedObject(),
            ],
        ),
        "spat": pb.SignalPhaseTiming(phases=[pb.PhaseState(min_end_s=3.0), pb.PhaseState()]),
        "events": pb.TrafficEvent(position=position, radius_m=50.0),
        "health": pb.DeviceHealth(uptime_s=10.0, cpu_load=0.3, temperature_c=45.0),
        "status": pb.DeviceStatus(liveness=pb.LIVENESS_ONLINE),
        "ack": pb.CommandAck(command_id="c1"),
        "intersection": pb.IntersectionGeometry(
            intersection_id=101,
            reference=position,
            approaches=[
                pb.IntersectionGeometry.Approach(
                    speed_limit_mps=13.9,
                    lanes=[
                        pb.IntersectionGeometry.Lane(
                            width_m=3.5,
                            speed_limit_mps=11.1,
                            points=[
                                pb.IntersectionGeometry.Point(east_m=5.25, north_m=-162.0),
                                pb.IntersectionGeometry.Point(east_m=5.25, north_m=-12.0),
                            ],
                        )
                    ],
                )
            ],
            signs=[
                pb.IntersectionGeometry.Sign(
                    position=position, east_m=12.5, north_m=-100.0, speed_limit_mps=8.3
                )
            ],
        ),
    }
    return {stream: envelope(body=body) for stream, body in bodies.items()}


def _float_paths(message: Message, prefix: str = "") -> list[tuple[str, Message, str]]:
    """Every float field of ``message`` and its present sub-messages: (path, owner, field)."""
    found: list[tuple[str, Message, str]] = []
    for field in message.DESCRIPTOR.fields:
        if field.type in (field.TYPE_DOUBLE, field.TYPE_FLOAT):
            found.append((f"{prefix}{field.name}", message, field.name))
        elif (
            field.type == field.TYPE_MESSAGE
            and field.message_type is not None
            and not field.message_type.GetOptions().map_entry
        ):
            if field.is_repeated:
                for index, item in enumerate(getattr(message, field.name)):
                    found += _float_paths(item, f"{prefix}{field.name}[{index}].")
            elif message.HasField(field.name):
                found += _float_paths(getattr(message, field.name), f"{prefix}{field.name}.")
    return found


def _every_float_field() -> list[tuple[str, str]]:
    cases = []
    for stream, env in _one_of_each_body().items():
        body = env.WhichOneof("body")
        assert body is not None
        cases += [(stream, path) for path, _, _ in _float_paths(getattr(env, body), f"{body}.")]
    return cases


def test_the_schema_walk_finds_every_body_float() -> None:
    # Guards the test below: it would pass vacuously if the walk found nothing.
    paths = {path for _, path in _every_float_field()}
    assert "vehicle_state.position.latitude_deg" in paths
    assert "object_list.objects[1].rcs_dbsm" in paths
    assert "object_list.objects[0].position.longitude_deg" in paths
    assert "spat.phases[1].likely_end_s" in paths
    assert "intersection.approaches[0].lanes[0].points[1].north_m" in paths
    assert "intersection.signs[0].position.latitude_deg" in paths
    assert len(paths) >= 50


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 1e300, -1e300])
@pytest.mark.parametrize(("stream", "path"), _every_float_field())
def test_every_body_float_is_range_checked(stream: str, path: str, bad: float) -> None:
    env = _one_of_each_body()[stream]
    body = env.WhichOneof("body")
    assert body is not None
    (owner, name) = next(
        (o, n) for p, o, n in _float_paths(getattr(env, body), f"{body}.") if p == path
    )
    setattr(owner, name, bad)

    verdict = validate(topic(stream=stream), env.SerializeToString(), LIMIT)

    assert isinstance(verdict, Rejected), path
    assert verdict.reason == "out_of_range"
    assert path in verdict.detail


@pytest.mark.parametrize("bad", [math.nan, math.inf, -1.0, 1e300])
def test_a_clock_error_bound_out_of_range_is_rejected(bad: float) -> None:
    env = _one_of_each_body()["health"]
    env.clock_max_error_s = bad
    verdict = validate(topic(stream="health"), env.SerializeToString(), LIMIT)
    assert isinstance(verdict, Rejected)
    assert verdict.reason == "out_of_range"
    assert "clock_max_error_s" in verdict.detail


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("position.latitude_deg", 999.0),
        ("position.latitude_deg", -90.5),
        ("position.longitude_deg", 180.01),
        ("speed_mps", -50.0),
        ("speed_mps", 151.0),
        ("heading_rad", 7.0),
        ("length_m", -1.0),
    ],
)
def test_rejects_physically_impossible_vehicle_values(field: str, value: float) -> None:
    env = _one_of_each_body()["state"]
    owner: Message = env.vehicle_state
    *parents, name = field.split(".")
    for parent in parents:
        owner = getattr(owner, parent)
    setattr(owner, name, value)

    verdict = validate(topic(), env.SerializeToString(), LIMIT)

    assert isinstance(verdict, Rejected)
    assert verdict.reason == "out_of_range"
    assert verdict.detail.startswith(f"vehicle_state.{field} {value!r} is outside [")


@pytest.mark.parametrize(
    ("lat", "lon", "speed"),
    [(90.0, 180.0, 0.0), (-90.0, -180.0, 150.0), (0.0, 0.0, 0.0), (34.26, 108.94, 16.7)],
)
def test_accepts_values_on_the_edges_of_their_ranges(lat: float, lon: float, speed: float) -> None:
    env = envelope(
        body=pb.VehicleState(
            position=pb.Position(latitude_deg=lat, longitude_deg=lon), speed_mps=speed
        )
    )

    assert isinstance(validate(topic(), env.SerializeToString(), LIMIT), Accepted)


# --- capture time window (clock_suspect) -------------------------------------------------------

NOW_NS = T0_NS + 3_600 * 10**9
WINDOW = CaptureWindow(max_age_s=86_400.0, max_ahead_s=60.0)


@pytest.mark.parametrize(
    ("capture_ns", "suspect"),
    [
        (NOW_NS, False),
        (NOW_NS - 86_400 * 10**9, False),
        (NOW_NS + 60 * 10**9, False),
        (NOW_NS - 86_400 * 10**9 - 1, True),
        (NOW_NS + 60 * 10**9 + 1, True),
        (4_102_444_800 * 10**9, True),  # 2100-01-01: a GNSS glitch
        (0, True),  # never set
        (-(2**63), True),
        (2**63 - 1, True),
    ],
)
def test_flags_capture_times_outside_the_window(capture_ns: int, suspect: bool) -> None:
    payload = _with(envelope(), capture_time_ns=capture_ns)

    verdict = validate(topic(), payload, LIMIT, received_time_ns=NOW_NS, window=WINDOW)

    assert isinstance(verdict, Accepted)
    assert verdict.clock_suspect is suspect


def test_no_window_flags_nothing() -> None:
    payload = envelope(capture_time_ns=0).SerializeToString()

    verdict = validate(topic(), payload, LIMIT)

    assert isinstance(verdict, Accepted)
    assert verdict.clock_suspect is False


@pytest.mark.parametrize("bound", [-1.0, math.nan])
def test_capture_window_rejects_a_bad_bound(bound: float) -> None:
    with pytest.raises(ValueError, match="max_age_s"):
        CaptureWindow(max_age_s=bound)


def test_an_endless_window_contains_every_time() -> None:
    endless = CaptureWindow(math.inf, math.inf)

    assert endless.contains(-(2**63), 0)
    assert endless.contains(2**63 - 1, 0)


# --- fuzzing: arbitrary envelopes with arbitrary floats and times ------------------------------

_ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True)
_INT64 = st.integers(-(2**63), 2**63 - 1)


@st.composite
def _fuzzed_envelopes(draw: st.DrawFn) -> tuple[str, pb.Envelope]:
    stream = draw(st.sampled_from(sorted(_one_of_each_body())))
    env = _one_of_each_body()[stream]
    body = env.WhichOneof("body")
    assert body is not None
    for _, owner, name in _float_paths(getattr(env, body)):
        if draw(st.booleans()):
            setattr(owner, name, draw(_ANY_FLOAT))
    env.capture_time_ns = draw(_INT64)
    env.publish_time_ns = draw(_INT64)
    env.sequence = draw(st.integers(0, 2**64 - 1))
    return stream, env


def _all_floats_finite(message: Message) -> bool:
    return all(math.isfinite(getattr(o, n)) for _, o, n in _float_paths(message))


@given(
    _fuzzed_envelopes(),
    _INT64,
    st.floats(min_value=0.0, allow_nan=False),
    st.floats(min_value=0.0, allow_nan=False),
)
def test_never_raises_on_arbitrary_values_and_accepts_only_finite_ones(
    fuzzed: tuple[str, pb.Envelope], now_ns: int, max_age_s: float, max_ahead_s: float
) -> None:
    stream, env = fuzzed

    verdict = validate(
        topic(stream=stream),
        env.SerializeToString(),
        LIMIT,
        received_time_ns=now_ns,
        window=CaptureWindow(max_age_s, max_ahead_s),
    )

    assert isinstance(verdict, Accepted | Rejected)
    if isinstance(verdict, Accepted):
        assert _all_floats_finite(verdict.envelope)
        assert verdict.envelope.sequence <= MAX_SQL_INTEGER
    else:
        assert verdict.reason in REASONS
