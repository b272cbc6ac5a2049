"""The box clock against GNSS time, and the label the wall clock puts on Envelopes."""

from __future__ import annotations

import math
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.clock import WallClock, configured_clock
from edge.clock_check import AGREE_FRACTION, GnssClockCheck
from edge.clock_detection import (
    KernelClockState,
    detect_source,
    read_chrony_reference,
    read_kernel_clock,
    source_of_chrony_reference,
)
from edge.pipelines.roadside_unit import RoadsideUnitPipeline, RoadsideUnitSettings
from edge.pipelines.vehicle_gateway import VehicleGatewayPipeline, VehicleGatewaySettings
from protocols.nmea import FixQuality, NmeaFixAssembler, format_gga, format_rmc
from protocols.schema.v1 import roadgate_pb2 as pb
from tests.edge.pipeline_stubs import FixedClock, RecordingUplink, StubDecoder, StubEstimator

T0 = datetime(2026, 12, 4, 16, 0, 0, tzinfo=UTC)
NS = 1_000_000_000


def epoch_lines(when: datetime, quality: FixQuality = FixQuality.GNSS) -> list[bytes]:
    """One 1 Hz receiver epoch as a basic receiver sends it: GGA, then RMC."""
    return [
        format_gga(when, 34.2, 108.9, altitude_msl_m=400.0, quality=quality),
        format_rmc(when, 34.2, 108.9, speed_mps=0.0, course_deg=0.0, quality=quality),
    ]


class Receiver:
    """Feeds a check epochs whose sentences arrive ``latency_s`` (and 50 ms apart) after the
    epoch, on a box clock ``offset_s`` ahead of GNSS time."""

    def __init__(self, check: GnssClockCheck) -> None:
        self.check = check
        self.assembler = NmeaFixAssembler()
        self.events: list[tuple[pb.TrafficEvent, int]] = []

    def epoch(self, k: int, *, offset_s: float, latency_s: float = 0.1) -> None:
        when = T0 + timedelta(seconds=k)
        for i, line in enumerate(epoch_lines(when)):
            fix = self.assembler.feed(line)
            self.events += self.check.observe(line, fix, arrival_ns(k, i, offset_s, latency_s))


def arrival_ns(k: int, i: int, offset_s: float, latency_s: float) -> int:
    """When epoch ``k``'s ``i``th sentence arrives (box clock, ns)."""
    return round(((T0 + timedelta(seconds=k)).timestamp() + offset_s + latency_s + 0.05 * i) * NS)


def test_a_clock_on_gnss_time_agrees_and_its_offset_is_the_first_sentence_s_latency() -> None:
    rx = Receiver(GnssClockCheck("rsu-1", bound_s=0.5, window=5))
    for k in range(10):
        rx.epoch(k, offset_s=0.0, latency_s=0.08)
    assert rx.events == []
    assert rx.check.disagrees is False
    # The fix completes with the RMC 50 ms later; the estimate uses the epoch's first sentence.
    assert rx.check.offset_s == pytest.approx(0.08, abs=1e-6)
    assert rx.check.counters["measured"] == 10


def test_nothing_is_judged_before_the_window_is_full() -> None:
    rx = Receiver(GnssClockCheck("rsu-1", bound_s=0.5, window=5))
    for k in range(4):
        rx.epoch(k, offset_s=30.0)  # 4 samples: could be stale lines in a serial buffer
    assert (rx.check.offset_s, rx.check.disagrees, rx.events) == (None, False, [])
    rx.epoch(4, offset_s=30.0)
    assert rx.check.disagrees is True
    assert len(rx.events) == 1


@pytest.mark.parametrize("offset_s", [2.0, -2.0, 0.7, -0.7, -1.7e9])
def test_a_skewed_clock_gives_one_warning_then_one_info_when_it_is_fixed(offset_s: float) -> None:
    rx = Receiver(GnssClockCheck("rsu-1", bound_s=0.5, window=5))
    for k in range(20):
        rx.epoch(k, offset_s=offset_s)
    assert rx.check.disagrees is True
    assert rx.check.offset_s == pytest.approx(offset_s + 0.1, abs=1e-3 * max(1, abs(offset_s)))
    (warning,) = rx.events
    event, capture_ns = warning
    assert event.type == pb.EVENT_TYPE_CLOCK_FAULT
    assert event.severity == pb.SEVERITY_WARNING
    assert f"{offset_s + 0.1:+.3f} s" in event.description
    # Stamped with the box clock when the fix that decided it arrived.
    assert capture_ns == arrival_ns(4, 1, offset_s, 0.1)
    for k in range(20, 40):
        rx.epoch(k, offset_s=0.0)
    assert rx.check.disagrees is False
    assert [(e.severity, e.type) for e, _ in rx.events] == [
        (pb.SEVERITY_WARNING, pb.EVENT_TYPE_CLOCK_FAULT),
        (pb.SEVERITY_INFO, pb.EVENT_TYPE_CLOCK_FAULT),
    ]
    assert len({e.event_id for e, _ in rx.events}) == 2
    assert rx.check.counters["disagreements"] == 1


