"""``[replay]`` and the ``replay_equal`` expectation (issue 18, item 3): the loader's rules, the
comparison on synthetic runs (what passes, what fails and what it says), and the bench's
recorder switch on a real box config. The run itself, on vcan in user-mode-linux, is the
``roadside-replay`` scenario of ``tests/hil/test_hil_bench.py``."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from edge.recording.log_format import ChannelSpec, Kind
from edge.recording.reader import CanItem
from firmware_py.config.loader import load_box_config
from firmware_py.simulation.world import INTERSECTION
from hal.can.frames import make_batch
from hil.clock import ScenarioClock
from hil.commands import SCENARIO_DIR
from hil.errors import HilError, ScenarioError
from hil.recording import Received, Recording, ReplayOutcome
from hil.replay_phase import with_recorder
from hil.replay_rerun import Batches, rerun_objects, retimed
from hil.runner import render_box_config
from hil.scenario_engine import (
    ExpectEvent,
    ExpectReplayEqual,
    ExpectReplayRerunEqual,
    ReplaySpec,
    Scenario,
    load_scenario,
    parse_scenario,
)
from hil.scenario_engine.expectations_replay import content, rerun_content
from hil.world import GroundTruth
from protocols.radar.ars408 import ars408_database, encode_object_list
from protocols.radar.objects import RadarObject
from protocols.schema.v1 import roadgate_pb2 as pb

DEVICE = "rsu-hil-001"
TOPIC = f"rg/v1/hil/{DEVICE}"
SHIFT_S = 8.0

BASE = """
[scenario]
duration_s = 4.0
box = "configs/roadside-two-radars.toml"

