"""Signed commands through a real Mosquitto to a box's uplink, acknowledged on ``ack``."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiomqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.commands.dispatcher import (
    CommandDispatcher,
    Handler,
    RestartService,
    ping,
    record_unavailable,
)
from edge.commands.nonces import NonceStore
from edge.commands.verification import CommandTarget, CommandVerifier
from edge.identity import DeviceIdentity
from edge.uplink.outbox import SqliteOutbox
from edge.uplink.publisher import UplinkPublisher
from edge.uplink.settings import UplinkSettings
from protocols.envelope import decode
from protocols.mqtt_connection import MqttConnection
from protocols.schema.v1 import roadgate_pb2 as pb
from tests.edge.command_signing import envelope_bytes, signed_command
from tests.support.mosquitto import Broker

pytestmark = [pytest.mark.mosquitto, pytest.mark.asyncio]

KEY = Ed25519PrivateKey.generate()
CMD = "rg/v1/test-region/veh-9/cmd"
ACK = "rg/v1/test-region/veh-9/ack"


@dataclass
class Restarts:
    names: list[str]

    def __call__(self, name: str) -> None:
        if name == "unknown":
            raise KeyError("no such service")
        self.names.append(name)


@contextlib.asynccontextmanager
async def commanded_box(
    broker: Broker, nonce_path: Path, restarts: Restarts
) -> AsyncIterator[UplinkPublisher]:
    """An uplink carrying out commands, connected; stopped (and its nonces closed) after."""
    identity = DeviceIdentity("veh-9", "test-region", pb.DEVICE_ROLE_VEHICLE_GATEWAY)
    settings = UplinkSettings(MqttConnection(broker.host, broker.port, reconnect_min_s=0.05))
    uplink = UplinkPublisher(identity, settings, SqliteOutbox(":memory:"))
    nonces = NonceStore(nonce_path)
    verifier = CommandVerifier(
        CommandTarget("test-region", "veh-9"), [KEY.public_key()], nonces, max_lifetime_s=600
    )
    handlers: dict[str, Handler] = {
        "ping": ping,
        "record": record_unavailable,
        "restart_service": RestartService(restarts),
    }

    def acknowledge(ack: pb.CommandAck) -> None:
        uplink.submit(ack, time.time_ns())

    dispatcher = CommandDispatcher(verifier, handlers, acknowledge)
    uplink.receive_commands(dispatcher.receive)
    task = asyncio.create_task(uplink.run(), name="test-uplink")
    try:
        await asyncio.wait_for(uplink.connected.wait(), 10)
        yield uplink
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        nonces.close()


@contextlib.asynccontextmanager
async def operator(broker: Broker) -> AsyncIterator[aiomqtt.Client]:
    async with aiomqtt.Client(broker.host, broker.port, identifier="operator") as client:
        await client.subscribe(ACK, qos=1)
        yield client


async def ask(client: aiomqtt.Client, payload: bytes, command_id: str) -> pb.CommandAck:
    """Publish ``payload`` and return the ack for ``command_id``."""
    await client.publish(CMD, payload, qos=1)
    async with asyncio.timeout(10):
        async for message in client.messages:
            assert isinstance(message.payload, bytes)
            ack = decode(message.payload).command_ack
            if ack.command_id == command_id:
                return ack
    raise AssertionError("unreachable")


async def test_commands_are_acknowledged_and_refusals_say_why(
    mosquitto: Broker, tmp_path: Path
) -> None:
    restarts = Restarts([])
    other = Ed25519PrivateKey.generate()
    async with commanded_box(mosquitto, tmp_path / "nonces", restarts), operator(mosquitto) as op:
        command = signed_command(KEY)
        ack = await ask(op, envelope_bytes(command), command.command_id)
        assert (ack.result, ack.message) == (pb.ACK_RESULT_DONE, "pong")
        replay = await ask(op, envelope_bytes(command), command.command_id)
        assert replay.result == pb.ACK_RESULT_REJECTED
        assert replay.message.startswith("replayed:")
        forged = signed_command(KEY)
        forged.name = "restart_service"
        ack = await ask(op, envelope_bytes(forged), forged.command_id)
        assert ack.message.startswith("bad_signature:")
        stranger = signed_command(other)
        ack = await ask(op, envelope_bytes(stranger), stranger.command_id)
        assert ack.message.startswith("unknown_key:")
        late = signed_command(KEY, expires_in_s=-5)
        ack = await ask(op, envelope_bytes(late), late.command_id)
        assert ack.message.startswith("expired:")
        restart = signed_command(KEY, "restart_service", arguments={"name": "radio"})
        ack = await ask(op, envelope_bytes(restart), restart.command_id)
        assert ack.result == pb.ACK_RESULT_DONE
        assert restarts.names == ["radio"]
        unknown = signed_command(KEY, "restart_service", arguments={"name": "unknown"})
        ack = await ask(op, envelope_bytes(unknown), unknown.command_id)
        assert ack.result == pb.ACK_RESULT_FAILED
        assert "no such service" in ack.message
        record = signed_command(KEY, "record", arguments={"action": "start"})
        ack = await ask(op, envelope_bytes(record), record.command_id)
        assert (ack.result, ack.message.split(":")[0]) == (pb.ACK_RESULT_FAILED, "not available")
        garbage = await ask(op, b"\x00\x01not protobuf", "")
        assert garbage.message.startswith("malformed:")


async def test_a_replay_is_refused_after_a_restart(mosquitto: Broker, tmp_path: Path) -> None:
    command = signed_command(KEY)
    for expected in (pb.ACK_RESULT_DONE, pb.ACK_RESULT_REJECTED):
        # A new uplink and dispatcher each time, on the same state directory.
        async with (
            commanded_box(mosquitto, tmp_path / "nonces", Restarts([])),
            operator(mosquitto) as op,
        ):
            ack = await ask(op, envelope_bytes(command), command.command_id)
            assert ack.result == expected
    assert ack.message.startswith("replayed:")