def test_late_lines_do_not_make_a_good_clock_disagree() -> None:
    # Every other epoch arrives 3 s late (a stalled loop, a buffer read late): the smallest
    # sample of the window is still an on-time one.
    rx = Receiver(GnssClockCheck("rsu-1", bound_s=0.5, window=5))
    for k in range(30):
        rx.epoch(k, offset_s=0.0, latency_s=3.0 if k % 2 else 0.1)
    assert rx.events == []
    assert rx.check.offset_s == pytest.approx(0.1, abs=1e-6)


def test_an_offset_hovering_at_the_bound_does_not_flap() -> None:
    rx = Receiver(GnssClockCheck("rsu-1", bound_s=0.5, window=1))
    for k in range(40):
        # Between the bound and the agreement threshold below it, alternately.
        latency = 0.52 if k % 2 else 0.5 * (AGREE_FRACTION + 1) / 2
        rx.epoch(k, offset_s=0.0, latency_s=latency)
    assert len(rx.events) == 1


def test_fixes_without_a_position_or_a_date_are_counted_not_measured() -> None:
    check = GnssClockCheck("rsu-1", window=1)
    assembler = NmeaFixAssembler()
    received = round((T0.timestamp() + 50.0) * NS)
    for line in epoch_lines(T0, FixQuality.NONE):  # a receiver's time before its first fix
        check.observe(line, assembler.feed(line), received)
    gga_only = format_gga(T0 + timedelta(seconds=1), 34.2, 108.9, altitude_msl_m=400.0)
    fresh = NmeaFixAssembler()  # has seen no date
    check.observe(gga_only, fresh.feed(gga_only), received)
    check.observe(b"", fresh.flush(), received)
    assert check.counters == {"no_fix": 1, "undated": 1}
    assert (check.offset_s, check.disagrees) == (None, False)


@settings(max_examples=200)
@given(
    lines=st.lists(st.binary(max_size=90), max_size=20),
    received=st.lists(st.integers(-(2**63), 2**63 - 1), min_size=20, max_size=20),
)
def test_any_bytes_at_any_time_never_raise(lines: list[bytes], received: list[int]) -> None:
    check = GnssClockCheck("rsu-1", window=1)
    assembler = NmeaFixAssembler(allow_missing_checksum=True)
    for line, at in zip(lines, received, strict=False):
        check.observe(line, assembler.feed(line), at)
    assert check.offset_s is None or math.isfinite(check.offset_s)


def test_bad_settings_are_refused() -> None:
    for bound in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="bound_s"):
            GnssClockCheck("rsu-1", bound_s=bound)
    with pytest.raises(ValueError, match="window"):
        GnssClockCheck("rsu-1", window=0)


# --- both pipelines --------------------------------------------------------------------------


def skewed_feed(pipeline: RoadsideUnitPipeline | VehicleGatewayPipeline, clock: FixedClock) -> None:
    """Ten 1 Hz epochs whose sentences arrive 100 ms after the epoch on a clock 2 s fast."""
    for k in range(10):
        when = T0 + timedelta(seconds=k)
        clock.now = round((when.timestamp() + 2.0 + 0.1) * NS)
        for line in epoch_lines(when):
            pipeline.on_gnss_line(line)


def clock_faults(uplink: RecordingUplink) -> list[pb.TrafficEvent]:
    return [e for e in uplink.of(pb.TrafficEvent) if e.type == pb.EVENT_TYPE_CLOCK_FAULT]


def test_a_roadside_unit_with_a_fast_clock_reports_it_in_health_and_once_as_an_event() -> None:
    uplink = RecordingUplink(pb.DEVICE_ROLE_ROADSIDE_UNIT)
    clock = FixedClock()
    pipeline = RoadsideUnitPipeline(
        radars=[],
        gnss=None,
        fixes=NmeaFixAssembler(),
        signal_plan=None,
        uplink=uplink,
        settings=RoadsideUnitSettings(),
        clock=clock,
        clock_check=GnssClockCheck(uplink.identity.device_id, bound_s=0.5),
    )
    skewed_feed(pipeline, clock)
    (event,) = clock_faults(uplink)
    assert event.severity == pb.SEVERITY_WARNING
    assert "+2.100 s" in event.description
    pipeline.publish_health()
    (health,) = uplink.of(pb.DeviceHealth)
    assert health.clock_disagrees_with_gnss is True
    assert health.gnss_clock_offset_s == pytest.approx(2.1, abs=1e-6)
    assert health.counters["clock.gnss.measured"] == 10
    assert health.counters["clock.gnss.disagreements"] == 1


