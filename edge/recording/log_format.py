"""The flight log's channels and payload codecs (the format is documented in the package
docstring, ``edge/recording/__init__.py``). Pure: no I/O."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from hal.can.frames import CLASSIC_MAX_DATA, MAX_DATA, FrameBatch, empty_batch

PROFILE = "roadgate"
LIBRARY = "roadgate-recorder/1"
CAN_BATCH_ENCODING = "roadgate.can-batch.v1"
LINE_ENCODING = "roadgate.line.v1"
DATAGRAM_ENCODING = "roadgate.datagram.v1"
ENVELOPE_ENCODING = "protobuf"
ENVELOPE_SCHEMA_NAME = "roadgate.v1.Envelope"
MQTT_MESSAGE_ENCODING = "roadgate.mqtt-message.v1"
CAN_BATCH_VERSION = 1
MQTT_MESSAGE_VERSION = 1
NS_PER_S = 1_000_000_000


class Kind(StrEnum):
    """What a channel carries (its metadata's ``kind``)."""

    CAN = "can"
    SERIAL = "serial"
    V2X_RX = "v2x-rx"
    V2X_TX = "v2x-tx"
    SPAT = "spat"
    ENVELOPE = "envelope"
    MQTT_IN = "mqtt-in"


_TOPIC_PREFIX = {
    Kind.CAN: "can/",
    Kind.SERIAL: "serial/",
    Kind.V2X_RX: "v2x/rx/",
    Kind.V2X_TX: "v2x/tx/",
    Kind.SPAT: "spat/",
    Kind.ENVELOPE: "envelope/",
    Kind.MQTT_IN: "mqtt/in/",
}
_ENCODING = {
    Kind.CAN: CAN_BATCH_ENCODING,
    Kind.SERIAL: LINE_ENCODING,
    Kind.V2X_RX: DATAGRAM_ENCODING,
    Kind.V2X_TX: DATAGRAM_ENCODING,
    Kind.SPAT: DATAGRAM_ENCODING,
    Kind.ENVELOPE: ENVELOPE_ENCODING,
    Kind.MQTT_IN: MQTT_MESSAGE_ENCODING,
}
DATAGRAM_KINDS = frozenset({Kind.V2X_RX, Kind.V2X_TX, Kind.SPAT})


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    """One channel of the log: its kind and source (bus, port, MQTT topic or MQTT client)."""

    kind: Kind
    source: str

    @property
    def topic(self) -> str:
        return _TOPIC_PREFIX[self.kind] + self.source

    @property
    def encoding(self) -> str:
        return _ENCODING[self.kind]

    @property
    def metadata(self) -> dict[str, str]:
        return {"kind": self.kind.value, "source": self.source}

    @classmethod
    def from_channel(cls, topic: str, metadata: dict[str, str]) -> ChannelSpec | None:
        """The spec of a channel read from a log, or None for a channel that is not ours."""
        try:
            kind = Kind(metadata.get("kind", ""))
        except ValueError:
            return None
        prefix = _TOPIC_PREFIX[kind]
        source = metadata.get("source") or topic.removeprefix(prefix)
        return cls(kind, source)


def to_ns(seconds: float) -> int:
    """Unix seconds to MCAP's uint64 ns (clamped at 0: MCAP times are unsigned)."""
    return max(0, round(seconds * NS_PER_S))


_CAN_HEADER = struct.Struct("<BB")


def _packed_dtype(width: int) -> np.dtype[Any]:
    return np.dtype(
        [
            ("timestamp", "<f8"),
            ("arbitration_id", "<u4"),
            ("flags", "u1"),
            ("dlc", "u1"),
            ("data", "u1", (width,)),
        ]
    )


_PACKED = {width: _packed_dtype(width) for width in (CLASSIC_MAX_DATA, MAX_DATA)}


def encode_can_batch(batch: FrameBatch) -> bytes:
    """A ``FRAME_DTYPE`` batch as one ``roadgate.can-batch.v1`` payload."""
    classic = not len(batch) or int(batch["dlc"].max()) <= CLASSIC_MAX_DATA
    width = CLASSIC_MAX_DATA if classic else MAX_DATA
    packed = np.empty(len(batch), dtype=_PACKED[width])
    for field in ("timestamp", "arbitration_id", "flags", "dlc"):
        packed[field] = batch[field]
    packed["data"] = batch["data"][:, :width]
    return _CAN_HEADER.pack(CAN_BATCH_VERSION, width) + packed.tobytes()


def decode_can_batch(payload: bytes) -> FrameBatch:
    """A ``roadgate.can-batch.v1`` payload as a ``FRAME_DTYPE`` batch.

    Raises ``ValueError`` for a payload of another version or width, or of a length that is
    not a whole number of frames.
    """
    if len(payload) < _CAN_HEADER.size:
        raise ValueError("CAN batch shorter than its header")
    version, width = _CAN_HEADER.unpack_from(payload)
    if version != CAN_BATCH_VERSION or width not in _PACKED:
        raise ValueError(f"CAN batch of version {version}, width {width}: not v1 with 8 or 64")
    dtype = _PACKED[width]
    body = len(payload) - _CAN_HEADER.size
    if body % dtype.itemsize:
        raise ValueError(f"CAN batch of {body} bytes: not whole {dtype.itemsize}-byte frames")
    packed = np.frombuffer(payload, dtype=dtype, offset=_CAN_HEADER.size)
    batch = empty_batch(len(packed))
    for field in ("timestamp", "arbitration_id", "flags", "dlc"):
        batch[field] = packed[field]
    batch["data"][:, :width] = packed["data"]
    if np.any(batch["dlc"] > MAX_DATA):
        raise ValueError("CAN batch with a frame longer than 64 bytes")
    return batch


_MQTT_HEADER = struct.Struct("<BH")
MAX_MQTT_TOPIC_BYTES = 0xFFFF
"""MQTT's own bound on a topic name (a two-byte length), so every topic received fits."""


def encode_mqtt_message(topic: str, payload: bytes) -> bytes:
    """One MQTT message received as a ``roadgate.mqtt-message.v1`` payload: 1 byte version
    (1), ``uint16`` little-endian length of the topic in bytes, the topic in UTF-8, then the
    message's payload, byte for byte, to the end.

    Raises ``ValueError`` for a topic that is not UTF-8 encodable or longer than MQTT allows.
    """
    name = topic.encode("utf-8")
    if len(name) > MAX_MQTT_TOPIC_BYTES:
        raise ValueError(f"MQTT topic of {len(name)} bytes: over MQTT's {MAX_MQTT_TOPIC_BYTES}")
    return _MQTT_HEADER.pack(MQTT_MESSAGE_VERSION, len(name)) + name + payload


def decode_mqtt_message(data: bytes) -> tuple[str, bytes]:
    """A ``roadgate.mqtt-message.v1`` payload as ``(topic, payload)``.

    Raises ``ValueError`` for a payload shorter than its header or topic, of another version,
    or whose topic is not UTF-8.
    """
    if len(data) < _MQTT_HEADER.size:
        raise ValueError("MQTT message shorter than its header")
    version, length = _MQTT_HEADER.unpack_from(data)
    if version != MQTT_MESSAGE_VERSION:
        raise ValueError(f"MQTT message of version {version}: not v1")
    end = _MQTT_HEADER.size + length
    if len(data) < end:
        raise ValueError(f"MQTT message topic of {length} bytes runs past its end")
    # Not UTF-8: UnicodeDecodeError, a ValueError as the docstring says.
    topic = bytes(data[_MQTT_HEADER.size : end]).decode("utf-8")
    return topic, bytes(data[end:])


def envelope_schema() -> bytes:
    """The Envelope channel's schema: the FileDescriptorSet of ``roadgate.proto``."""
    # Here, not at the top: every box's pipelines import this module (the sink's ``Kind``),
    # and only a recording one needs the descriptors (about 0.8 MiB).
    from google.protobuf import descriptor_pb2

    from protocols.schema.v1 import roadgate_pb2

    descriptors = descriptor_pb2.FileDescriptorSet()
    roadgate_pb2.DESCRIPTOR.CopyToProto(descriptors.file.add())
    return descriptors.SerializeToString()
