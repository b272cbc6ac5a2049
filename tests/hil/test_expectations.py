"""Expectations against synthetic recordings: each kind passes on what a good run records and
fails, with what it measured, on what a bad run records; none raises on odd data."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from edge.geo import GeoPoint
from edge.roadside.signal_plan import FixedTimePlan, SignalGroupPlan
from firmware_py.simulation.world import INTERSECTION, Actor, Phase
from hil.clock import ScenarioClock
from hil.recording import FaultWindow, Received, Recording
from hil.scenario_engine import (
    Expectation,
    ExpectCanReceived,
    ExpectCounter,
    ExpectEvent,
    ExpectGnssReceived,
    ExpectMessages,
    ExpectNoLoss,
    ExpectObjectsNear,
    ExpectRecovery,
    ExpectSpat,
    ExpectTracks,
    ExpectVehicleState,
    Verdict,
    evaluate,
)
from hil.world import GroundTruth
from protocols.schema.v1 import roadgate_pb2 as pb

DEVICE = "veh-001"
CLOCK = ScenarioClock(t0_monotonic=0.0, t0_unix=1_700_000_000.0)
LAG_S = 0.05  # capture to arrival
TRUTH = GroundTruth(
    INTERSECTION,
    {
        # Northbound at 10 m/s, brakes at 5 s for 2 s, then cruises at 4 m/s.
        "ego": Actor(
            "ego",
            "car",
            start_east_m=1.75,
            start_north_m=-100.0,
            heading_deg=0.0,
            speed_mps=10.0,
            phases=(Phase(5.0), Phase(2.0, accel_mps2=-3.0, brake=True), Phase(30.0)),
            length_m=4.6,
            width_m=1.8,
            rcs_dbsm=10.0,
        ),
        # Southbound at 15 m/s in the other lane.
        "other": Actor(
            "other",
            "car",
            start_east_m=-1.75,
            start_north_m=100.0,
            heading_deg=180.0,
            speed_mps=15.0,
            phases=(Phase(40.0),),
            length_m=4.9,
            width_m=1.9,
            rcs_dbsm=12.0,
        ),
    },
)


def unix_ns(t_s: float) -> int:
    return round((CLOCK.t0_unix + t_s) * 1e9)


def position(point: GeoPoint) -> pb.Position:
    return pb.Position(latitude_deg=point.latitude_deg, longitude_deg=point.longitude_deg)


@dataclass
class Run:
    """Builds a Recording message by message; sequences count up per boot as the daemon's do."""

    recording: Recording
    boot: str = "boot-1"

    def __post_init__(self) -> None:
        self.next_seq: dict[str, int] = {}

    def add(
        self,
        stream: str,
        capture_s: float,
        fill: Callable[[pb.Envelope], None],
        *,
        arrival_s: float | None = None,
        device: str = DEVICE,
    ) -> Received:
        seq = self.next_seq.get(self.boot, 1)
        self.next_seq[self.boot] = seq + 1
        envelope = pb.Envelope(
            schema_version=1,
            device_id=device,
            boot_id=self.boot,
            sequence=seq,
            capture_time_ns=unix_ns(capture_s),
        )
        fill(envelope)
        message = Received(
            t_s=capture_s + LAG_S if arrival_s is None else arrival_s,
            topic=f"rg/v1/test/{device}/{stream}",
            stream=stream,
            device_id=device,
            retained=False,
            envelope=envelope,
        )
        self.recording.messages.append(message)
        return message

    def health(self, t_s: float, **counters: int) -> Received:
        def fill(env: pb.Envelope) -> None:
            env.health.uptime_s = t_s
            for name, value in counters.items():
                env.health.counters[name.replace("__", ".")] = value

        return self.add("health", t_s, fill)

    def state(
        self, t_s: float, *, lag_s: float = 0.0, offset_m: float = 0.0, speed_error: float = 0.0
    ) -> Received:
        truth = TRUTH.state("ego", t_s - lag_s)

        def fill(env: pb.Envelope) -> None:
            point = TRUTH.origin.offset(truth.east_m + offset_m, truth.north_m)
            env.vehicle_state.position.CopyFrom(position(point))
            env.vehicle_state.speed_mps = truth.speed_mps + speed_error

        return self.add("state", t_s, fill)

    def objects(
        self,
        t_s: float,
        actors: list[str],
        *,
        sensor: str = "radar0",
        lag_s: float = 0.1,
        offset_m: float = 0.0,
    ) -> Received:
        def fill(env: pb.Envelope) -> None:
            env.object_list.sensor_id = sensor
            for i, actor in enumerate(actors):
                s = TRUTH.state(actor, t_s - lag_s)
                obj = env.object_list.objects.add(object_id=i)
                obj.position.CopyFrom(position(TRUTH.origin.offset(s.east_m + offset_m, s.north_m)))

        return self.add("objects", t_s, fill)

    def event(self, t_s: float, event_type: pb.EventType.ValueType) -> Received:
        def fill(env: pb.Envelope) -> None:
            env.event.type = event_type
            env.event.event_id = f"ev-{t_s}"

        return self.add("events", t_s, fill)


