"""Envelopes carry their clock's source and error bound; GNSS epochs become Unix times."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.clock import ClockLabel, WallClock
from edge.clock_detection import KernelClockState
from edge.identity import DeviceIdentity
from edge.uplink.outbox import SqliteOutbox
from edge.uplink.publisher import UplinkPublisher
from edge.uplink.settings import UplinkSettings
from protocols.envelope import decode, seal
from protocols.nmea import NmeaFixAssembler, epoch_unix_ns, epoch_unix_s, format_gga, format_rmc
from protocols.schema.v1 import roadgate_pb2 as pb


def sealed(**clock: object) -> pb.Envelope:
    return seal(
        pb.DeviceHealth(uptime_s=1.0),
        device_id="rsu-1",
        boot_id="boot",
        sequence=1,
        capture_time_ns=1,
        publish_time_ns=2,
        **clock,  # type: ignore[arg-type]
    )


def test_the_clock_source_and_error_bound_survive_the_wire() -> None:
    env = sealed(clock_source=pb.CLOCK_SOURCE_GNSS, clock_max_error_s=0.004)
    back = decode(env.SerializeToString())
    assert back.clock_source == pb.CLOCK_SOURCE_GNSS
    assert back.clock_max_error_s == 0.004


def test_an_unknown_bound_is_zero() -> None:
    env = sealed(clock_source=pb.CLOCK_SOURCE_SYSTEM)
    assert env.clock_max_error_s == 0.0
    assert decode(env.SerializeToString()).clock_max_error_s == 0.0


@pytest.mark.parametrize("bad", [-0.001, math.nan, math.inf, -math.inf])
def test_a_bound_that_is_negative_or_not_finite_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="clock_max_error_s"):
        sealed(clock_source=pb.CLOCK_SOURCE_NTP, clock_max_error_s=bad)


def test_an_envelope_of_the_old_schema_reads_as_an_unknown_bound() -> None:
    # Field 9 is new: an Envelope written without it (by an older box) parses, bound 0.
    env = sealed(clock_source=pb.CLOCK_SOURCE_NTP, clock_max_error_s=0.25)
    env.ClearField("clock_max_error_s")
    assert decode(env.SerializeToString()).clock_max_error_s == 0.0


def test_the_uplink_labels_what_it_seals_with_its_clock() -> None:
    state = KernelClockState(synchronized=True, max_error_s=0.012, pps=False)
    clock = WallClock(pb.CLOCK_SOURCE_NTP, kernel=lambda: state)
    identity = DeviceIdentity("veh-9", "test", pb.DEVICE_ROLE_VEHICLE_GATEWAY)
    with SqliteOutbox(":memory:") as outbox:
        uplink = UplinkPublisher(identity, UplinkSettings(), outbox, clock=clock)
        uplink.submit(pb.VehicleState(speed_mps=3.0), 1_700_000_000_000_000_000)
        (entry,) = outbox.peek(10)
    env = decode(entry.body)
    assert (env.clock_source, env.clock_max_error_s) == (pb.CLOCK_SOURCE_NTP, 0.012)
    assert env.capture_time_ns == 1_700_000_000_000_000_000


def test_the_uplink_without_a_clock_says_system_and_unknown() -> None:
    identity = DeviceIdentity("veh-9", "test", pb.DEVICE_ROLE_VEHICLE_GATEWAY)
    with SqliteOutbox(":memory:") as outbox:
        UplinkPublisher(identity, UplinkSettings(), outbox).submit(pb.VehicleState(), 5)
        (entry,) = outbox.peek(10)
    env = decode(entry.body)
    assert ClockLabel(env.clock_source, env.clock_max_error_s) == ClockLabel(
        pb.CLOCK_SOURCE_SYSTEM, 0.0
    )


# --- GNSS epochs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timed:
    time: datetime | None


def test_a_dated_epoch_is_its_unix_time() -> None:
    when = datetime(2026, 12, 4, 16, 30, 15, 250_000, tzinfo=UTC)
    assert epoch_unix_s(Timed(when)) == when.timestamp()
    assert epoch_unix_ns(Timed(when)) == 1_796_401_815_250_000_000


def test_an_undated_epoch_has_no_time() -> None:
    assert epoch_unix_s(Timed(None)) is None
    assert epoch_unix_ns(Timed(None)) is None


def test_a_naive_time_is_utc_and_an_offset_one_is_converted() -> None:
    naive = datetime(2026, 1, 1, 0, 0, 1)
    assert epoch_unix_ns(Timed(naive)) == (1_767_225_600 + 1) * 1_000_000_000
    beijing = datetime(2026, 1, 1, 8, 0, 1, tzinfo=timezone(timedelta(hours=8)))
    assert epoch_unix_ns(Timed(beijing)) == epoch_unix_ns(Timed(naive))


@given(st.datetimes(timezones=st.just(UTC)))
def test_nanoseconds_and_seconds_agree_for_any_time(when: datetime) -> None:
    ns = epoch_unix_ns(Timed(when))
    s = epoch_unix_s(Timed(when))
    assert ns is not None
    assert s is not None
    assert math.isfinite(s)
    assert math.isclose(ns / 1e9, s, rel_tol=1e-15, abs_tol=1e-6)
    assert ns % 1000 == 0  # NMEA and datetime carry microseconds: nothing is invented


def nmea(when: datetime, *, rmc: bool) -> list[bytes]:
    lines = [format_gga(when, 34.2, 108.9, altitude_msl_m=400.0)]
    if rmc:
        lines.append(format_rmc(when, 34.2, 108.9, speed_mps=0.0, course_deg=0.0))
    return lines


def test_an_undated_epoch_just_after_midnight_is_on_the_next_day() -> None:
    # The date comes from the last RMC; a GGA-only epoch after midnight still belongs to
    # the new day (the assembler's rollover), and its Unix time says so.
    assembler = NmeaFixAssembler()
    before = datetime(2026, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC)
    fixes = [assembler.feed(line) for line in nmea(before, rmc=True)]
    after = before + timedelta(seconds=1)
    fixes += [assembler.feed(line) for line in nmea(after, rmc=False)]
    fixes.append(assembler.flush())
    times = [epoch_unix_ns(fix) for fix in fixes if fix is not None]
    assert times == [
        int(before.timestamp()) * 10**9 + 500_000_000,
        int(after.timestamp()) * 10**9 + 500_000_000,
    ]
    assert after.date() != before.date()


def test_an_epoch_before_any_date_has_no_time() -> None:
    assembler = NmeaFixAssembler()
    when = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)
    for line in nmea(when, rmc=False):
        assembler.feed(line)
    fix = assembler.flush()
    assert fix is not None
    assert fix.latitude_deg is not None  # a fix, with no date
    assert epoch_unix_s(fix) is None