def test_a_vehicle_gateway_with_a_fast_clock_reports_it_in_health_and_once_as_an_event() -> None:
    uplink = RecordingUplink(pb.DEVICE_ROLE_VEHICLE_GATEWAY)
    clock = FixedClock()
    pipeline = VehicleGatewayPipeline(
        can_ports=[],
        decoder=StubDecoder(),
        estimator=StubEstimator(),
        gnss=None,
        fixes=NmeaFixAssembler(),
        uplink=uplink,
        settings=VehicleGatewaySettings(),
        clock=clock,
        clock_check=GnssClockCheck(uplink.identity.device_id, bound_s=0.5),
    )
    skewed_feed(pipeline, clock)
    (event,) = clock_faults(uplink)
    assert event.severity == pb.SEVERITY_WARNING
    pipeline.publish_health()
    (health,) = uplink.of(pb.DeviceHealth)
    assert health.clock_disagrees_with_gnss is True
    assert health.gnss_clock_offset_s == pytest.approx(2.1, abs=1e-6)


def test_without_a_check_health_leaves_the_clock_fields_unset() -> None:
    uplink = RecordingUplink(pb.DEVICE_ROLE_ROADSIDE_UNIT)
    clock = FixedClock()
    pipeline = RoadsideUnitPipeline(
        radars=[],
        gnss=None,
        fixes=NmeaFixAssembler(),
        signal_plan=None,
        uplink=uplink,
        settings=RoadsideUnitSettings(),
        clock=clock,
    )
    skewed_feed(pipeline, clock)
    pipeline.publish_health()
    (health,) = uplink.of(pb.DeviceHealth)
    assert (health.gnss_clock_offset_s, health.clock_disagrees_with_gnss) == (0.0, False)
    assert clock_faults(uplink) == []


# --- the wall clock's label ------------------------------------------------------------------


SYNCED = KernelClockState(synchronized=True, max_error_s=0.03, pps=False)
UNSYNCED = KernelClockState(synchronized=False, max_error_s=16.0, pps=False)


class Kernel:
    def __init__(self, state: KernelClockState | None) -> None:
        self.state = state
        self.reads = 0

    def __call__(self) -> KernelClockState | None:
        self.reads += 1
        return self.state


def test_a_configured_source_keeps_its_name_and_takes_the_kernel_s_bound_while_synced() -> None:
    kernel = Kernel(SYNCED)
    now = [0.0]
    clock = WallClock(pb.CLOCK_SOURCE_GNSS, kernel=kernel, refresh_s=1.0, monotonic=lambda: now[0])
    assert (clock.label().source, clock.label().max_error_s) == (pb.CLOCK_SOURCE_GNSS, 0.03)
    kernel.state = UNSYNCED
    now[0] = 0.5
    assert clock.label().max_error_s == 0.03  # not asked again within refresh_s
    assert kernel.reads == 1
    now[0] = 1.0
    # Unsynchronised: the kernel's 16 s is no bound a daemon vouches for: unknown.
    assert (clock.label().source, clock.label().max_error_s) == (pb.CLOCK_SOURCE_GNSS, 0.0)


def test_an_override_bound_wins_and_a_bad_one_is_refused() -> None:
    clock = WallClock(pb.CLOCK_SOURCE_PTP, max_error_s=0.0001, kernel=Kernel(UNSYNCED))
    assert clock.label().max_error_s == 0.0001
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="max_error_s"):
            WallClock(max_error_s=bad)


def test_auto_follows_the_kernel_as_it_gains_and_loses_synchronisation() -> None:
    kernel = Kernel(UNSYNCED)
    now = [0.0]
    asked: list[KernelClockState | None] = []

    def detect(state: KernelClockState | None) -> pb.ClockSource.ValueType:
        asked.append(state)
        return detect_source(state, lambda: "PPS")

    clock = WallClock(kernel=kernel, detect=detect, refresh_s=1.0, monotonic=lambda: now[0])
    assert clock.label().source == pb.CLOCK_SOURCE_SYSTEM  # booted, not yet locked
    kernel.state = SYNCED
    now[0] = 1.0
    assert clock.label().source == pb.CLOCK_SOURCE_GNSS
    now[0] = 2.0
    clock.label()
    assert len(asked) == 2  # asked on each change only, not at every read
    kernel.state = UNSYNCED
    now[0] = 3.0
    assert clock.label().source == pb.CLOCK_SOURCE_SYSTEM


