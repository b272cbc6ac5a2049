"""MQTT topic names: ``rg/v1/{region}/{device_id}/{stream}``.

Uplink streams are published by a device; ``cmd`` is its downlink; ``status`` carries the
retained birth message and the last will.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from protocols.errors import TopicError

TOPIC_ROOT = "rg/v1"
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class Stream(StrEnum):
    """The last topic segment; one per Envelope body."""

    STATE = "state"
    OBJECTS = "objects"
    SPAT = "spat"
    EVENTS = "events"
    HEALTH = "health"
    STATUS = "status"
    CMD = "cmd"
    ACK = "ack"
    INTERSECTION = "intersection"
    RECORDING = "recording"


BODY_OF_STREAM: dict[Stream, str] = {
    Stream.STATE: "vehicle_state",
    Stream.OBJECTS: "object_list",
    Stream.SPAT: "spat",
    Stream.EVENTS: "event",
    Stream.HEALTH: "health",
    Stream.STATUS: "status",
    Stream.CMD: "command",
    Stream.ACK: "command_ack",
    Stream.INTERSECTION: "intersection",
    Stream.RECORDING: "recording_chunk",
}
"""The Envelope ``body`` field each stream must carry."""

STREAM_OF_BODY: dict[str, Stream] = {body: stream for stream, body in BODY_OF_STREAM.items()}


def check_segment(name: str, value: str) -> str:
    """Return ``value`` if it is a valid region or device id, else raise ``ValueError``."""
    if not _SEGMENT.match(value):
        raise ValueError(
            f"{name} {value!r} is not valid: use 1-64 characters of A-Z a-z 0-9 _ . -, "
            "starting with a letter or digit"
        )
    return value


@dataclass(frozen=True, slots=True)
class Topic:
    """One device's topic for one stream."""

    region: str
    device_id: str
    stream: Stream

    def __post_init__(self) -> None:
        check_segment("region", self.region)
        check_segment("device id", self.device_id)

    def __str__(self) -> str:
        return f"{TOPIC_ROOT}/{self.region}/{self.device_id}/{self.stream.value}"

    @classmethod
    def parse(cls, topic: str) -> Topic:
        """Parse a topic string; raises ``TopicError`` if it is not a RoadGate v1 topic."""
        parts = topic.split("/")
        if len(parts) != 5 or f"{parts[0]}/{parts[1]}" != TOPIC_ROOT:
            pattern = f"{TOPIC_ROOT}/{{region}}/{{device_id}}/{{stream}}"
            raise TopicError(f"topic {topic!r} is not {pattern}")
        try:
            stream = Stream(parts[4])
            return cls(parts[2], parts[3], stream)
        except ValueError as err:
            raise TopicError(f"topic {topic!r}: {err}") from err


def subscription(region: str = "+", device_id: str = "+", stream: str = "+") -> str:
    """A subscription filter; each argument may be an MQTT wildcard (``+``)."""
    return f"{TOPIC_ROOT}/{region}/{device_id}/{stream}"