def new_run(duration_s: float = 20.0) -> Run:
    return Run(Recording("test", DEVICE, CLOCK, TRUTH, duration_s))


def check(expectation: Expectation, recording: Recording) -> Verdict:
    verdict = expectation.check(recording)
    assert verdict.expectation == expectation.label()
    assert verdict.measured
    return verdict


def empty() -> Recording:
    return new_run().recording


# --- messages ---------------------------------------------------------------------------------


def state_at_10_hz(run: Run, start: float = 0.0, stop: float = 20.0) -> None:
    for i in range(round(start * 10), round(stop * 10)):
        run.state(i / 10)


def test_messages_rate_and_count() -> None:
    run = new_run()
    state_at_10_hz(run)
    ok = check(ExpectMessages(stream="state", min_rate_hz=8, after_s=2.0), run.recording)
    assert ok.passed, ok
    assert "180 state messages" in ok.measured
    assert "10.00 Hz" in ok.measured
    too_fast = check(ExpectMessages(stream="state", min_rate_hz=12), run.recording)
    assert not too_fast.passed
    too_many = check(ExpectMessages(stream="state", min_count=500), run.recording)
    assert not too_many.passed
    other_stream = check(ExpectMessages(stream="objects"), run.recording)
    assert not other_stream.passed
    assert "0 objects messages" in other_stream.measured


def test_messages_count_each_message_once_and_only_the_daemons() -> None:
    run = new_run()
    first = run.state(1.0)
    run.recording.messages.append(first)  # delivered twice (at least once QoS)
    run.add("state", 1.5, lambda env: None, device="someone-else")
    verdict = check(ExpectMessages(stream="state", min_count=2), run.recording)
    assert not verdict.passed
    assert "1 state messages" in verdict.measured


def test_messages_largest_gap_ignores_gaps_over_faults() -> None:
    run = new_run()
    state_at_10_hz(run, 0.0, 10.0)
    state_at_10_hz(run, 12.0, 20.0)
    gap = ExpectMessages(stream="state", max_gap_s=0.5, after_s=1.0)
    verdict = check(gap, run.recording)
    assert not verdict.passed
    assert "largest gap outside faults 2.10 s (9.95-12.05 s)" in verdict.measured
    run.recording.faults.append(FaultWindow("interface_down", "vcan0", 9.5, 11.0))
    assert check(gap, run.recording).passed


def test_messages_gap_at_the_end_of_the_window_counts() -> None:
    run = new_run()
    state_at_10_hz(run, 0.0, 15.0)
    verdict = check(ExpectMessages(stream="state", max_gap_s=1.0), run.recording)
    assert not verdict.passed
    assert "(14.95-20.00 s)" in verdict.measured


# --- tracks -----------------------------------------------------------------------------------


def radar_lists(run: Run, count: int = 100, *, lag_s: float = 0.1, offset_m: float = 0.0) -> None:
    # Starts just after 1 s: capture times go through Unix ns, so stay off window edges.
    for i in range(count):
        run.objects(1.01 + i * 0.072, ["ego", "other"], lag_s=lag_s, offset_m=offset_m)


def test_tracks_match_the_ground_truth_with_latency() -> None:
    run = new_run()
    radar_lists(run)
    run.objects(2.0, ["ego"], sensor="radar1")  # another sensor's list does not count
    verdict = check(ExpectTracks(sensor="radar0", count=2, after_s=1.0), run.recording)
    assert verdict.passed, verdict
    assert verdict.measured.startswith("100.0 % of 100 lists matched")
    assert "worst error 0.00 m" in verdict.measured
    describe = ExpectTracks(sensor="radar0", count=2, after_s=2.0).describe()
    assert describe.startswith("radar0: 2 tracks within 2 m of the ground truth from 2 s")


