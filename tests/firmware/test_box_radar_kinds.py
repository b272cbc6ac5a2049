"""``[[radar]] kind``: a roadside unit takes a Delphi ESR as it takes an ARS408; another kind
is a one-line config error."""

from __future__ import annotations

import dataclasses
import math
from contextlib import ExitStack
from pathlib import Path

import pytest

from edge.pipelines.roadside_unit import RoadsideUnitPipeline
from firmware_py.box import build_box
from firmware_py.config.loader import EXAMPLES_DIR, load_box_config
from firmware_py.errors import ConfigError
from hal.can.frames import make_batch
from protocols.radar import load_radar_definition, shipped_definition
from protocols.schema.v1 import roadgate_pb2 as pb
from tests.firmware.test_box_builders import example, without_simulation

# The DBC the ESR definition names, as the box loads it.
ESR_DB = load_radar_definition(shipped_definition("delphi_esr")).database
# (track slot, range m, azimuth deg clockwise, range rate m/s)
SCENE = [(5, 30.0, 0.0, -4.0), (40, 50.0, 10.0, 2.0)]
METRES_PER_DEG_LAT = 110_900.0  # near 34 deg N, within 0.2 %


def _roadside_toml(tmp_path: Path, radar_lines: str) -> Path:
    """The shipped roadside example with its ``kind = "ars408"`` line replaced."""
    text = (EXAMPLES_DIR / "roadside.toml").read_text()
    assert 'kind = "ars408"\n' in text
    path = tmp_path / "box.toml"
    path.write_text(text.replace('kind = "ars408"\n', radar_lines))
    return path


def _esr_scan(scan: int) -> list[tuple[int, bytes]]:
    """ESR_Status then Target1..Target64; slots not in ``SCENE`` say "no target"."""
    status = ESR_DB.get_message_by_name("ESR_Status")
    header = dict.fromkeys((s.name for s in status.signals), 0) | {"CAN_TX_SCAN_INDEX": scan}
    frames = [(status.frame_id, bytes(status.encode(header, strict=False)))]
    tracks = {slot: rest for slot, *rest in SCENE}
    for slot in range(1, 65):
        message = ESR_DB.get_message_by_name(f"Target{slot}")
        values: dict[str, float] = dict.fromkeys((s.name for s in message.signals), 0.0)
        if slot in tracks:
            distance, angle, rate = tracks[slot]
            values |= {
                "CAN_TX_TRACK_STATUS": 3,  # updated target
                "CAN_TX_TRACK_RANGE": distance,
                "CAN_TX_TRACK_ANGLE": angle,
                "CAN_TX_TRACK_RANGE_RATE": rate,
            }
        frames.append((message.frame_id, bytes(message.encode(values))))
    return frames


def test_a_delphi_esr_radar_loads_from_the_config(tmp_path: Path) -> None:
    path = _roadside_toml(tmp_path, 'kind = "delphi_esr"\n')
    path.write_text(path.read_text().replace("[simulation]\nenabled = true\n", ""))
    config = load_box_config(path)
    assert [radar.kind for radar in config.radars] == ["delphi_esr"]


def test_a_simulated_box_refuses_a_radar_the_simulation_cannot_emulate(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"radar\[0\]\.kind = 'delphi_esr' cannot be simulated"):
        load_box_config(_roadside_toml(tmp_path, 'kind = "delphi_esr"\n'))


@pytest.mark.parametrize(
    ("lines", "match"),
    [
        ('kind = "smartmicro"\n', r"radar\[0\]\.kind.*'ars408', 'delphi_esr'"),
        ('kind = "delphi_esr"\nsensor_id = 1\n', r"radar\[0\]\.sensor_id"),
    ],
)
def test_an_unknown_radar_kind_or_an_esr_sensor_id_is_a_one_line_error(
    tmp_path: Path, lines: str, match: str
) -> None:
    text = _roadside_toml(tmp_path, lines).read_text()
    path = tmp_path / "bad.toml"
    # The example sets sensor_id = 0; the second case sets it again, so drop the example's.
    path.write_text(text.replace("sensor_id = 0\n", "", 1) if "sensor_id = 1" in lines else text)
    with pytest.raises(ConfigError, match=match) as caught:
        load_box_config(path)
    assert "\n" not in str(caught.value)


def test_a_roadside_unit_with_an_esr_publishes_its_tracks_placed(tmp_path: Path) -> None:
    config = example("roadside.toml", tmp_path)
    esr = tuple(dataclasses.replace(r, kind="delphi_esr") for r in config.radars)
    raw = dataclasses.replace(config.perception, raw_object_lists=True)
    config = without_simulation(dataclasses.replace(config, radars=esr, perception=raw))
    (radar,) = config.radars
    with ExitStack() as stack:
        box = build_box(config, stack)
        assert isinstance(box.pipeline, RoadsideUnitPipeline)
        frames = _esr_scan(7) + _esr_scan(8)[:1]  # the next scan's header closes nothing
        batch = make_batch([(1.0 + i * 1e-4, fid, data) for i, (fid, data) in enumerate(frames)])
        box.pipeline.on_can_batch(radar.bus, batch)
        lists = [
            envelope.object_list
            for envelope in (
                pb.Envelope.FromString(entry.body) for entry in box.uplink.outbox.peek(100)
            )
            if envelope.WhichOneof("body") == "object_list"
            and envelope.object_list.kind == pb.OBJECT_LIST_KIND_SENSOR
        ]
    (objects,) = lists
    assert (objects.sensor_id, objects.cycle_counter) == (radar.sensor, 7)
    assert [obj.object_id for obj in objects.objects] == [5, 40]
    for obj, (_, distance, angle, rate) in zip(objects.objects, SCENE, strict=True):
        azimuth = -math.radians(angle)  # clockwise-positive on the wire, y to the left
        assert obj.x_m == pytest.approx(distance * math.cos(azimuth), abs=0.1)
        assert obj.y_m == pytest.approx(distance * math.sin(azimuth), abs=0.1)
        assert obj.vx_mps == pytest.approx(rate * math.cos(azimuth), abs=0.01)
        # The radar looks south (heading 180): forward is south, left is east.
        assert radar.heading_deg == 180.0
        north_m = (obj.position.latitude_deg - radar.position.latitude_deg) * METRES_PER_DEG_LAT
        east_m = (
            (obj.position.longitude_deg - radar.position.longitude_deg)
            * METRES_PER_DEG_LAT
            * math.cos(math.radians(radar.position.latitude_deg))
        )
        assert north_m == pytest.approx(-obj.x_m, abs=0.5)
        assert east_m == pytest.approx(obj.y_m, abs=0.5)
