"""One builder per role, and the simulated world attached to a built box apart from it."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import uuid
from contextlib import ExitStack
from pathlib import Path

import pytest

from edge.pipelines.roadside_unit import RoadsideUnitPipeline
from edge.pipelines.vehicle_gateway import VehicleGatewayPipeline
from firmware_py.box import BUILDERS, build_box
from firmware_py.box.roadside_unit import build_roadside_unit
from firmware_py.box.vehicle_gateway import build_vehicle_gateway
from firmware_py.config.loader import EXAMPLES_DIR, load_box_config
from firmware_py.config.model import BoxConfig, GnssConfig, Role, SimulationConfig
from firmware_py.errors import FirmwareError
from protocols.schema.v1 import roadgate_pb2 as pb
from tests.support.waiting import eventually


def example(name: str, tmp_path: Path, **changes: object) -> BoxConfig:
    """A shipped example, its outbox in ``tmp_path``, its CAN channels private to the test,
    its broker a port nobody listens on."""
    config = load_box_config(EXAMPLES_DIR / name)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    suffix = uuid.uuid4().hex[:8]
    return dataclasses.replace(
        config,
        can=tuple(dataclasses.replace(b, channel=f"{b.channel}-{suffix}") for b in config.can),
        outbox=dataclasses.replace(config.outbox, path=tmp_path / "outbox.sqlite3"),
        uplink=dataclasses.replace(
            config.uplink,
            mqtt=dataclasses.replace(config.uplink.mqtt, host="127.0.0.1", port=port),
        ),
        **changes,  # type: ignore[arg-type]
    )


def without_simulation(config: BoxConfig) -> BoxConfig:
    assert config.gnss is not None
    return dataclasses.replace(
        config,
        simulation=SimulationConfig(False, ""),
        gnss=dataclasses.replace(config.gnss, port="loop://"),  # pyserial's loopback
    )


def test_every_role_has_a_builder_and_the_config_names_the_role() -> None:
    assert set(BUILDERS) == set(Role)
    assert BUILDERS[Role.VEHICLE_GATEWAY] is build_vehicle_gateway
    assert BUILDERS[Role.ROADSIDE_UNIT] is build_roadside_unit
    config = load_box_config(EXAMPLES_DIR / "vehicle-toyota.toml")
    assert config.device.role is Role.VEHICLE_GATEWAY


def test_a_simulated_vehicle_gateway_gets_its_pipeline_and_its_world(tmp_path: Path) -> None:
    config = example("vehicle-toyota.toml", tmp_path)
    with ExitStack() as stack:
        box = build_box(config, stack)
        assert isinstance(box.pipeline, VehicleGatewayPipeline)
        assert box.uplink.identity.role == pb.DEVICE_ROLE_VEHICLE_GATEWAY
        assert [s.name for s in box.simulators] == ["gnss", "vehicle-can"]
        assert set(box.databases) == {config.can[0].name}
        counters = box.pipeline.health.snapshot().counters
        assert f"can.{config.can[0].name}.rx_frames" in counters
        assert "serial.gnss.rx_lines" in counters or any(
            k.startswith("serial.gnss.") for k in counters
        )


def test_a_simulated_roadside_unit_gets_a_simulated_radar_per_radar(tmp_path: Path) -> None:
    config = example("roadside.toml", tmp_path)
    with ExitStack() as stack:
        box = build_box(config, stack)
        assert isinstance(box.pipeline, RoadsideUnitPipeline)
        assert box.uplink.identity.role == pb.DEVICE_ROLE_ROADSIDE_UNIT
        assert [s.name for s in box.simulators] == [
            "gnss",
            *(f"radar-{radar.sensor}" for radar in config.radars),
        ]


@pytest.mark.parametrize("name", ["vehicle-toyota.toml", "roadside.toml"])
def test_without_simulation_no_world_is_attached(name: str, tmp_path: Path) -> None:
    config = without_simulation(example(name, tmp_path))
    with ExitStack() as stack:
        box = build_box(config, stack)
        assert box.simulators == []


def test_a_simulated_gnss_without_the_simulated_world_is_refused(tmp_path: Path) -> None:
    config = example("vehicle-toyota.toml", tmp_path, simulation=SimulationConfig(False, ""))
    with ExitStack() as stack, pytest.raises(FirmwareError, match="needs \\[simulation\\]"):
        build_box(config, stack)


def test_riding_an_actor_the_world_does_not_have_is_refused(tmp_path: Path) -> None:
    for gnss in (GnssConfig("simulated", 9600, False), None):
        config = example(
            "vehicle-toyota.toml", tmp_path, simulation=SimulationConfig(True, "nobody"), gnss=gnss
        )
        with ExitStack() as stack, pytest.raises(FirmwareError, match="'nobody' is not"):
            build_box(config, stack)


@pytest.mark.asyncio
async def test_a_running_box_names_every_task(tmp_path: Path) -> None:
    config = example("vehicle-toyota.toml", tmp_path)
    device = config.device.device_id
    with ExitStack() as stack:
        box = build_box(config, stack)
        before = asyncio.all_tasks()
        task = asyncio.create_task(box.run(), name="box-under-test")
        try:
            await eventually(
                lambda: (
                    {f"{device}-sim-gnss", f"{device}-sim-vehicle-can", f"box-{device}"}
                    <= {t.get_name() for t in asyncio.all_tasks()}
                )
            )
            # The box's simulated car is heard: the pipeline's state flows into the outbox.
            await eventually(lambda: box.pipeline.counters["can_frames"] > 0)
            names = {t.get_name() for t in asyncio.all_tasks() - before if not t.done()}
            unnamed = {n for n in names if n.startswith("Task-")}
            assert unnamed == set()
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