def test_tracks_fail_on_the_wrong_count_or_position() -> None:
    run = new_run()
    radar_lists(run)
    wrong_count = check(ExpectTracks(sensor="radar0", count=3), run.recording)
    assert not wrong_count.passed
    assert "100 had a count other than 3" in wrong_count.measured

    far = new_run()
    radar_lists(far, offset_m=5.0)
    verdict = check(ExpectTracks(sensor="radar0", count=2), far.recording)
    assert not verdict.passed
    assert "0.0 % of 100 lists matched" in verdict.measured
    assert "worst error 5.00 m" in verdict.measured
    assert check(
        ExpectTracks(sensor="radar0", count=2, position_tolerance_m=5.5), far.recording
    ).passed


def test_tracks_fail_when_the_daemon_lags_more_than_the_latency_allows() -> None:
    run = new_run()
    radar_lists(run, lag_s=0.6)  # 6 m behind ego at 10 m/s
    assert not check(ExpectTracks(sensor="radar0", count=2), run.recording).passed
    assert check(ExpectTracks(sensor="radar0", count=2, latency_s=0.7), run.recording).passed


def test_tracks_need_a_different_actor_for_each_object() -> None:
    run = new_run()
    for i in range(20):
        run.objects(1.0 + i * 0.1, ["ego", "ego"])  # a split track, and "other" missed
    verdict = check(ExpectTracks(sensor="radar0", count=2), run.recording)
    assert not verdict.passed
    assert "worst error 0.00 m" in verdict.measured  # each object alone is on an actor


def test_tracks_fraction_and_objects_without_position() -> None:
    run = new_run()
    radar_lists(run, count=90)

    def unplaced(env: pb.Envelope) -> None:
        env.object_list.sensor_id = "radar0"
        env.object_list.objects.add(object_id=1)
        env.object_list.objects.add(object_id=2)

    for i in range(10):
        run.add("objects", 10.0 + i * 0.07, unplaced)
    verdict = check(ExpectTracks(sensor="radar0", count=2), run.recording)
    assert not verdict.passed
    assert "90.0 % of 100 lists" in verdict.measured
    assert "20 objects without a position" in verdict.measured
    assert check(ExpectTracks(sensor="radar0", count=2, min_fraction=0.9), run.recording).passed


def test_tracks_with_no_lists_fail() -> None:
    verdict = check(ExpectTracks(sensor="radar0", count=1), empty())
    assert not verdict.passed
    assert "no object list from radar0" in verdict.measured


def test_tracks_of_an_empty_field_of_view() -> None:
    run = new_run()
    for i in range(10):
        run.objects(1.0 + i * 0.1, [])
    assert check(ExpectTracks(sensor="radar0", count=0), run.recording).passed
    assert not check(ExpectTracks(sensor="radar0", count=1), run.recording).passed


# --- vehicle_state ----------------------------------------------------------------------------


def sensor_frame_lists(run: Run, points_per_list: list[list[tuple[float, float]]]) -> None:
    """One object list per entry, 0.1 s apart, with objects at (forward, left) metres."""
    for i, points in enumerate(points_per_list):

        def fill(env: pb.Envelope, points: list[tuple[float, float]] = points) -> None:
            env.object_list.sensor_id = "radar0"
            for j, (x, y) in enumerate(points):
                env.object_list.objects.add(object_id=j, x_m=x, y_m=y)

        run.add("objects", 1.0 + 0.1 * i, fill)


def test_objects_near_counts_the_lists_holding_each_point() -> None:
    run = new_run()
    # (11.4, 0.2) in 9 of 10 lists, (17.6, -0.4) in 6 of 10, jittering by a few centimetres.
    sensor_frame_lists(
        run,
        [[(11.43, 0.18), (17.55, -0.41)]] * 6 + [[(11.38, 0.2)]] * 3 + [[(5.6, 0.6)]],
    )
    both = ExpectObjectsNear(sensor="radar0", points=((11.4, 0.2), (17.6, -0.4)), min_fraction=0.6)
    verdict = check(both, run.recording)
    assert verdict.passed, verdict
    assert verdict.measured == "10 lists; (11.4, 0.2) in 90.0 %, (17.6, -0.4) in 60.0 %"
    strict = ExpectObjectsNear(sensor="radar0", points=((11.4, 0.2), (17.6, -0.4)))
    assert not check(strict, run.recording).passed  # 60 % < the default 80 %
    tight = ExpectObjectsNear(sensor="radar0", points=((11.4, 0.2),), tolerance_m=0.01)
    assert not check(tight, run.recording).passed
    elsewhere = ExpectObjectsNear(sensor="radar1", points=((11.4, 0.2),))
    verdict = check(elsewhere, run.recording)
    assert not verdict.passed
    assert "no object list from radar1" in verdict.measured