[[emulator]]
kind = "ars408"
name = "radar0"
channel = "vcan1"
sensor_id = 0
latitude_deg = 34.22386
longitude_deg = 108.8905
heading_deg = 180.0
"""


def parse(text: str) -> Scenario:
    # Relative paths as in the shipped scenarios' folder.
    return parse_scenario(tomllib.loads(text), SCENARIO_DIR / "x.toml")


def test_replay_has_defaults_and_replay_equal_its_keys() -> None:
    scenario = parse(
        BASE + '[replay]\n[[expect]]\nkind = "replay_equal"\nstream = "objects"\nsensor = "fused"\n'
        'position_tolerance_m = 0.5\n[[expect]]\nkind = "replay_equal"\nstream = "events"\n'
        'event_type = "SPEEDING"\n'
    )
    assert scenario.replay == ReplaySpec(speed=1.0, settle_s=2.0)
    assert scenario.expectations == (
        ExpectReplayEqual(stream="objects", sensor="fused", position_tolerance_m=0.5),
        ExpectReplayEqual(stream="events", event_type="SPEEDING"),
    )


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[[expect]]\nkind = "replay_equal"\nstream = "objects"\n', "kind"),
        ('[replay]\n[[expect]]\nkind = "replay_equal"\nstream = "health"\n', "stream"),
        ('[replay]\n[[expect]]\nkind = "replay_equal"\nstream = "state"\n', "stream"),
        (
            '[replay]\n[[expect]]\nkind = "replay_equal"\nstream = "events"\nsensor = "x"\n',
            "sensor",
        ),
        (
            '[replay]\n[[expect]]\nkind = "replay_equal"\nstream = "objects"\n'
            'event_type = "SPEEDING"\n',
            "event_type",
        ),
        ('[[expect]]\nkind = "replay_rerun_equal"\nstream = "objects"\n', "kind"),
        ('[replay]\n[[expect]]\nkind = "replay_rerun_equal"\nstream = "spat"\n', "stream"),
        ("[replay]\nspeed = 0\n", "speed"),
        ("[replay]\nwait = 1\n", "wait"),
        (
            '[[fault]]\nkind = "interface_down"\ntarget = "vcan1"\nat_s = 1\nduration_s = 1\n'
            "[replay]\n",
            "speed",
        ),
        ('[[emulator]]\nkind = "cv2x_radio"\nname = "radio0"\n[replay]\n', "speed"),
    ],
)
def test_every_mistake_names_the_key(text: str, key: str) -> None:
    with pytest.raises(ScenarioError, match=rf"\b{key}\b"):
        parse(BASE + text)


def test_the_shipped_replay_scenario_replays_and_compares_what_its_inputs_drive() -> None:
    scenario = load_scenario(SCENARIO_DIR / "roadside-replay.toml")
    assert scenario.replay == ReplaySpec(speed=1.0, settle_s=1.0)
    assert [e for e in scenario.expectations if isinstance(e, ExpectReplayEqual)] == [
        # each radar's own lists: exactly (two on one bus: their fused lists must not depend
        # on how the reader batched the frames)
        ExpectReplayEqual(stream="objects", sensor="radar0"),
        ExpectReplayEqual(stream="objects", sensor="radar1"),
    ]
    assert [e for e in scenario.expectations if isinstance(e, ExpectReplayRerunEqual)] == [
        ExpectReplayRerunEqual(stream="objects"),
        ExpectReplayRerunEqual(stream="events", event_type="SPEEDING"),
    ]
    # ... and the event compared is raised at all.
    assert any(isinstance(e, ExpectEvent) for e in scenario.expectations)


def test_the_bench_turns_the_recorder_on_and_refuses_one_that_waits(tmp_path: Path) -> None:
    template = load_scenario(SCENARIO_DIR / "roadside-replay.toml").box_template
    values = {"mqtt_host": "127.0.0.1", "mqtt_port": "1883", "gnss_gnss0": str(tmp_path / "g")}
    path = render_box_config(template, values, tmp_path / "box.toml")
    assert not load_box_config(path).recorder.configured
    config = with_recorder(path, load_box_config)
    assert config.recorder.enabled
    assert config.recorder.recordings_dir(config.outbox.path) == tmp_path / "recordings"
    assert with_recorder(path, load_box_config) == config  # once only
    path.write_text(path.read_text().replace("enabled = true", "enabled = false"))
    with pytest.raises(HilError, match="record from the start"):
        with_recorder(path, load_box_config)


# --- the comparison ---------------------------------------------------------------------------


def object_list(
    sequence: int,
    *,
    sensor: str = "fused",
    x_m: float = 10.0,
    oid: int = 1,
    boot: str = "field",
    shift_s: float = 0.0,
) -> pb.Envelope:
    capture_ns = round((1_700_000_000.0 + sequence * 0.036 + shift_s) * 1e9)
    envelope = pb.Envelope(
        device_id=DEVICE,
        boot_id=boot,
        sequence=sequence,
        capture_time_ns=capture_ns,
        publish_time_ns=capture_ns + 3_000_000,
    )
    envelope.object_list.sensor_id = sensor
    obj = envelope.object_list.objects.add(object_id=oid, x_m=x_m, y_m=2.0, speed_mps=10.0)
    obj.age_s = 0.5 + shift_s  # a time field
    obj.position.latitude_deg = 34.2237
    return envelope


def speeding(sequence: int, *, boot: str = "field", description: str = "71 km/h") -> pb.Envelope:
    envelope = pb.Envelope(device_id=DEVICE, boot_id=boot, sequence=sequence)
    envelope.event.type = pb.EVENT_TYPE_SPEEDING
    envelope.event.description = description
    envelope.event.position.latitude_deg = 34.2237
    return envelope


def received(envelope: pb.Envelope, stream: str) -> Received:
    return Received(1.0, f"{TOPIC}/{stream}", stream, DEVICE, False, envelope)


def recording(
    recorded: list[tuple[str, pb.Envelope]], replayed: list[Received], *, failed: int = 0
) -> Recording:
    clock = ScenarioClock(t0_monotonic=0.0, t0_unix=1_700_000_000.0)
    run = Recording("s", DEVICE, clock, GroundTruth(INTERSECTION, {}), 4.0)
    run.replay = ReplayOutcome(
        recorded=recorded,
        messages=replayed,
        shift_s=SHIFT_S,
        speed=1.0,
        sent=100,
        failed=failed,
        skipped=0,
    )
    return run


def field_and_replay(
    n: int = 5, *, x_m: float = 10.0, oid: int = 1
) -> tuple[list[tuple[str, pb.Envelope]], list[Received]]:
    """``n`` recorded lists of each kind and their replay (boot "replay", shifted by SHIFT_S,
    sequence numbers of its own), list 2's fused list changed as given."""
    recorded, replayed = [], []
    for i in range(n):
        for k, sensor in enumerate(("radar0", "fused")):
            changed = i == 2 and sensor == "fused"
            sequence = 10 + 2 * i + k
            recorded.append((f"{TOPIC}/objects", object_list(sequence, sensor=sensor)))
            again = object_list(
                sequence,
                sensor=sensor,
                boot="replay",
                shift_s=SHIFT_S,
                x_m=x_m if changed else 10.0,
                oid=oid if changed else 1,
            )
            again.sequence += 500
            replayed.append(received(again, "objects"))
    return recorded, replayed


