"""`roadgate bridge --http`: the real bridge process, a real Mosquitto, the API and the live
stream showing what the bridge stored as it stores it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import httpx
import pytest
from websockets.asyncio.client import connect

from cloud_bridge.web.api_keys import hash_key
from protocols.schema.v1 import roadgate_pb2 as pb
from tests.cloud_bridge.web.support import Sequencer, fused, rsu_status, spat
from tests.support.mosquitto import Broker, free_port

pytestmark = pytest.mark.mosquitto

PROJECT = Path(__file__).resolve().parents[3]
REGION = "web-it"
KEY = "integration-key-" + "q" * 27


@pytest.fixture
def bridge(mosquitto: Broker, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    config = tmp_path / "bridge.toml"
    config.write_text(
        f"""
[mqtt]
host = "127.0.0.1"
port = {mosquitto.port}
client_id = "web-it-bridge-{port}"
[bridge]
store = "{tmp_path / "store.sqlite3"}"
[web]
listen = "127.0.0.1:1"  # overridden by --http
[web.api_keys]
{REGION} = ["{hash_key(KEY)}"]
"""
    )
    log = (tmp_path / "bridge.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "firmware_py.cli",
            "bridge",
            "--config",
            str(config),
            "--http",
            f"127.0.0.1:{port}",
        ],
        cwd=PROJECT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (tmp_path / "bridge.log").read_text()
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "bridge.log").read_text()
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        assert process.wait(timeout=20) == 0, (tmp_path / "bridge.log").read_text()


async def publish(broker_port: int, messages: list[tuple[str, bytes]]) -> None:
    async with aiomqtt.Client("127.0.0.1", broker_port, identifier="web-it-device") as client:
        for topic, payload in messages:
            await client.publish(topic, payload, qos=1)


def wire(seq: Sequencer, body: object) -> tuple[str, bytes]:
    accepted = seq.next(body)  # type: ignore[arg-type]
    return str(accepted.topic), accepted.payload


@pytest.mark.asyncio
async def test_the_bridge_serves_what_it_stores_and_streams_it_live(
    bridge: str, mosquitto: Broker
) -> None:
    # Capture times of now: the bridge flags times far from its clock, and "newest" skips them.
    rsu = Sequencer(REGION, "rsu-web-it", t0_ns=time.time_ns())
    await publish(mosquitto.port, [wire(rsu, rsu_status()), wire(rsu, spat(pb.SIGNAL_STATE_RED))])
    http = httpx.AsyncClient(base_url=bridge, headers={"X-API-Key": KEY}, timeout=5)
    deadline = time.monotonic() + 20
    while not (devices := (await http.get(f"/api/v1/regions/{REGION}/devices")).json()["items"]):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    assert devices[0]["device_id"] == "rsu-web-it"
    assert devices[0]["liveness"] == "LIVENESS_ONLINE"
    async with connect(bridge.replace("http", "ws") + f"/api/v1/regions/{REGION}/live") as ws:
        await ws.send(json.dumps({"key": KEY}))
        seen = [json.loads(await asyncio.wait_for(ws.recv(), 10)) for _ in range(3)]
        assert [m["stream"] for m in seen] == ["hello", "status", "spat"]
        await publish(
            mosquitto.port, [wire(rsu, fused(3.5)), wire(rsu, spat(pb.SIGNAL_STATE_GREEN))]
        )
        live = [json.loads(await asyncio.wait_for(ws.recv(), 10)) for _ in range(2)]
    assert [m["stream"] for m in live] == ["objects", "spat"]
    assert live[1]["body"]["phases"][0]["state"] == "SIGNAL_STATE_GREEN"
    spat_now = await http.get(f"/api/v1/regions/{REGION}/spat")
    await http.aclose()
    assert spat_now.json()["items"][0]["body"]["phases"][0]["state"] == "SIGNAL_STATE_GREEN"