def test_vehicle_state_follows_the_actor_through_braking() -> None:
    run = new_run()
    for i in range(200):
        run.state(i / 10, lag_s=0.2)
    verdict = check(ExpectVehicleState(actor="ego", after_s=0.95), run.recording)
    assert verdict.passed, verdict
    assert verdict.measured.startswith("100.0 % of 190 states matched")


def test_vehicle_state_fails_on_speed_or_position() -> None:
    slow = new_run()
    for i in range(100):
        slow.state(i / 10, speed_error=-1.0)
    verdict = check(ExpectVehicleState(actor="ego"), slow.recording)
    assert not verdict.passed
    # 1.0x: a capture time read back from Unix ns may fall in the truth's previous 10 ms step.
    assert re.search(r"worst speed error 1\.0\d m/s", verdict.measured), verdict
    assert check(ExpectVehicleState(actor="ego", speed_tolerance_mps=1.1), slow.recording).passed

    aside = new_run()
    for i in range(100):
        aside.state(i / 10, offset_m=4.0)
    verdict = check(ExpectVehicleState(actor="ego"), aside.recording)
    assert not verdict.passed
    assert "worst position error 4.00 m" in verdict.measured


def test_vehicle_state_odd_data_fails_with_a_reason() -> None:
    assert "no vehicle state" in check(ExpectVehicleState(actor="ego"), empty()).measured
    run = new_run()
    run.add("state", 1.0, lambda env: setattr(env.vehicle_state, "speed_mps", 10.0))
    verdict = check(ExpectVehicleState(actor="ego"), run.recording)
    assert not verdict.passed
    assert "1 without a position" in verdict.measured
    nobody = check(ExpectVehicleState(actor="nobody"), run.recording)
    assert not nobody.passed
    assert "no actor 'nobody'" in nobody.measured


# --- event ------------------------------------------------------------------------------------


def test_event_in_its_window() -> None:
    run = new_run()
    run.event(5.2, pb.EVENT_TYPE_EMERGENCY_BRAKE)
    run.event(5.3, pb.EVENT_TYPE_EMERGENCY_BRAKE)
    run.event(12.0, pb.EVENT_TYPE_SPEEDING)
    eebl = ExpectEvent(event_type="EMERGENCY_BRAKE", within_s=(5.0, 6.0))
    verdict = check(eebl, run.recording)
    assert verdict.passed, verdict
    assert verdict.measured == (
        "2 EMERGENCY_BRAKE event(s) captured in 5-6 s (at 5.20, 5.30 s); 0 outside it"
    )
    early = ExpectEvent(event_type="EMERGENCY_BRAKE", within_s=(1.0, 4.0))
    assert not check(early, run.recording).passed
    three = ExpectEvent(event_type="EMERGENCY_BRAKE", within_s=(5.0, 6.0), min_count=3)
    assert not check(three, run.recording).passed
    once = ExpectEvent(event_type="EMERGENCY_BRAKE", within_s=(5.0, 6.0), max_count=1)
    assert once.describe() == "exactly 1 EMERGENCY_BRAKE event(s) captured in 5-6 s"
    assert not check(once, run.recording).passed
    twice = ExpectEvent(event_type="EMERGENCY_BRAKE", within_s=(5.0, 6.0), max_count=2)
    assert check(twice, run.recording).passed


def test_event_absent() -> None:
    run = new_run()
    run.event(12.0, pb.EVENT_TYPE_SPEEDING)
    assert check(
        ExpectEvent(event_type="SPEEDING", within_s=(0, 10), absent=True), run.recording
    ).passed
    verdict = check(ExpectEvent(event_type="SPEEDING", absent=True), run.recording)
    assert not verdict.passed
    assert "1 SPEEDING event(s) captured in 0-20 s" in verdict.measured
    assert check(ExpectEvent(event_type="SPEEDING", absent=True), empty()).passed


def test_event_of_an_unknown_type_fails() -> None:
    verdict = check(ExpectEvent(event_type="ALIENS"), empty())
    assert not verdict.passed
    assert "unknown event type" in verdict.measured


# --- no_loss ----------------------------------------------------------------------------------