def test_lists_equal_but_for_time_fields_pass_and_the_receive_lateness_is_reported() -> None:
    run = recording(*field_and_replay())
    verdict = ExpectReplayEqual(stream="objects", sensor="fused").check(run)
    assert verdict.passed, verdict.measured
    assert verdict.measured.startswith("5 recorded, 5 replayed, 5 equal")
    assert "player sent 100 items" in verdict.measured
    assert "minus the shift (8.00 s): median 0.00 ms" in verdict.measured


def test_a_different_position_fails_exactly_and_says_where() -> None:
    run = recording(*field_and_replay(x_m=10.001))
    verdict = ExpectReplayEqual(stream="objects", sensor="fused").check(run)
    assert not verdict.passed
    assert "5 recorded, 5 replayed, 4 equal" in verdict.measured
    assert "first difference at #2: x_m: 10.0 | x_m: 10.001" in verdict.measured
    # The other sensor's lists are not that list.
    assert ExpectReplayEqual(stream="objects", sensor="radar0").check(run).passed


def test_with_a_tolerance_kinematics_may_differ_within_it_but_nothing_else() -> None:
    near = recording(*field_and_replay(x_m=10.3))
    check = ExpectReplayEqual(stream="objects", sensor="fused", position_tolerance_m=0.5)
    verdict = check.check(near)
    assert verdict.passed, verdict.measured
    assert "positions at most 0.3 m apart" in verdict.measured
    assert not check.check(recording(*field_and_replay(x_m=10.6))).passed
    other_id = check.check(recording(*field_and_replay(oid=2)))
    assert not other_id.passed
    assert "object_id: 1 | object_id: 2" in other_id.measured


def test_a_list_missing_or_extra_fails() -> None:
    recorded, replayed = field_and_replay()
    fewer = ExpectReplayEqual(stream="objects").check(recording(recorded, replayed[:-1]))
    assert not fewer.passed
    assert "10 recorded, 9 replayed, 9 equal" in fewer.measured
    more = ExpectReplayEqual(stream="objects").check(recording(recorded[:-1], replayed))
    assert not more.passed


def test_a_message_delivered_twice_counts_once_and_other_devices_not_at_all() -> None:
    recorded, replayed = field_and_replay()
    stranger = Received(
        1.0, "rg/v1/hil/other/objects", "objects", "other", False, replayed[0].envelope
    )
    verdict = ExpectReplayEqual(stream="objects").check(
        recording(recorded + recorded[:1], [*replayed, replayed[3], stranger])
    )
    assert verdict.passed, verdict.measured