@pytest.mark.parametrize(
    ("state", "reference", "expected"),
    [
        (None, "PPS", pb.CLOCK_SOURCE_SYSTEM),
        (UNSYNCED, "192.0.2.1", pb.CLOCK_SOURCE_SYSTEM),
        (SYNCED, None, pb.CLOCK_SOURCE_NTP),  # synchronised, no chrony: timesyncd or ntpd
        (SYNCED, "192.0.2.1", pb.CLOCK_SOURCE_NTP),
        (SYNCED, "2001:db8::1", pb.CLOCK_SOURCE_NTP),
        (SYNCED, "ntp.example.org", pb.CLOCK_SOURCE_NTP),
        (SYNCED, "PPS", pb.CLOCK_SOURCE_GNSS),
        (SYNCED, "PPS0", pb.CLOCK_SOURCE_GNSS),
        (SYNCED, "GPS", pb.CLOCK_SOURCE_GNSS),
        (SYNCED, "NMEA", pb.CLOCK_SOURCE_GNSS),
        (SYNCED, "SHM0", pb.CLOCK_SOURCE_GNSS),
        (SYNCED, "PHC0", pb.CLOCK_SOURCE_PTP),
        (SYNCED, "127.127.1.1", pb.CLOCK_SOURCE_SYSTEM),  # chrony's free-running "local"
        (SYNCED, "", pb.CLOCK_SOURCE_SYSTEM),
        (KernelClockState(True, 0.001, pps=True), None, pb.CLOCK_SOURCE_GNSS),
    ],
)
def test_detection(
    state: KernelClockState | None, reference: str | None, expected: pb.ClockSource.ValueType
) -> None:
    assert detect_source(state, lambda: reference) == expected


def test_chrony_is_only_asked_about_a_synchronised_clock() -> None:
    def chrony() -> str | None:
        raise AssertionError("asked")

    assert detect_source(UNSYNCED, chrony) == pb.CLOCK_SOURCE_SYSTEM
    assert source_of_chrony_reference("  ") is None


def test_the_kernel_answers_without_privileges() -> None:
    state = read_kernel_clock()
    if sys.platform == "linux":
        assert state is not None
    if state is not None:
        assert math.isfinite(state.max_error_s)
        assert state.max_error_s >= 0


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("system", pb.CLOCK_SOURCE_SYSTEM),
        ("ntp", pb.CLOCK_SOURCE_NTP),
        ("gnss", pb.CLOCK_SOURCE_GNSS),
        ("pps", pb.CLOCK_SOURCE_GNSS),  # the schema has no PPS: a PPS-disciplined clock is GNSS
        ("ptp", pb.CLOCK_SOURCE_PTP),
        ("simulated", pb.CLOCK_SOURCE_SIMULATED),
    ],
)
def test_configured_sources(name: str, expected: pb.ClockSource.ValueType) -> None:
    assert configured_clock(name, 0.002).label() == configured_clock(name, 0.002).label()
    assert configured_clock(name, 0.002).label().source == expected
    assert configured_clock(name, 0.002).label().max_error_s == 0.002


def test_a_simulated_clock_never_borrows_the_kernel_s_bound() -> None:
    assert configured_clock("simulated").label().max_error_s == 0.0


def test_auto_labels_a_real_clock_and_an_unknown_name_is_refused() -> None:
    label = configured_clock("auto").label()
    assert label.source in (
        pb.CLOCK_SOURCE_SYSTEM,
        pb.CLOCK_SOURCE_NTP,
        pb.CLOCK_SOURCE_GNSS,
        pb.CLOCK_SOURCE_PTP,
    )
    assert math.isfinite(label.max_error_s)
    assert label.max_error_s >= 0
    with pytest.raises(ValueError, match="clock source"):
        configured_clock("sundial")


def fake_chronyc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> None:
    """Put a ``chronyc`` running ``script`` (sh) first on PATH."""
    chronyc = tmp_path / "chronyc"
    chronyc.write_text("#!/bin/sh\n" + script + "\n")
    chronyc.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")


def test_chrony_s_reference_is_read_from_its_tracking_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # chronyc -n -c tracking, synchronised to a PPS reference clock (chrony 4.x's fields).
    fake_chronyc(
        tmp_path,
        monkeypatch,
        'echo "50505300,PPS,1,1796400000.123456789,-0.000000012,0.000000034,'
        '0.000000056,-1.234,-0.001,0.012,0.000000001,0.000001000,16.0,Normal"',
    )
    assert read_chrony_reference() == "PPS"
    assert detect_source(SYNCED) == pb.CLOCK_SOURCE_GNSS


@pytest.mark.parametrize("script", ["exit 1", "echo nonsense", "exec sleep 5"])
def test_a_failing_or_hanging_chronyc_is_no_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str
) -> None:
    fake_chronyc(tmp_path, monkeypatch, script)
    assert read_chrony_reference(timeout_s=0.2) is None
    assert detect_source(SYNCED, lambda: read_chrony_reference(timeout_s=0.2)) == (
        pb.CLOCK_SOURCE_NTP
    )