def test_no_loss_passes_when_everything_seen_arrived() -> None:
    run = new_run()
    status = run.add("status", 0.1, lambda env: setattr(env.status, "reason", "birth"))
    state_at_10_hz(run, 1.0, 3.0)
    run.recording.messages.append(run.recording.messages[-1])  # a duplicate
    run.boot = "boot-2"
    historical = run.state(4.0)
    historical.envelope.historical = True
    run.recording.outbox_seen = {
        (m.envelope.boot_id, m.envelope.sequence) for m in run.recording.messages[3:10]
    } | {(status.envelope.boot_id, status.envelope.sequence)}
    verdict = check(ExpectNoLoss(), run.recording)
    assert verdict.passed, verdict
    assert "21 data messages received (1 duplicates removed, 1 historical)" in verdict.measured
    assert "outbox: 8 seen, 0 never received, 0 left after the clean stop" in verdict.measured
    assert "boot boot-1 1-21: 0 gaps, 0 missing" in verdict.measured


def test_no_loss_fails_on_a_missing_message_or_a_full_outbox() -> None:
    run = new_run()
    state_at_10_hz(run, 1.0, 3.0)
    lost = run.recording.messages.pop(5)
    run.recording.outbox_seen = {(lost.envelope.boot_id, lost.envelope.sequence)}
    verdict = check(ExpectNoLoss(), run.recording)
    assert not verdict.passed
    assert "1 never received (first: boot boot-1 seq 6)" in verdict.measured
    assert "1 gaps, 1 missing" in verdict.measured

    run.recording.outbox_seen = set()
    run.recording.outbox_left = 3
    verdict = check(ExpectNoLoss(), run.recording)
    assert not verdict.passed
    assert "3 left after the clean stop (3 never received)" in verdict.measured


def test_no_loss_accepts_a_received_message_left_in_flight_at_the_stop() -> None:
    run = new_run()
    state_at_10_hz(run, 1.0, 3.0)
    last = run.recording.messages[-1].envelope
    run.recording.outbox_left = 1
    run.recording.outbox_left_keys = {(last.boot_id, last.sequence)}
    verdict = check(ExpectNoLoss(), run.recording)
    assert verdict.passed, verdict
    assert "1 left after the clean stop (0 never received)" in verdict.measured
    run.recording.outbox_left = 2
    run.recording.outbox_left_keys.add((last.boot_id, last.sequence + 1))  # never sent
    verdict = check(ExpectNoLoss(), run.recording)
    assert not verdict.passed
    assert "2 left after the clean stop (1 never received)" in verdict.measured


def test_no_loss_with_nothing_received_fails() -> None:
    verdict = check(ExpectNoLoss(), empty())
    assert not verdict.passed
    assert verdict.measured.startswith("nothing received")


# --- can_received / gnss_received -------------------------------------------------------------


