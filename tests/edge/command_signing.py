"""Signed command envelopes for the command tests, as an operator's tool makes them."""

from __future__ import annotations

import os
import time
import uuid

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.commands.signing import sign
from protocols.envelope import seal
from protocols.schema.v1 import roadgate_pb2 as pb

TARGET = "test-region/veh-9"


def signed_command(
    key: Ed25519PrivateKey,
    name: str = "ping",
    *,
    arguments: dict[str, str] | None = None,
    target: str = TARGET,
    expires_in_s: float = 60.0,
    nonce: bytes | None = None,
) -> pb.Command:
    command = pb.Command(
        command_id=uuid.uuid4().hex,
        name=name,
        arguments=arguments or {},
        expires_time_ns=time.time_ns() + int(expires_in_s * 1e9),
        issuer="tests",
        nonce=os.urandom(16) if nonce is None else nonce,
        target=target,
    )
    sign(command, key)
    return command


def envelope_bytes(command: pb.Command, device_id: str = "veh-9") -> bytes:
    now = time.time_ns()
    return seal(
        command,
        device_id=device_id,
        boot_id=str(uuid.uuid4()),
        sequence=1,
        capture_time_ns=now,
        publish_time_ns=now,
        clock_source=pb.CLOCK_SOURCE_SYSTEM,
    ).SerializeToString()
