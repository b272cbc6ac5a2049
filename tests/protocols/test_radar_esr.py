"""The Delphi ESR by configuration: ``delphi_esr.toml`` on opendbc's ESR.dbc, a synthetic scene
encoded by cantools (there is no real ESR capture in the corpus)."""

from __future__ import annotations

import math
from pathlib import Path

import cantools
import pytest
from cantools.database.can import Database

from hal.can.frames import make_batch
from protocols.radar import (
    RadarDefinitionError,
    RadarObjectList,
    RadarObjectListAssembler,
    load_radar_definition,
    shipped_definition,
)

ESR = load_radar_definition(shipped_definition("delphi_esr"))
TEST_DBC = Path(__file__).resolve().parents[1] / "data" / "opendbc" / "ESR.dbc"
# (track slot, range m, azimuth deg clockwise, range rate m/s, width m)
SCENE = [(3, 25.3, 4.2, -1.5, 1.5), (17, 60.0, -10.0, 2.25, 2.0), (64, 7.8, 0.0, 0.0, 0.5)]


def _database() -> Database:
    db = cantools.database.load_file(TEST_DBC)
    assert isinstance(db, Database)
    return db


DB = _database()


def _cycle(
    scan: int, scene: list[tuple[int, float, float, float, float]]
) -> list[tuple[int, bytes]]:
    """ESR_Status then Target1..Target64; slots not in ``scene`` are status 0, no target."""
    status = DB.get_message_by_name("ESR_Status")
    header = dict.fromkeys((s.name for s in status.signals), 0) | {"CAN_TX_SCAN_INDEX": scan}
    frames = [(status.frame_id, bytes(status.encode(header, strict=False)))]
    tracks = {slot: rest for slot, *rest in scene}
    for slot in range(1, 65):
        message = DB.get_message_by_name(f"Target{slot}")
        values: dict[str, float] = dict.fromkeys((s.name for s in message.signals), 0.0)
        if slot in tracks:
            distance, angle, rate, width = tracks[slot]
            values |= {
                "CAN_TX_TRACK_STATUS": 3,  # updated target
                "CAN_TX_TRACK_RANGE": distance,
                "CAN_TX_TRACK_ANGLE": angle,
                "CAN_TX_TRACK_RANGE_RATE": rate,
                "CAN_TX_TRACK_WIDTH": width,
            }
        frames.append((message.frame_id, bytes(message.encode(values))))
    return frames


def _feed(
    assembler: RadarObjectListAssembler, frames: list[tuple[int, bytes]], t0: float
) -> list[RadarObjectList]:
    batch = make_batch([(t0 + i * 1e-4, fid, data) for i, (fid, data) in enumerate(frames)])
    return assembler.feed_batch(batch)


def test_esr_scene_comes_out_in_cartesian_with_empty_tracks_dropped() -> None:
    assembler = RadarObjectListAssembler(ESR)
    (lst,) = _feed(assembler, _cycle(41, SCENE), 5.0)
    assert (lst.sensor_id, lst.cycle_counter, lst.timestamp) == (0, 41, 5.0)
    assert [obj.object_id for obj in lst.objects] == [3, 17, 64]
    for obj, (_, distance, angle, rate, width) in zip(lst.objects, SCENE, strict=True):
        azimuth = -math.radians(angle)  # clockwise-positive azimuth, y to the left
        # DBC resolution: range 0.1 m, angle 0.1 deg, range rate 0.01 m/s (half a step each)
        tolerance = 0.05 + distance * math.radians(0.05)
        assert obj.dist_long_m == pytest.approx(distance * math.cos(azimuth), abs=tolerance)
        assert obj.dist_lat_m == pytest.approx(distance * math.sin(azimuth), abs=tolerance)
        assert obj.vrel_long_mps == pytest.approx(rate * math.cos(azimuth), abs=0.01)
        assert obj.vrel_lat_mps == pytest.approx(rate * math.sin(azimuth), abs=0.01)
        assert obj.width_m == width
        assert obj.dyn_prop == 4
        assert obj.rcs_dbsm is None  # the ESR reports none
        assert (obj.obj_class, obj.length_m, obj.prob_of_exist_code) == (None, None, None)
    # The track at -10 deg (counter-clockwise) is on the left: y > 0.
    assert lst.objects[1].dist_lat_m > 0 > lst.objects[0].dist_lat_m
    assert assembler.counters["dropped_objects"] == 61
    assert assembler.counters["cycles"] == 1


