"""validate(): every reject reason, and never an exception on any input."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from cloud_bridge.validation import MAX_SQL_INTEGER, Accepted, Rejected, validate
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.topics import Stream, Topic
from tests.cloud_bridge.factories import REGION, envelope, topic

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
