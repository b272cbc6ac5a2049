"""NMEA: real receiver captures against gpsd's output, fuzzing, and the formatter round trip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.errors import NmeaError
from protocols.nmea import (
    FixQuality,
    GgaSentence,
    GnssFix,
    NmeaFixAssembler,
    format_gga,
    format_rmc,
    parse_sentence,
)
from tests.protocols.nmea_lines import mutate, seal

GPSD = Path(__file__).resolve().parents[1] / "data" / "gpsd"


def _sentences(name: str) -> list[bytes]:
    lines = (GPSD / name).read_bytes().splitlines()
    return [line for line in lines if line.startswith(b"$")]


def _fixes(lines: list[bytes]) -> tuple[list[GnssFix], NmeaFixAssembler]:
    assembler = NmeaFixAssembler()
    fixes = [fix for line in lines if (fix := assembler.feed(line)) is not None]
    if (last := assembler.flush()) is not None:
        fixes.append(last)
    return fixes, assembler


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


def test_checksum_rules() -> None:
    good = format_gga(datetime(2026, 1, 1, tzinfo=UTC), 34.2, 108.9, altitude_msl_m=400.0)
    body = good.partition(b"*")[0]
    bad_sum = body + b"*00"
    cases = {
        b"\xff" + good: "not_ascii",
        bad_sum: "checksum",
        body: "no_checksum",
        seal("GPGRS,120000.00,1,-0.33,-2.59,3.03"): "unsupported",
        seal("PUBX,00,120000.00"): "unsupported",
        seal("XXGGA,,,,,,0,,,,,,,,"): "unsupported",
        seal("GPGGA,,,,,,0,,,,,,,,"): "no_time",
        seal("GPGGA,120000.00,9100.0,N,,,1,,,,,,,,"): "malformed",
        seal("GPGGA,250000.00,,,,,1,,,,,,,,"): "malformed",
        seal("GPRMC,120000.00,X,,,,,,,,,,"): "malformed",
        b"garbage": "malformed",
    }
    for line, reason in cases.items():
        with pytest.raises(NmeaError) as info:
            parse_sentence(line)
        assert info.value.reason == reason, line
    unsealed = parse_sentence(body, allow_missing_checksum=True)
    assert isinstance(unsealed, GgaSentence)
    assert unsealed.latitude_deg == pytest.approx(34.2)
    assembler = NmeaFixAssembler()
    for line in cases:
        assert assembler.feed(line) is None
    assert dict(assembler.rejects) == {
        "not_ascii": 1,
        "checksum": 1,
        "no_checksum": 1,
        "unsupported": 3,
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
    assembler = NmeaFixAssembler(allow_missing_checksum=True)
    result = assembler.feed(mutate(line, edits, reseal=fix_checksum))
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
