"""NMEA: real receiver captures against gpsd's output, fuzzing, and the formatter round trip."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.errors import NmeaError
from protocols.nmea import (
    AltitudeReference,
    FixQuality,
    GnssFix,
    NmeaFixAssembler,
    format_gga,
    format_rmc,
    parse_sentence,
)
from protocols.nmea.sentences import checksum

GPSD = Path(__file__).resolve().parents[1] / "data" / "gpsd"
# gpsd "corrects" neo-m8n.log's 2015 RMC dates by one GPS week rollover (1024 weeks) because
# they predate its build; the receiver's own date is what we report.
LOGS = {"neo-m8n.log": timedelta(weeks=1024), "nmea-rtk.log": timedelta(0)}


def _sentences(name: str) -> list[bytes]:
    lines = (GPSD / name).read_bytes().splitlines()
    return [line for line in lines if line.startswith(b"$")]


def _fixes(lines: list[bytes]) -> tuple[list[GnssFix], NmeaFixAssembler]:
    assembler = NmeaFixAssembler()
    fixes = [fix for line in lines if (fix := assembler.feed(line)) is not None]
    if (last := assembler.flush()) is not None:
        fixes.append(last)
    return fixes, assembler


def _tpv_with_time(name: str) -> list[dict[str, Any]]:
    records = []
    for line in (GPSD / f"{name}.chk").read_text().splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record["class"] == "TPV" and "time" in record and "lat" in record:
                records.append(record)
    return records


@pytest.mark.parametrize(("name", "gpsd_rollover"), LOGS.items())
def test_fixes_match_gpsd(name: str, gpsd_rollover: timedelta) -> None:
    lines = _sentences(name)
    fixes, assembler = _fixes(lines)
    by_time = {fix.time: fix for fix in fixes}
    records = _tpv_with_time(name)
    assert len(records) >= 20
    for record in records:
        gpsd_time = datetime.fromisoformat(record["time"].replace("Z", "+00:00"))
        fix = by_time[gpsd_time - gpsd_rollover]
        assert fix.latitude_deg == pytest.approx(record["lat"], abs=1e-6)
        assert fix.longitude_deg == pytest.approx(record["lon"], abs=1e-6)
        if "altHAE" in record:
            assert fix.altitude_reference is AltitudeReference.ELLIPSOID
            assert fix.altitude_m == pytest.approx(record["altHAE"], abs=1e-3)
        if "speed" in record:
            assert fix.speed_mps == pytest.approx(record["speed"], abs=1e-3)
        if "track" in record:
            assert fix.course_deg == pytest.approx(record["track"], abs=1e-3)
    # Both logs interleave GGA and RMC for every epoch: every fix is a merged one.
    assert all(fix.satellites is not None and fix.speed_mps is not None for fix in fixes)
    others = sum(1 for line in lines if line[3:6] not in (b"GGA", b"RMC"))
    assert dict(assembler.rejects) == ({"unsupported": others} if others else {})
    assert len(fixes) == (len(lines) - others) // 2


def test_rtk_qualities_from_a_trimble_receiver() -> None:
    fixes, _ = _fixes(_sentences("nmea-rtk.log"))
    qualities = [fix.quality for fix in fixes]
    assert qualities.count(FixQuality.RTK_FIXED) == 18
    assert qualities.count(FixQuality.DGNSS) == len(fixes) - 18
    first = fixes[0]
    assert first.time == datetime(2020, 3, 18, 13, 28, 19, 600000, tzinfo=UTC)
    assert first.hdop == 0.9
    assert first.satellites == 10
    assert first.talker == "GN"


def _seal(body: str) -> bytes:
    return f"${body}*{checksum(body):02X}".encode()


def test_checksum_rules() -> None:
    good = format_gga(datetime(2026, 1, 1, tzinfo=UTC), 34.2, 108.9, altitude_msl_m=400.0)
    body = good.partition(b"*")[0]
    bad_sum = body + b"*00"
    cases = {
        b"\xff" + good: "not_ascii",
        bad_sum: "checksum",
        body: "no_checksum",
        _seal("GPGSV,1,1,00"): "unsupported",
        _seal("XXGGA,,,,,,0,,,,,,,,"): "unsupported",
        _seal("GPGGA,,,,,,0,,,,,,,,"): "no_time",
        _seal("GPGGA,120000.00,9100.0,N,,,1,,,,,,,,"): "malformed",
        _seal("GPGGA,250000.00,,,,,1,,,,,,,,"): "malformed",
        _seal("GPRMC,120000.00,X,,,,,,,,,,"): "malformed",
        b"garbage": "malformed",
    }
    for line, reason in cases.items():
        with pytest.raises(NmeaError) as info:
            parse_sentence(line)
        assert info.value.reason == reason, line
    assert parse_sentence(body, allow_missing_checksum=True).latitude_deg == pytest.approx(34.2)
    assembler = NmeaFixAssembler()
    for line in cases:
        assert assembler.feed(line) is None
    assert dict(assembler.rejects) == {
        "not_ascii": 1,
        "checksum": 1,
        "no_checksum": 1,
        "unsupported": 2,
        "no_time": 1,
        "malformed": 4,
    }


def test_gga_only_receiver_takes_the_date_of_the_last_rmc() -> None:
    noon = datetime(2026, 6, 1, 23, 59, 59, tzinfo=UTC)
    assembler = NmeaFixAssembler()
    rmc = format_rmc(noon, 1.0, 2.0, speed_mps=0.0, course_deg=0.0)
    assert assembler.feed(rmc) is None
    after_midnight = noon + timedelta(seconds=2)
    assert assembler.feed(format_gga(after_midnight, 1.0, 2.0, altitude_msl_m=5.0)) is not None
    fix = assembler.flush()
    assert fix is not None
    assert fix.time == after_midnight
    assert fix.speed_mps is None
    assert fix.altitude_m == 5.0


def test_gga_only_before_any_rmc_has_no_time() -> None:
    assembler = NmeaFixAssembler()
    gga = format_gga(datetime(2026, 1, 1, tzinfo=UTC), 1.0, 2.0, altitude_msl_m=5.0)
    assert assembler.feed(gga) is None
    assert assembler.feed(gga) is None  # the same epoch again
    fix = assembler.flush()
    assert fix is not None
    assert fix.time is None
    assert assembler.rejects["duplicate"] == 1
    assert assembler.flush() is None


@given(
    st.one_of(
        st.binary(max_size=120),
        st.binary(max_size=80).map(lambda tail: b"$GPGGA," + tail),
        st.binary(max_size=80).map(lambda tail: b"$GNRMC," + tail),
    ),
    st.booleans(),
)
def test_arbitrary_bytes_never_raise(line: bytes, allow_missing_checksum: bool) -> None:
    assembler = NmeaFixAssembler(allow_missing_checksum=allow_missing_checksum)
    assert assembler.feed(line) is None  # one sentence alone never completes an epoch
    flushed = assembler.flush()
    assert (flushed is not None) + sum(assembler.rejects.values()) == 1


REAL_LINES = _sentences("nmea-rtk.log")[:40] + _sentences("neo-m8n.log")[:40]


@given(
    st.sampled_from(REAL_LINES),
    st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), min_size=1, max_size=4),
    st.booleans(),
)
def test_mutated_real_sentences_never_raise(
    line: bytes, edits: list[tuple[int, int]], fix_checksum: bool
) -> None:
    mutated = bytearray(line)
    for position, value in edits:
        mutated[position % len(mutated)] = value
    if fix_checksum and mutated.startswith(b"$") and b"*" in mutated:
        # Re-seal so the mutation reaches the field parsers instead of the checksum check.
        body = bytes(mutated[1:]).partition(b"*")[0]
        sealed = 0
        for char in body:
            sealed ^= char
        mutated = bytearray(b"$" + body + b"*" + f"{sealed:02X}".encode())
    assembler = NmeaFixAssembler(allow_missing_checksum=True)
    result = assembler.feed(bytes(mutated))
    flushed = assembler.flush()
    assert result is None
    # Every sentence is either used (a pending fix) or counted, never both, never neither.
    assert (flushed is not None) + sum(assembler.rejects.values()) == 1


coordinates = st.tuples(
    st.floats(-89.999, 89.999, allow_nan=False), st.floats(-179.999, 179.999, allow_nan=False)
)


@given(
    when=st.datetimes(
        min_value=datetime(1990, 1, 1), max_value=datetime(2070, 12, 31), timezones=st.just(UTC)
    ),
    position=coordinates,
    altitude=st.floats(-400, 9000, allow_nan=False),
    geoid=st.floats(-100, 100, allow_nan=False),
    speed=st.floats(0, 100, allow_nan=False),
    course=st.floats(0, 359.99, allow_nan=False),
    quality=st.sampled_from(list(FixQuality)),
    talker=st.sampled_from(["GP", "GN", "GL", "GA", "GB", "BD", "GQ"]),
)
def test_formatted_sentences_round_trip(
    when: datetime,
    position: tuple[float, float],
    altitude: float,
    geoid: float,
    speed: float,
    course: float,
    quality: FixQuality,
    talker: str,
) -> None:
    when = when.replace(microsecond=when.microsecond // 10_000 * 10_000)
    lat, lon = position
    assembler = NmeaFixAssembler()
    gga = format_gga(
        when,
        lat,
        lon,
        altitude_msl_m=altitude,
        geoid_separation_m=geoid,
        quality=quality,
        satellites=9,
        hdop=1.3,
        talker=talker,
    )
    rmc = format_rmc(when, lat, lon, speed_mps=speed, course_deg=course, quality=quality)
    assert assembler.feed(gga) is None
    fix = assembler.feed(rmc)
    assert fix is not None, dict(assembler.rejects)
    assert fix.time == when
    assert fix.latitude_deg == pytest.approx(lat, abs=1e-8)
    assert fix.longitude_deg == pytest.approx(lon, abs=1e-8)
    assert fix.altitude_m == pytest.approx(altitude + geoid, abs=2e-3)
    assert fix.speed_mps == pytest.approx(speed, abs=1e-3)
    assert fix.course_deg == pytest.approx(course, abs=1e-3)
    assert fix.quality is quality
    assert (fix.satellites, fix.hdop, fix.talker) == (9, 1.3, talker)
    only_rmc = NmeaFixAssembler()
    only_rmc.feed(rmc)
    rmc_fix = only_rmc.flush()
    assert rmc_fix is not None
    assert rmc_fix.quality is quality  # the RMC mode indicator carries the same quality


def test_formatter_rejects_bad_arguments() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="talker"):
        format_gga(now, 0.0, 0.0, altitude_msl_m=0.0, talker="XX")
    with pytest.raises(ValueError, match="coordinate"):
        format_rmc(now, 91.0, 0.0, speed_mps=0.0, course_deg=0.0)
    with pytest.raises(ValueError, match="coordinate"):
        format_gga(now, 0.0, float("nan"), altitude_msl_m=0.0)
