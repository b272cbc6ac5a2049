"""Envelopes, payloads and topics for the bridge tests, built with ``protocols.envelope.seal``."""

from __future__ import annotations

from google.protobuf.message import Message

from cloud_bridge.validation import Accepted, validate
from protocols.envelope import seal
from protocols.schema.v1 import roadgate_pb2 as pb

REGION = "xian"
T0_NS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z


def envelope(
    device_id: str = "rsu-001",
    sequence: int = 1,
    *,
    boot_id: str = "boot-1",
    body: Message | None = None,
    capture_time_ns: int | None = None,
) -> pb.Envelope:
    """A valid Envelope; a vehicle state body unless ``body`` is given."""
    if body is None:
        body = pb.VehicleState(speed_mps=10.0 + sequence % 100, heading_rad=0.5)
    capture = T0_NS + sequence * 100_000_000 if capture_time_ns is None else capture_time_ns
    return seal(
        body,
        device_id=device_id,
        boot_id=boot_id,
        sequence=sequence,
        capture_time_ns=capture,
        publish_time_ns=capture + 1_000_000,
        clock_source=pb.CLOCK_SOURCE_SIMULATED,
    )


def status(
    device_id: str,
    sequence: int,
    liveness: pb.Liveness.ValueType,
    *,
    boot_id: str = "boot-1",
    capture_time_ns: int | None = None,
) -> pb.Envelope:
    """A status Envelope of a roadside unit."""
    body = pb.DeviceStatus(
        liveness=liveness, role=pb.DEVICE_ROLE_ROADSIDE_UNIT, software_version="1.2.3"
    )
    return envelope(
        device_id, sequence, boot_id=boot_id, body=body, capture_time_ns=capture_time_ns
    )


def topic(device_id: str = "rsu-001", stream: str = "state", region: str = REGION) -> str:
    """The topic string of one device's stream."""
    return f"rg/v1/{region}/{device_id}/{stream}"


def accepted(env: pb.Envelope, stream: str = "state") -> Accepted:
    """``env`` validated on its device's topic; fails the test if it is rejected."""
    verdict = validate(topic(env.device_id, stream), env.SerializeToString(), 65536)
    assert isinstance(verdict, Accepted), verdict
    return verdict
