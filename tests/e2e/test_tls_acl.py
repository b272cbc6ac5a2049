"""Mutual TLS and per-device ACLs with the shipped Mosquitto configuration (roadgate.acl)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiomqtt
import pytest

from edge.identity import DeviceIdentity
from edge.uplink.outbox import SqliteOutbox
from edge.uplink.publisher import UplinkPublisher
from edge.uplink.settings import UplinkSettings
from protocols.envelope import decode
from protocols.schema.v1 import roadgate_pb2 as pb
from tests.support.certs import Issued, TestPki
from tests.support.mosquitto import Broker, private_mosquitto

pytestmark = [pytest.mark.mosquitto, pytest.mark.asyncio]

PROJECT = Path(__file__).resolve().parents[2]
ACL = PROJECT / "firmware_py" / "deploy" / "mosquitto" / "roadgate.acl"
REGION = "xian-gaoxin"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return TestPki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def tls_broker(tmp_path: Path, pki: TestPki) -> Iterator[Broker]:
    server = pki.issue("localhost", server=True)
    listener = (
        f"cafile {pki.ca_file}\ncertfile {server.cert}\nkeyfile {server.key}\n"
        "tls_version tlsv1.2\nrequire_certificate true\nuse_identity_as_username true\n"
    )
    with private_mosquitto(
        tmp_path, listener_config=listener, anonymous=False, extra_config=f"acl_file {ACL}\n"
    ) as broker:
        yield broker


def tls(pki: TestPki, client: Issued | None) -> aiomqtt.TLSParameters:
    return aiomqtt.TLSParameters(
        ca_certs=str(pki.ca_file),
        certfile=str(client.cert) if client else None,
        keyfile=str(client.key) if client else None,
    )


@contextlib.asynccontextmanager
async def connect(
    broker: Broker, params: aiomqtt.TLSParameters, name: str
) -> AsyncIterator[aiomqtt.Client]:
    async with aiomqtt.Client(
        "127.0.0.1", broker.port, identifier=name, tls_params=params, timeout=5
    ) as client:
        yield client


async def next_message(client: aiomqtt.Client) -> aiomqtt.Message:
    async with asyncio.timeout(10):
        return await anext(client.messages)


async def test_a_device_publishes_over_mutual_tls_as_itself(
    tls_broker: Broker, pki: TestPki
) -> None:
    device, bridge = pki.issue("veh-a"), pki.issue("roadgate-bridge")
    identity = DeviceIdentity("veh-a", REGION, pb.DEVICE_ROLE_VEHICLE_GATEWAY)
    settings = UplinkSettings(port=tls_broker.port, tls=tls(pki, device))
    async with connect(tls_broker, tls(pki, bridge), "bridge") as cloud:
        await cloud.subscribe("rg/v1/#", qos=1)
        with SqliteOutbox(":memory:") as outbox:
            uplink = UplinkPublisher(identity, settings, outbox)
            task = asyncio.create_task(uplink.run())
            try:
                uplink.submit(pb.VehicleState(speed_mps=12.0), 1)
                messages = [await next_message(cloud) for _ in range(2)]
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    got = []
    for message in messages:
        assert isinstance(message.payload, bytes)
        got.append(decode(message.payload))
    assert [e.WhichOneof("body") for e in got] == ["status", "vehicle_state"]
    assert got[1].vehicle_state.speed_mps == 12.0


async def test_a_device_cannot_publish_as_another_nor_read_its_commands(
    tls_broker: Broker, pki: TestPki
) -> None:
    a, b = pki.issue("veh-a"), pki.issue("veh-b")
    bridge, commands = pki.issue("roadgate-bridge"), pki.issue("roadgate-commands")
    async with (
        connect(tls_broker, tls(pki, bridge), "bridge") as cloud,
        connect(tls_broker, tls(pki, commands), "commands") as commander,
        connect(tls_broker, tls(pki, a), "veh-a") as dev_a,
        connect(tls_broker, tls(pki, b), "veh-b") as dev_b,
    ):
        await cloud.subscribe("rg/v1/#", qos=1)
        await dev_a.subscribe(f"rg/v1/{REGION}/veh-b/cmd", qos=1)  # not its own: denied
        await dev_a.subscribe(f"rg/v1/{REGION}/veh-a/cmd", qos=1)
        await dev_b.subscribe(f"rg/v1/{REGION}/veh-b/cmd", qos=1)

        # A spoofs B, then sends on its own topic; the broker keeps per-client order, so if the
        # spoof had passed, the cloud would see it first.
        await dev_a.publish(f"rg/v1/{REGION}/veh-b/state", b"spoof", qos=1)
        await dev_a.publish(f"rg/v1/{REGION}/veh-a/state", b"own", qos=1)
        first = await next_message(cloud)
        assert (str(first.topic), first.payload) == (f"rg/v1/{REGION}/veh-a/state", b"own")

        # A command for B reaches B, and not A (A gets only its own, sent afterwards).
        await commander.publish(f"rg/v1/{REGION}/veh-b/cmd", b"for b", qos=1)
        await commander.publish(f"rg/v1/{REGION}/veh-a/cmd", b"for a", qos=1)
        to_b = await next_message(dev_b)
        to_a = await next_message(dev_a)
    assert to_b.payload == b"for b"
    assert to_a.payload == b"for a"


async def test_clients_without_a_valid_certificate_are_refused(
    tls_broker: Broker, pki: TestPki, tmp_path: Path
) -> None:
    rogue = TestPki(tmp_path / "rogue", name="Rogue CA")
    rogue_client = rogue.issue("veh-a")
    for params in (
        tls(pki, None),  # no client certificate
        aiomqtt.TLSParameters(  # a certificate from another CA
            ca_certs=str(pki.ca_file),
            certfile=str(rogue_client.cert),
            keyfile=str(rogue_client.key),
        ),
    ):
        with pytest.raises(aiomqtt.MqttError):
            async with connect(tls_broker, params, "intruder"):
                pass


async def test_a_broker_with_an_unknown_certificate_is_refused(
    tls_broker: Broker, pki: TestPki, tmp_path: Path
) -> None:
    other = TestPki(tmp_path / "other", name="Other CA")
    client = pki.issue("veh-a")
    params = aiomqtt.TLSParameters(
        ca_certs=str(other.ca_file), certfile=str(client.cert), keyfile=str(client.key)
    )
    with pytest.raises(aiomqtt.MqttError):
        async with connect(tls_broker, params, "veh-a"):
            pass