def test_partial_and_missed_esr_cycles_are_counted() -> None:
    assembler = RadarObjectListAssembler(ESR)
    first = _cycle(100, SCENE)
    lists = _feed(assembler, first[:40], 0.0)  # the scan is cut after 39 tracks
    lists += _feed(assembler, _cycle(101, SCENE), 0.1)
    lists += _feed(assembler, _cycle(104, SCENE[:1]), 0.2)  # 102 and 103 never arrive
    assert [(lst.cycle_counter, len(lst.objects)) for lst in lists] == [(101, 3), (104, 1)]
    assert assembler.counters["partial_cycles"] == 1
    assert assembler.counters["missed_cycles"] == 2
    # Tracks with no cycle open (104 was complete) are orphans.
    assert _feed(assembler, first[1:3], 0.3) == []
    assert assembler.counters["orphan_frames"] == 2
    assert assembler.flush() is None
    assert assembler.counters["partial_cycles"] == 1
    assert _feed(assembler, first[:3], 0.4) == []  # a scan of 2 of 64 tracks so far
    assert assembler.flush() is None
    assert assembler.counters["partial_cycles"] == 2


def test_tracks_before_any_status_are_orphans() -> None:
    assembler = RadarObjectListAssembler(ESR)
    assert _feed(assembler, _cycle(1, SCENE)[1:5], 0.0) == []
    assert assembler.counters["orphan_frames"] == 4


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "radar.toml"
    path.write_text(text, encoding="utf-8")
    return path


_BASE = """
name = "test"
dbc = "{dbc}"
[sensor]
id_stride = 0
max_id = 0
[cycle]
header = "ESR_Status"
counter = "CAN_TX_SCAN_INDEX"
[objects]
slots = {{ pattern = "Target{{n}}", first = 1, last = 2 }}
[polar]
range = "CAN_TX_TRACK_RANGE"
angle = {{ signal = "CAN_TX_TRACK_ANGLE", unit = "deg" }}
[fields]
vrel_long_mps = {{ signal = "CAN_TX_TRACK_RANGE_RATE", unit = "km/h" }}
vrel_lat_mps = {{ value = 0 }}
dyn_prop = {{ value = 0 }}
rcs_dbsm = {{ value = 0 }}
"""


def test_a_definition_converts_units_and_uses_its_own_slots(tmp_path: Path) -> None:
    definition = load_radar_definition(_write(tmp_path, _BASE.format(dbc=TEST_DBC)))
    assert definition.object_messages == ("Target1", "Target2")
    assert definition.fields["vrel_long_mps"].factor == pytest.approx(1 / 3.6)
    assert definition.counter_modulo == 1 << 16
    assembler = RadarObjectListAssembler(definition)
    frames = _cycle(7, [(2, 10.0, 45.0, 36.0, 1.0)])[:3]  # status, Target1, Target2
    (lst,) = _feed(assembler, frames, 1.0)
    # No drop rule here: the empty Target1 is an object too, at 0 m.
    assert [obj.object_id for obj in lst.objects] == [1, 2]
    target = lst.objects[1]
    # angle_sign defaults to counter-clockwise positive: 45 deg is front left.
    assert target.dist_long_m == pytest.approx(10.0 / math.sqrt(2))
    assert target.dist_lat_m == pytest.approx(10.0 / math.sqrt(2))
    assert target.vrel_long_mps == pytest.approx(10.0)  # 36 "km/h" in this definition
    assert lst.objects[0].dist_long_m == 0.0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('header = "ESR_Status"', 'header = "NoSuch"'), "cycle.header"),
        (('counter = "CAN_TX_SCAN_INDEX"', 'counter = "CAN_TX_NOPE"'), "cycle.counter"),
        (("dyn_prop = { value = 0 }", ""), "'dyn_prop' is required"),
        (('unit = "km/h"', 'unit = "furlong"'), "fields.vrel_long_mps.unit"),
        (("max_id = 0", "max_id = 0\ncolour = 1"), "sensor.colour"),
        (("[polar]", "[polar]\nangle_sign = 2"), "polar.angle_sign"),
    ],
)
def test_a_bad_definition_names_the_key(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    text = _BASE.format(dbc=TEST_DBC)
    assert change[0] in text
    with pytest.raises(RadarDefinitionError, match=message):
        load_radar_definition(_write(tmp_path, text.replace(*change)))


def test_sensor_id_outside_the_definition_is_refused() -> None:
    with pytest.raises(ValueError, match="sensor id"):
        RadarObjectListAssembler(ESR, sensor_id=1)