def can_run(*boots: dict[str, int]) -> Run:
    run = new_run()
    run.recording.can_delivered["vcan0"] = Counter({0x1: 100, 0x2: 50, 0x3: 7})
    run.recording.can_wanted["vcan0"] = frozenset({0x1, 0x2})
    for i, counters in enumerate(boots):
        run.boot = f"boot-{i + 1}"
        # Health counters only grow within a boot: the last (largest) value is the total.
        run.health(10.0 * i + 1, **{k: v // 2 for k, v in counters.items()})
        run.health(10.0 * i + 2, **counters)
    return run


CAN = ExpectCanReceived(channel="vcan0", bus="powertrain")


def test_can_received_sums_boots_and_counts_only_wanted_ids() -> None:
    run = can_run(
        {"can__powertrain__rx_frames": 100, "can__powertrain__rx_kernel_drops": 0},
        {"can__powertrain__rx_frames": 50, "can__powertrain__rx_kernel_drops": 0},
    )
    verdict = check(CAN, run.recording)
    assert verdict.passed, verdict
    assert verdict.measured == (
        "delivered 150 frames (7 more outside the daemon's filter), received 150 "
        "(2 boots: 100 + 50); lost 0 (at most 0 allowed); kernel drops 0"
    )
    del run.recording.can_wanted["vcan0"]  # no filter: every id is wanted
    assert not check(CAN, run.recording).passed


def test_can_received_fails_on_loss_excess_or_drops() -> None:
    lossy = can_run({"can__powertrain__rx_frames": 140})
    verdict = check(CAN, lossy.recording)
    assert not verdict.passed
    assert "lost 10" in verdict.measured
    assert "kernel drops not reported" in verdict.measured
    lenient = ExpectCanReceived(channel="vcan0", bus="powertrain", max_lost=10)
    assert check(lenient, lossy.recording).passed

    excess = check(CAN, can_run({"can__powertrain__rx_frames": 151}).recording)
    assert not excess.passed
    assert "received 151 > delivered 150" in excess.measured

    drops = can_run({"can__powertrain__rx_frames": 150, "can__powertrain__rx_kernel_drops": 2})
    verdict = check(CAN, drops.recording)
    assert not verdict.passed
    assert "kernel drops 2" in verdict.measured


def test_can_received_odd_data_fails_with_a_reason() -> None:
    assert "no deliveries on vcan0" in check(CAN, empty()).measured
    verdict = check(CAN, can_run({"can__other__rx_frames": 150}).recording)
    assert not verdict.passed
    assert "no health message reported can.powertrain.rx_frames" in verdict.measured


def test_gnss_received() -> None:
    run = can_run({"pipeline__gnss_fixes": 40}, {"pipeline__gnss_fixes": 59})
    run.recording.gnss_delivered["gnss0"] = 100
    gnss = ExpectGnssReceived(emulator="gnss0")
    verdict = check(gnss, run.recording)
    assert not verdict.passed
    assert verdict.measured == (
        "delivered 100 epochs, received 99 (2 boots: 40 + 59); lost 1 (at most 0 allowed)"
    )
    assert check(ExpectGnssReceived(emulator="gnss0", max_lost=1), run.recording).passed
    assert (
        "no deliveries from gnss1"
        in check(ExpectGnssReceived(emulator="gnss1"), run.recording).measured
    )
    nothing = ExpectGnssReceived(emulator="gnss0", counter="gnss.fixes")
    assert "no health message reported gnss.fixes" in check(nothing, run.recording).measured


# --- recovery ---------------------------------------------------------------------------------


def interface_down_run(resume_s: float | None, restart: bool = False) -> Run:
    """Health every 0.5 s with 100 frames/s, none in 5 s to ``resume_s`` (fault: 5 to 7 s);
    with ``restart``, a new boot from 7 s counting from zero."""
    run = new_run()
    run.recording.faults.append(FaultWindow("interface_down", "vcan0", 5.0, 7.0))
    for t in [x / 2 for x in range(2, 40)]:
        resumed = resume_s is not None and t >= resume_s
        after = 100 * (t - resume_s) if resume_s is not None and resumed else 0.0
        if restart and t >= 7.0:
            run.boot = "boot-2"
            frames = after
        else:
            frames = 100 * min(t, 5.0) + after
        run.health(t, can__powertrain__rx_frames=int(frames))
        if t < 5.0 or resumed:
            run.state(t)
    return run


def test_recovery_by_counter() -> None:
    run = interface_down_run(resume_s=7.6)
    quick = ExpectRecovery(fault=0, within_s=1.5, counter="can.powertrain.rx_frames")
    verdict = check(quick, run.recording)
    assert verdict.passed, verdict
    assert verdict.measured == (
        "recovered 1.05 s after the fault ended (can.powertrain.rx_frames 540 (from 500) at 8.05 s)"
    )
    hasty = ExpectRecovery(fault=0, within_s=1.0, counter="can.powertrain.rx_frames")
    assert not check(hasty, run.recording).passed


def test_recovery_by_counter_in_a_new_boot() -> None:
    run = interface_down_run(resume_s=7.6, restart=True)
    verdict = check(
        ExpectRecovery(fault=0, within_s=1.5, counter="can.powertrain.rx_frames"), run.recording
    )
    assert verdict.passed, verdict
    assert "(new boot)" in verdict.measured


def test_recovery_that_never_comes() -> None:
    run = interface_down_run(resume_s=None)
    verdict = check(
        ExpectRecovery(fault=0, within_s=5.0, counter="can.powertrain.rx_frames"), run.recording
    )
    assert not verdict.passed
    assert verdict.measured == (
        "not recovered after the fault ended at 7.00 s: can.powertrain.rx_frames never rose "
        "above 500 (last 500 at 19.55 s)"
    )
    by_stream = check(ExpectRecovery(fault=0, within_s=5.0, stream="state"), run.recording)
    assert not by_stream.passed
    assert "no state message captured after it" in by_stream.measured


def test_recovery_by_stream() -> None:
    run = interface_down_run(resume_s=8.0)
    verdict = check(ExpectRecovery(fault=0, within_s=1.5, stream="state"), run.recording)
    assert verdict.passed, verdict
    assert verdict.measured.startswith("recovered 1.05 s after the fault ended")
    assert not check(ExpectRecovery(fault=0, within_s=1.0, stream="state"), run.recording).passed


def test_recovery_odd_data_fails_with_a_reason() -> None:
    run = interface_down_run(resume_s=8.0)
    missing = check(ExpectRecovery(fault=1, within_s=1.0, stream="state"), run.recording)
    assert not missing.passed
    assert "the run executed 1 faults, no fault 1" in missing.measured
    both = ExpectRecovery(fault=0, within_s=1.0, stream="state", counter="x")
    assert "exactly one" in check(both, run.recording).measured
    label = ExpectRecovery(fault=0, within_s=1, stream="state", fault_label="bus_off vcan0 at 5 s")
    assert label.describe() == (
        "state resumes within 1 s of the end of fault 0 (bus_off vcan0 at 5 s)"
    )


# --- counter ----------------------------------------------------------------------------------


def test_counter_sums_each_boots_last_value() -> None:
    run = can_run({"nmea__rejects__checksum": 3}, {"nmea__rejects__checksum": 4})
    verdict = check(ExpectCounter(counter="nmea.rejects.checksum", min_value=7), run.recording)
    assert verdict.passed, verdict
    assert verdict.measured == "nmea.rejects.checksum = 7 (2 boots: 3 + 4)"
    assert not check(
        ExpectCounter(counter="nmea.rejects.checksum", min_value=8), run.recording
    ).passed
    assert not check(
        ExpectCounter(counter="nmea.rejects.checksum", max_value=6), run.recording
    ).passed
    verdict = check(ExpectCounter(counter="can.x.bus_off", min_value=0), run.recording)
    assert not verdict.passed
    assert verdict.measured == "no health message reported can.x.bus_off"


# --- spat -------------------------------------------------------------------------------------

# Group 1 green 0-7 s, amber 7-10 s; group 2 green 10-17 s, amber 17-20 s.
PLAN = FixedTimePlan(
    101, 20.0, (SignalGroupPlan(1, 0.0, 7.0, 3.0), SignalGroupPlan(2, 10.0, 7.0, 3.0))
)


def spat_at_10_hz(
    run: Run,
    *,
    lag_s: float = 0.05,
    start: float = 0.5,
    stop: float = 20.0,
    plan: FixedTimePlan = PLAN,
    end_error_s: float = 0.0,
) -> None:
    """SPaT of ``plan`` as the controller sent it ``lag_s`` before each capture."""
    for i in range(round(start * 10), round(stop * 10)):
        c = i / 10 + 0.003  # off the window edges
        sent = plan.spat(c - lag_s)

        def fill(env: pb.Envelope, sent: pb.SignalPhaseTiming = sent) -> None:
            env.spat.CopyFrom(sent)
            for phase in env.spat.phases:
                phase.likely_end_s = round(phase.likely_end_s, 1) + end_error_s

        run.add("spat", c, fill)


def test_spat_matches_the_plan_within_the_latency() -> None:
    run = new_run()
    spat_at_10_hz(run, lag_s=0.2)
    expectation = ExpectSpat(emulator="controller0", plan=PLAN, after_s=1.0)
    verdict = check(expectation, run.recording)
    assert verdict.passed, verdict
    assert verdict.measured == "100.0 % of 190 SPaT messages captured in 1-20 s matched the plan"
    assert expectation.describe().startswith("SPaT shows controller0's plan")


def test_spat_mismatches_are_reported() -> None:
    run = new_run()
    spat_at_10_hz(run, lag_s=0.5)  # beyond the 0.3 s latency: wrong just after each change
    strict = ExpectSpat(emulator="c", plan=PLAN, after_s=1.0, min_fraction=0.99)
    verdict = check(strict, run.recording)
    assert not verdict.passed
    # Two messages after each of the changes at 7, 10 and 17 s.
    assert verdict.measured.startswith("96.8 % of 190 SPaT messages captured in 1-20 s matched")
    assert (
        "6 did not: at 7.30 s got 1=GREEN(0.2 s) 2=RED(3.2 s), plan 1=AMBER(2.7 s) 2=RED(2.7 s); "
        in verdict.measured
    )
    assert verdict.measured.endswith("; 3 more")
    lenient = ExpectSpat(emulator="c", plan=PLAN, latency_s=0.6)
    assert check(lenient, run.recording).passed


def test_spat_fails_on_wrong_ends_intersection_or_groups() -> None:
    late_ends = new_run()
    spat_at_10_hz(late_ends, end_error_s=1.0)
    assert not check(ExpectSpat(emulator="c", plan=PLAN), late_ends.recording).passed

    other = FixedTimePlan(202, 20.0, PLAN.groups)
    wrong_id = new_run()
    spat_at_10_hz(wrong_id, plan=other)
    verdict = check(ExpectSpat(emulator="c", plan=PLAN), wrong_id.recording)
    assert not verdict.passed
    assert "intersection 202, plan 101" in verdict.measured

    extra = FixedTimePlan(101, 20.0, (*PLAN.groups, SignalGroupPlan(3, 0.0, 5.0)))
    more_groups = new_run()
    spat_at_10_hz(more_groups, plan=extra)
    assert not check(ExpectSpat(emulator="c", plan=PLAN), more_groups.recording).passed


def test_spat_fraction_and_window() -> None:
    run = new_run()
    spat_at_10_hz(run, stop=10.0)  # 95 messages of the plan, then 100 of a shifted one
    spat_at_10_hz(run, plan=FixedTimePlan(101, 20.0, PLAN.groups, epoch_s=5.0), start=10.0)
    assert check(ExpectSpat(emulator="c", plan=PLAN, min_fraction=0.45), run.recording).passed
    assert not check(ExpectSpat(emulator="c", plan=PLAN), run.recording).passed
    assert check(ExpectSpat(emulator="c", plan=PLAN, until_s=9.9), run.recording).passed
    shifted = check(ExpectSpat(emulator="c", plan=PLAN, after_s=10.0), run.recording)
    assert shifted.measured.startswith("0.0 % of 100 SPaT messages")


def test_spat_without_messages_fails() -> None:
    run = new_run()
    spat_at_10_hz(run, stop=3.0)
    verdict = check(ExpectSpat(emulator="c", plan=PLAN, after_s=5.0), run.recording)
    assert not verdict.passed
    assert verdict.measured == "no SPaT captured in 5-20 s (25 outside it)"


# --- every kind -------------------------------------------------------------------------------

EVERY_KIND: list[Expectation] = [
    ExpectMessages(stream="state", min_rate_hz=1, max_gap_s=1),
    ExpectTracks(sensor="radar0", count=2),
    ExpectVehicleState(actor="ego"),
    ExpectEvent(event_type="EMERGENCY_BRAKE"),
    ExpectNoLoss(),
    ExpectCanReceived(channel="vcan0", bus="powertrain"),
    ExpectGnssReceived(emulator="gnss0"),
    ExpectRecovery(fault=0, within_s=1, counter="can.powertrain.rx_frames"),
    ExpectRecovery(fault=0, within_s=1, stream="state"),
    ExpectCounter(counter="x", min_value=1),
    ExpectSpat(emulator="controller0", plan=PLAN),
]


def test_every_kind_fails_on_an_empty_recording_without_raising() -> None:
    verdicts = evaluate(EVERY_KIND, empty())
    assert [v.passed for v in verdicts] == [False] * len(EVERY_KIND)
    assert all(v.measured for v in verdicts)


def test_every_kind_ignores_odd_envelopes() -> None:
    """Bodies missing from their stream, other devices, clocks far off: still no exception."""
    run = new_run()
    for stream in ("state", "objects", "events", "health", "status", "spat"):
        run.add(stream, 1.0, lambda env: None)
        run.add(stream, -1e6, lambda env: None, arrival_s=math.nan)
        run.add(stream, 1.0, lambda env: None, device="intruder")
    run.recording.faults.append(FaultWindow("bus_off", "vcan0", 30.0, 10.0))
    run.recording.outbox_seen = {("boot-0", 1)}
    for verdict in evaluate(EVERY_KIND, run.recording):
        assert not verdict.passed
        assert not verdict.measured.startswith("check failed"), verdict


def test_a_broken_check_is_reported_as_a_failure() -> None:
    @dataclass(frozen=True, kw_only=True)
    class Broken(Expectation):
        def describe(self) -> str:
            return "a broken check"

        def _check(self, recording: Recording) -> tuple[bool, str]:
            raise ZeroDivisionError("oops")

    verdict = Broken(name="b").check(empty())
    assert verdict == Verdict("b: a broken check", False, "check failed: ZeroDivisionError: oops")


def test_evaluate_keeps_the_order_and_the_names() -> None:
    run = new_run()
    state_at_10_hz(run)
    verdicts = evaluate(
        [ExpectMessages(name="rate", stream="state"), ExpectMessages(stream="spat")], run.recording
    )
    assert [(v.expectation.split(":")[0], v.passed) for v in verdicts] == [
        ("rate", True),
        ("at least 1 spat message(s) from 0 s to the end", False),
    ]


@pytest.mark.parametrize("expectation", EVERY_KIND, ids=lambda e: type(e).__name__)
def test_describe_is_one_line(expectation: Expectation) -> None:
    text = expectation.describe()
    assert text
    assert "\n" not in text
