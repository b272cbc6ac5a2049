"""The shipped Mosquitto configuration (roadgate.conf) with an ACL from ``roadgate broker acl``:
mutual TLS, each device confined to its own topics in its own region, the services to theirs,
and the packet size limit."""

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
from protocols.mqtt_connection import MqttConnection, MqttTls
from protocols.schema.v1 import roadgate_pb2 as pb
from tests.support.certs import Issued, TestPki
from tests.support.mosquitto import Broker
from tests.support.shipped_broker import shipped_mosquitto_for
from tests.support.waiting import eventually

pytestmark = [pytest.mark.mosquitto, pytest.mark.asyncio]

REGION = "xian-gaoxin"
OTHER_REGION = "xian-qujiang"
REGISTRY = f"""
[[device]]
id = "veh-a"
region = "{REGION}"

[[device]]
id = "veh-b"
region = "{REGION}"

[[device]]
id = "rsu-c"
region = "{OTHER_REGION}"
"""
BRIDGE_MAX_PAYLOAD = 65536  # cloud_bridge.settings.BridgeSettings.max_payload_bytes


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return TestPki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def tls_broker(tmp_path: Path, pki: TestPki) -> Iterator[Broker]:
    """The shipped conf, with the ACL `roadgate broker acl` makes from ``REGISTRY``."""
    with shipped_mosquitto_for(tmp_path, pki, REGISTRY) as broker:
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
    mqtt_tls = MqttTls(str(pki.ca_file), str(device.cert), str(device.key))
    settings = UplinkSettings(MqttConnection(port=tls_broker.port, tls=mqtt_tls))
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


async def test_a_device_writes_only_in_its_own_region(tls_broker: Broker, pki: TestPki) -> None:
    a, bridge = pki.issue("veh-a"), pki.issue("roadgate-bridge")
    async with (
        connect(tls_broker, tls(pki, bridge), "bridge") as cloud,
        connect(tls_broker, tls(pki, a), "veh-a") as dev_a,
    ):
        await cloud.subscribe("rg/v1/#", qos=1)
        # Its own device id, another region: refused. Then its own region, which must be the
        # first thing the bridge sees (the broker keeps a client's order).
        for stream in ("state", "status", "events"):
            await dev_a.publish(f"rg/v1/{OTHER_REGION}/veh-a/{stream}", b"elsewhere", qos=1)
        await dev_a.publish(f"rg/v1/{REGION}/veh-a/state", b"own", qos=1)
        first = await next_message(cloud)
    assert (str(first.topic), first.payload) == (f"rg/v1/{REGION}/veh-a/state", b"own")


async def test_services_cannot_publish_as_devices(tls_broker: Broker, pki: TestPki) -> None:
    a, bridge = pki.issue("veh-a"), pki.issue("roadgate-bridge")
    commands = pki.issue("roadgate-commands")
    async with (
        connect(tls_broker, tls(pki, bridge), "bridge") as cloud,
        connect(tls_broker, tls(pki, commands), "commands") as commander,
        connect(tls_broker, tls(pki, a), "veh-a") as dev_a,
    ):
        await cloud.subscribe("rg/v1/#", qos=1)
        await dev_a.subscribe(f"rg/v1/{REGION}/veh-a/cmd", qos=1)
        # Uplinks of a real device, and of a "device" named like the service itself (which the
        # old `pattern write rg/v1/+/%u/...` rules allowed). Each publish is acknowledged only
        # after the broker has routed it, so anything let through would reach the bridge before
        # the device's own message below.
        for client, name in ((cloud, "roadgate-bridge"), (commander, "roadgate-commands")):
            for device in ("veh-a", name):
                for stream in ("state", "objects", "events", "status", "ack"):
                    await client.publish(f"rg/v1/{REGION}/{device}/{stream}", b"forged", qos=1)
        await cloud.publish(f"rg/v1/{REGION}/veh-a/cmd", b"bridge command", qos=1)
        await dev_a.publish(f"rg/v1/{REGION}/veh-a/state", b"genuine", qos=1)
        await commander.publish(f"rg/v1/{REGION}/veh-a/cmd", b"real command", qos=1)
        first_up = await next_message(cloud)
        first_down = await next_message(dev_a)
    assert (str(first_up.topic), first_up.payload) == (f"rg/v1/{REGION}/veh-a/state", b"genuine")
    assert first_down.payload == b"real command"


async def test_a_certificate_missing_from_the_registry_has_no_access(
    tls_broker: Broker, pki: TestPki
) -> None:
    stranger, a, bridge = pki.issue("veh-z"), pki.issue("veh-a"), pki.issue("roadgate-bridge")
    async with (
        connect(tls_broker, tls(pki, bridge), "bridge") as cloud,
        connect(tls_broker, tls(pki, stranger), "veh-z") as dev_z,
        connect(tls_broker, tls(pki, a), "veh-a") as dev_a,
    ):
        await cloud.subscribe("rg/v1/#", qos=1)
        await dev_z.publish(f"rg/v1/{REGION}/veh-z/state", b"unknown", qos=1)
        await dev_a.publish(f"rg/v1/{REGION}/veh-a/state", b"known", qos=1)
        first = await next_message(cloud)
    assert first.payload == b"known"


async def test_the_broker_refuses_a_packet_over_its_limit(tls_broker: Broker, pki: TestPki) -> None:
    a, bridge = pki.issue("veh-a"), pki.issue("roadgate-bridge")
    topic = f"rg/v1/{REGION}/veh-a/objects"
    largest = bytes(range(256)) * (BRIDGE_MAX_PAYLOAD // 256)  # what the bridge still takes
    async with connect(tls_broker, tls(pki, bridge), "bridge") as cloud:
        await cloud.subscribe("rg/v1/#", qos=1)
        async with connect(tls_broker, tls(pki, a), "veh-a") as dev_a:
            with pytest.raises(aiomqtt.MqttError):  # never acknowledged...
                await dev_a.publish(topic, b"x" * (1024 * 1024), qos=1)
            with pytest.raises(aiomqtt.MqttError, match="Disconnected"):  # ...but disconnected
                await anext(dev_a.messages)
        await eventually(
            lambda: "veh-a disconnected due to oversize packet" in tls_broker.log_path.read_text(),
            what="the broker logs the oversize packet",
        )
        async with connect(tls_broker, tls(pki, a), "veh-a") as dev_a:
            await dev_a.publish(topic, largest, qos=1)
        first = await next_message(cloud)
    assert (str(first.topic), first.payload) == (topic, largest)
