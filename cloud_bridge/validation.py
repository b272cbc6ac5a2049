"""Decide whether one MQTT message is a valid uplink: pure, no I/O, never raises."""

from __future__ import annotations

from dataclasses import dataclass

from protocols.envelope import check_topic, decode
from protocols.errors import ProtocolError
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.topics import Topic

MAX_SQL_INTEGER = 2**63 - 1
"""Sequence numbers are uint64 on the wire but SQL integers are signed 64-bit."""


@dataclass(frozen=True, slots=True)
class Accepted:
    """A valid message: its parsed topic, its Envelope and the bytes it came in."""

    topic: Topic
    envelope: pb.Envelope
    payload: bytes


@dataclass(frozen=True, slots=True)
class Rejected:
    """An invalid message.

    ``reason`` is machine-readable (a counter label and the dead-letter reason): ``oversized``,
    ``bad_topic``, ``malformed``, ``unknown_schema_version``, ``no_body``, ``no_device_id``,
    ``device_mismatch``, ``stream_mismatch`` or ``out_of_range``. ``detail`` is for humans.
    """

    reason: str
    detail: str


def validate(topic: str, payload: bytes, max_payload_bytes: int) -> Accepted | Rejected:
    """Check one message received on ``topic``.

    Takes the topic string, the raw payload and the size limit; returns ``Accepted`` or
    ``Rejected``. Never raises on any topic or payload.
    """
    # Size first, so that an oversized payload costs no parsing.
    if len(payload) > max_payload_bytes:
        return Rejected("oversized", f"{len(payload)} bytes > limit of {max_payload_bytes}")
    try:
        parsed = Topic.parse(topic)
        envelope = decode(payload)
        check_topic(envelope, parsed)
    except ProtocolError as err:
        return Rejected(err.reason, str(err))
    if envelope.sequence > MAX_SQL_INTEGER:
        # A store could not hold it (SQLite and PostgreSQL integers are signed 64-bit), and no
        # device counts this high: it is corrupt or hostile.
        return Rejected("out_of_range", f"sequence {envelope.sequence} > {MAX_SQL_INTEGER}")
    return Accepted(parsed, envelope, bytes(payload))
