"""The bridge over mutual TLS, against the shipped Mosquitto conf and the ACL of
``roadgate broker acl``: it stores what a device publishes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import aiomqtt
import pytest

from cloud_bridge.service import BridgeService
from cloud_bridge.settings import BRIDGE_MQTT, BridgeSettings
from cloud_bridge.store import SqliteStore
from protocols.mqtt_connection import MqttTls
from tests.cloud_bridge.factories import envelope, topic
from tests.cloud_bridge.running import running_bridge
from tests.support.certs import Issued, TestPki
from tests.support.mosquitto import Broker
from tests.support.shipped_broker import shipped_mosquitto_for
from tests.support.waiting import eventually

pytestmark = [pytest.mark.mosquitto, pytest.mark.asyncio]

REGION = "xian-gaoxin"
REGISTRY = f"""
[[device]]
id = "veh-a"
region = "{REGION}"
"""


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return TestPki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def tls_broker(tmp_path: Path, pki: TestPki) -> Iterator[Broker]:
    with shipped_mosquitto_for(tmp_path, pki, REGISTRY) as broker:
        yield broker


def _settings(broker: Broker, pki: TestPki, who: Issued, tmp_path: Path) -> BridgeSettings:
    tls = MqttTls(str(pki.ca_file), str(who.cert), str(who.key))
    mqtt = replace(BRIDGE_MQTT, port=broker.port, tls=tls)
    return BridgeSettings(mqtt, tmp_path / "bridge.sqlite3", region=REGION)


async def test_the_bridge_stores_over_mutual_tls(
    tls_broker: Broker, pki: TestPki, tmp_path: Path
) -> None:
    settings = _settings(tls_broker, pki, pki.issue("roadgate-bridge"), tmp_path)
    device = pki.issue("veh-a")
    service = BridgeService(settings)
    async with running_bridge(service):
        params = aiomqtt.TLSParameters(
            ca_certs=str(pki.ca_file), certfile=str(device.cert), keyfile=str(device.key)
        )
        async with aiomqtt.Client(
            "127.0.0.1", tls_broker.port, identifier="veh-a", tls_params=params
        ) as publisher:
            for sequence in (1, 2, 3):
                payload = envelope("veh-a", sequence).SerializeToString()
                await publisher.publish(topic("veh-a", region=REGION), payload, qos=1)
        await eventually(lambda: service.stats.stored == 3, what="3 stored over TLS")
    with SqliteStore(settings.store_path) as store:
        assert [m.sequence for m in store.messages("veh-a")] == [1, 2, 3]