def test_events_of_one_type_compare_without_kinematics_when_told() -> None:
    fault = pb.Envelope(device_id=DEVICE, boot_id="field", sequence=3)
    fault.event.type = pb.EVENT_TYPE_SENSOR_FAULT
    recorded = [(f"{TOPIC}/events", speeding(2)), (f"{TOPIC}/events", fault)]
    replayed = [received(speeding(7, boot="replay", description="72 km/h"), "events")]
    exact = ExpectReplayEqual(stream="events", event_type="SPEEDING").check(
        recording(recorded, replayed)
    )
    assert not exact.passed
    assert 'description: "71 km/h" | description: "72 km/h"' in exact.measured
    tolerant = ExpectReplayEqual(stream="events", event_type="SPEEDING", position_tolerance_m=1.0)
    assert tolerant.check(recording(recorded, replayed)).passed
    # Every type: the SENSOR_FAULT is missing.
    assert not ExpectReplayEqual(stream="events").check(recording(recorded, replayed)).passed


def test_nothing_recorded_or_no_replay_fails_and_says_so() -> None:
    empty = ExpectReplayEqual(stream="events").check(recording([], []))
    assert not empty.passed
    assert "nothing to compare" in empty.measured
    run = recording([], [])
    run.replay = None
    assert "not replayed" in ExpectReplayEqual(stream="events").check(run).measured


def test_content_clears_only_time_fields_unless_kinematics_go_too() -> None:
    envelope = object_list(3, shift_s=1.0)
    cleared = content(envelope)
    assert (cleared.boot_id, cleared.sequence, cleared.capture_time_ns) == ("", 0, 0)
    assert cleared.object_list.objects[0].age_s == 0.0
    assert cleared.object_list.objects[0].x_m == 10.0
    assert content(envelope, kinematics=False).object_list.objects[0].x_m == 0.0
    assert envelope.sequence == 3  # the original is left as it was


# --- the re-run ------------------------------------------------------------------------------


def can_item(frames: list[tuple[float, int, bytes]], bus: str = "radar") -> CanItem:
    batch = make_batch(frames)
    return CanItem(ChannelSpec(Kind.CAN, bus), float(batch["timestamp"][0]), batch)


def test_retimed_gives_the_replayed_reads_the_recorded_times_or_says_what_differs() -> None:
    recorded = [can_item([(1.0, 0x60A, b"\x01"), (1.1, 0x60B, b"\x02\x03")])]
    # The same frames, read in two batches, 8 s later.
    replayed = [can_item([(9.0, 0x60A, b"\x01")]), can_item([(9.2, 0x60B, b"\x02\x03")])]
    reads = retimed(replayed, recorded)
    assert not isinstance(reads, str)
    assert [(bus, frames["timestamp"].tolist()) for bus, frames in reads] == [
        ("radar", [1.0]),
        ("radar", [1.1]),
    ]
    assert replayed[1].frames["timestamp"][0] == 9.2  # the log's items are left as they were
    other = [can_item([(9.0, 0x60A, b"\x01"), (9.1, 0x60B, b"\x02\x04")])]
    assert (
        retimed(other, recorded) == "bus radar: frame 1 differs (id 0x60b recorded, 0x60b replayed)"
    )
    assert retimed(other[:0], recorded) == "buses ['radar'] recorded, [] replayed"
    fewer = [can_item([(9.0, 0x60A, b"\x01")])]
    assert retimed(fewer, recorded) == "bus radar: 2 frames recorded, 1 replayed"


def rerun_outcome(
    recorded: list[pb.Envelope],
    published: list[pb.Envelope],
    own: list[pb.Envelope],
    at_recorded: list[pb.Envelope],
) -> Recording:
    run = recording(
        [(f"{TOPIC}/objects", e) for e in recorded], [received(e, "objects") for e in published]
    )
    assert run.replay is not None
    run.replay.rerun_own_times = own
    run.replay.rerun_recorded_times = at_recorded
    return run


