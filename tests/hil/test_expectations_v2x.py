"""The ``v2x`` expectation against synthetic recordings: what the daemon handed the radio,
built with the real codec; passes on a good run, fails with what it measured on a bad one."""

from __future__ import annotations

from hil.recording import Recording
from hil.scenario_engine import ExpectV2x
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.v2x import decode_message_frame, encode_bsm, encode_spat, station_id_bytes
from tests.hil.test_expectations import CLOCK, TRUTH, Run, check, new_run, position, spat_at_10_hz

ID = station_id_bytes(1234)


def capture(recording: Recording, t_s: float, data: bytes, *, lag_s: float = 0.01) -> None:
    kind, fields = decode_message_frame(data)
    recording.v2x_sent.setdefault("radio0", []).append((t_s + lag_s, kind, dict(fields)))


def bsm_at_10_hz(
    run: Run, *, stop: float = 20.0, offset_m: float = 0.0, lag_s: float = 0.01
) -> None:
    for i in range(5, round(stop * 10)):
        c = i / 10 + 0.003
        truth = TRUTH.state("ego", c)
        point = TRUTH.origin.offset(truth.east_m + offset_m, truth.north_m)
        state = pb.VehicleState(position=position(point), speed_mps=truth.speed_mps)
        data = encode_bsm(state, vehicle_id=ID, msg_cnt=i % 128, unix_s=CLOCK.t0_unix + c)
        capture(run.recording, c, data, lag_s=lag_s)


def test_bsm_rate_and_contents_pass_on_a_good_run() -> None:
    run = new_run()
    bsm_at_10_hz(run)
    expectation = ExpectV2x(
        emulator="radio0", message="bsm", actor="ego", min_rate_hz=9.5, after_s=1.0
    )
    verdict = check(expectation, run.recording)
    assert verdict.passed, verdict
    assert verdict.measured == "190 in 1-20 s (10.0 Hz); 100.0 % matched"
    assert expectation.describe().startswith("BSM to radio radio0 at 9.5 Hz or more following ego")


def test_bsm_fails_on_position_rate_or_lateness() -> None:
    far = new_run()
    bsm_at_10_hz(far, offset_m=5.0)
    verdict = check(ExpectV2x(emulator="radio0", message="bsm", actor="ego"), far.recording)
    assert not verdict.passed
    assert "0.0 % matched" in verdict.measured
    assert "off by 5.00 m" in verdict.measured

    slow = new_run()
    bsm_at_10_hz(slow, stop=10.0)
    verdict = check(ExpectV2x(emulator="radio0", message="bsm", min_rate_hz=9.0), slow.recording)
    assert not verdict.passed
    assert verdict.measured.startswith("95 in 0-20 s (4.8 Hz)")

    late = new_run()
    bsm_at_10_hz(late, lag_s=0.8)
    verdict = check(ExpectV2x(emulator="radio0", message="bsm", actor="ego"), late.recording)
    assert not verdict.passed
    assert "arrived 0.80 s after its capture" in verdict.measured


def test_nothing_sent_or_another_type_fails() -> None:
    run = new_run()
    bsm_at_10_hz(run)
    verdict = check(ExpectV2x(emulator="radio0", message="spat"), run.recording)
    assert not verdict.passed
    assert verdict.measured.startswith("no SPAT reached the radio in 0-20 s (195 messages")
    assert not check(ExpectV2x(emulator="radio9", message="bsm"), run.recording).passed


def spat_on_the_air(run: Run, *, end_error_s: float = 0.0) -> None:
    """Every SPaT published on MQTT, also handed to the radio."""
    for message in list(run.recording.messages):
        if message.stream != "spat":
            continue
        spat = pb.SignalPhaseTiming()
        spat.CopyFrom(message.envelope.spat)
        for phase in spat.phases:
            phase.likely_end_s += end_error_s
        c = CLOCK.from_unix_ns(message.envelope.capture_time_ns)
        data = encode_spat(spat, msg_cnt=0, unix_s=message.envelope.capture_time_ns / 1e9)
        capture(run.recording, c, data)


def test_spat_matches_what_was_published_on_mqtt() -> None:
    run = new_run()
    spat_at_10_hz(run)
    spat_on_the_air(run)
    expectation = ExpectV2x(emulator="radio0", message="spat", min_rate_hz=9.5, after_s=1.0)
    verdict = check(expectation, run.recording)
    assert verdict.passed, verdict
    assert verdict.measured == "190 in 1-20 s (10.0 Hz); 100.0 % matched"


def test_spat_that_differs_from_mqtt_fails() -> None:
    run = new_run()
    spat_at_10_hz(run)
    spat_on_the_air(run, end_error_s=1.0)
    verdict = check(ExpectV2x(emulator="radio0", message="spat"), run.recording)
    assert not verdict.passed
    assert "0.0 % matched" in verdict.measured
    assert "got 1=GREEN(7.5 s) 2=RED(10.5 s), MQTT 1=GREEN(6.5 s) 2=RED(9.5 s)" in verdict.measured

    unpublished = new_run()
    spat_at_10_hz(unpublished)
    spat_on_the_air(unpublished)
    unpublished.recording.messages.clear()  # the radio got SPAT the cloud never saw
    verdict = check(ExpectV2x(emulator="radio0", message="spat"), unpublished.recording)
    assert not verdict.passed
    assert "no SPaT on MQTT captured at 0.503 s" in verdict.measured