def test_the_rerun_must_give_both_runs_lists_exactly_capture_times_included() -> None:
    field = [object_list(i) for i in range(4)]
    replayed = [object_list(i, boot="replay", shift_s=SHIFT_S, x_m=10.2) for i in range(4)]
    rerun_own = [object_list(i, boot="rerun", shift_s=SHIFT_S, x_m=10.2) for i in range(4)]
    rerun_field = [object_list(i, boot="rerun2") for i in range(4)]
    check = ExpectReplayRerunEqual(stream="objects", sensor="fused")
    verdict = check.check(rerun_outcome(field, replayed, rerun_own, rerun_field))
    assert verdict.passed, verdict.measured
    assert verdict.measured == (
        "the same frames in the same order; re-run at its receive times: 4 of 4 equal "
        "(4 re-run); at the recorded ones: 4 of 4 equal (4 re-run)"
    )
    # A capture time off by a microsecond at the recorded times is a failure.
    late = [object_list(i, boot="rerun2", shift_s=1e-6 * (i == 1)) for i in range(4)]
    failed = check.check(rerun_outcome(field, replayed, rerun_own, late))
    assert not failed.passed
    assert "at the recorded ones: 3 of 4 equal" in failed.measured
    assert "first difference at #1: capture_time_ns" in failed.measured
    # And so is a list the replayed daemon published that the re-run does not give.
    assert not check.check(rerun_outcome(field, replayed, rerun_own[:3], rerun_field)).passed


def test_the_rerun_check_fails_on_other_frames_a_failed_rerun_or_none() -> None:
    field = [object_list(0)]
    run = rerun_outcome(field, field, field, field)
    assert run.replay is not None
    check = ExpectReplayRerunEqual(stream="objects")
    assert check.check(run).passed
    run.replay.inputs_difference = "bus radar: 2 frames recorded, 1 replayed"
    assert "read other frames: bus radar" in check.check(run).measured
    run.replay.rerun_error = "FirmwareError: no DBC"
    assert check.check(run).measured == "re-run failed: FirmwareError: no DBC"
    run.replay.rerun_error = run.replay.inputs_difference = None
    run.replay.rerun_own_times = None
    assert not check.check(run).passed


def radar_reads(cycles: int, per_read: int) -> Batches:
    """``cycles`` of radar0 (a car 30 m ahead closing at 10 m/s) as ARS408 frames 72 ms
    apart, each cycle's frames 0.1 ms apart, in reads of ``per_read`` frames."""
    db = ars408_database()
    frames: list[tuple[float, int, bytes]] = []
    for cycle in range(cycles):
        car = RadarObject(1, 30.0 - 0.72 * cycle, 0.5, -10.0, 0.0, 2, 10.0, obj_class=1)
        t0 = 1_800_000_000.0 + 0.072 * cycle
        encoded = encode_object_list(db, 0, 2 * cycle, [car])
        frames += [(t0 + 1e-4 * k, i, data) for k, (i, data) in enumerate(encoded)]
    batch = make_batch(frames)
    return [("radar", batch[k : k + per_read]) for k in range(0, len(batch), per_read)]


def test_a_rerun_gives_one_radars_lists_again_however_its_frames_were_read(
    tmp_path: Path,
) -> None:
    template = load_scenario(SCENARIO_DIR / "roadside-replay.toml").box_template
    values = {"mqtt_host": "127.0.0.1", "mqtt_port": "1883", "gnss_gnss0": str(tmp_path / "g")}
    config = load_box_config(render_box_config(template, values, tmp_path / "box.toml"))
    one_by_one = rerun_objects(config, radar_reads(30, per_read=1))
    in_bulk = rerun_objects(config, radar_reads(30, per_read=64))
    sensors = [e.object_list.sensor_id for e in one_by_one]
    assert sensors.count("radar0") == 30
    assert sensors.count("fused") == 30
    assert any(e.object_list.objects for e in one_by_one if e.object_list.sensor_id == "fused")
    assert [rerun_content(e) for e in in_bulk] == [rerun_content(e) for e in one_by_one]
