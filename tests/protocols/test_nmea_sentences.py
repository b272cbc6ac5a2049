"""NMEA beyond GGA/RMC: each sentence type, epoch merging, gpsd's GST, and fuzzing streams."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.errors import NmeaError
from protocols.nmea import (
    AltitudeReference,
    FaultDetection,
    FixMode,
    FixQuality,
    GnssFix,
    NmeaFixAssembler,
    format_gga,
    format_gst,
    format_hdt,
    format_rmc,
    format_vtg,
    format_zda,
    parse_sentence,
)
from protocols.nmea.fields import GNSS_TALKERS
from protocols.nmea.sentences import (
    GbsSentence,
    GsaSentence,
    GstSentence,
    GsvSentence,
    HeadingSentence,
    VtgSentence,
    ZdaSentence,
)
from tests.protocols.nmea_lines import mutate, seal

GPSD = Path(__file__).resolve().parents[1] / "data" / "gpsd"
NOON = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def capture(name: str) -> list[bytes]:
    """A gpsd capture's lines without its ``#`` header."""
    lines = (GPSD / name).read_bytes().splitlines()
    return [line for line in lines if not line.startswith(b"#")]


def feed_all(lines: list[bytes], **options: bool) -> tuple[list[GnssFix], NmeaFixAssembler]:
    assembler = NmeaFixAssembler(**options)
    fixes = [fix for line in lines if (fix := assembler.feed(line)) is not None]
    if (last := assembler.flush()) is not None:
        fixes.append(last)
    return fixes, assembler


@pytest.mark.parametrize("talker", sorted(GNSS_TALKERS))
def test_every_sentence_type_from_every_talker(talker: str) -> None:
    vtg = parse_sentence(seal(f"{talker}VTG,054.7,T,034.4,M,005.5,N,010.2,K,D"))
    assert vtg == VtgSentence(talker, 54.7, 5.5 * 1852 / 3600, FixQuality.DGNSS)
    gsa = parse_sentence(seal(f"{talker}GSA,A,3,04,05,,09,12,,,24,,,,,2.5,1.3,2.1,1"))
    assert gsa == GsaSentence(talker, FixMode.FIX_3D, (4, 5, 9, 12, 24), 2.5, 1.3, 2.1, 1)
    gsv = parse_sentence(seal(f"{talker}GSV,3,2,11,07,66,172,51,11,,,36,28,39,325,,1"))
    assert gsv == GsvSentence(talker, 3, 2, 11, (7, 11, 28), "1")
    gst = parse_sentence(seal(f"{talker}GST,172814.0,0.006,0.023,0.020,273.6,0.023,0.020,0.031"))
    assert gst == GstSentence(
        talker, time(17, 28, 14), 0.006, 0.023, 0.020, 273.6, 0.023, 0.020, 0.031
    )
    gbs = parse_sentence(seal(f"{talker}GBS,015509.00,-0.031,-0.186,0.219,19,0.000,-0.354,6.972"))
    assert gbs == GbsSentence(talker, time(1, 55, 9), -0.031, -0.186, 0.219, 19, 0.0, -0.354, 6.972)
    zda = parse_sentence(seal(f"{talker}ZDA,201530.00,04,07,2002,00,00"))
    assert zda == ZdaSentence(talker, time(20, 15, 30), date(2002, 7, 4))
    assert parse_sentence(seal(f"{talker}HDT,274.07,T")) == HeadingSentence(talker, "HDT", 274.07)
    assert parse_sentence(seal(f"{talker}THS,77.52,E")) == HeadingSentence(talker, "THS", 77.52)
    assert parse_sentence(seal(f"{talker}THS,77.52,V")) == HeadingSentence(talker, "THS", None)


def test_old_vtg_without_unit_letters() -> None:
    old = parse_sentence(seal("GPVTG,054.7,034.4,005.5,010.2"))  # NMEA 1.x
    assert isinstance(old, VtgSentence)
    assert (old.course_deg, old.quality) == (54.7, None)
    assert old.speed_mps == pytest.approx(5.5 * 1852 / 3600)


@pytest.mark.parametrize(
    "body",
    [
        "GPGSA,A,4,01,,,,,,,,,,,,1.0,1.0,1.0",  # mode 4 does not exist
        "GPGSA,X,3,01,,,,,,,,,,,,1.0,1.0,1.0",
        "GPGSA,A,3,01,,,,,,,,,,,,-1.0,1.0,1.0",  # negative dilution
        "GPGSV,2,3,08,01,40,083,46",  # message 3 of 2
        "GPGSV,1,1,08,01,40,083",  # a satellite block cut short
        "GPGST,120000.00,1.0,1.0,1.0,0.0,-0.5,1.0,1.0",  # negative sigma
        "GPZDA,120000.00,04,07,,00,00",  # a partial date
        "GPZDA,120000.00,31,02,2024,00,00",  # no such day
        "GPZDA,120000.00,04,07,24,00,00",  # ZDA years have four digits
        "GPHDT,400.0,T",  # beyond 360 degrees
        "GPHDT,100.0,M",  # HDT is true heading only
        "GPTHS,100.0,X",  # no such mode
        "GPVTG,054.7,T,,M,005.5,N,010.2,K,Z",
        "GPGLL,4916.45,N,12311.12,W,225444,X,A",
    ],
)
def test_malformed_fields_are_rejected(body: str) -> None:
    with pytest.raises(NmeaError) as info:
        parse_sentence(seal(body))
    assert info.value.reason == "malformed"


def _cycle(when: datetime, lat: float) -> list[bytes]:
    """One u-blox-like cycle: RMC first, the untimed sentences after GGA, GBS last."""
    hhmmss = f"{when:%H%M%S}.00"
    return [
        format_rmc(when, lat, 108.9, speed_mps=3.0, course_deg=90.0, quality=FixQuality.RTK_FLOAT),
        format_vtg(speed_mps=9.0, course_deg=45.0),  # ignored for speed: RMC has one
        format_gga(
            when,
            lat,
            108.9,
            altitude_msl_m=400.0,
            geoid_separation_m=-30.0,
            quality=FixQuality.RTK_FLOAT,
            satellites=14,
            hdop=0.7,
        ),
        seal("GNGSA,A,3,01,03,04,,,,,,,,,,1.6,0.9,1.3,1"),
        seal("GNGSA,A,3,68,70,,,,,,,,,,,1.6,0.9,1.3,2"),
        seal("GPGSV,2,1,06,01,38,160,36,03,80,057,29,04,65,211,45,09,26,228,36,1"),
        seal("GPGSV,2,2,06,17,30,269,29,19,,,14,1"),
        seal("GPGSV,1,1,07,01,38,160,,03,80,057,,1"),  # a second signal group: max counts
        seal("GLGSV,1,1,03,68,26,060,20,70,31,264,38,79,13,116,37"),
        format_hdt(271.5),
        format_gst(when, latitude_m=0.03, longitude_m=0.04, altitude_m=0.05, rms_m=0.2),
        format_zda(when),
        seal(f"GNGBS,{hhmmss},0.5,0.6,0.9,,,,"),
    ]


def test_an_epoch_merges_every_sentence_and_the_cycle_end_is_learnt() -> None:
    first, second, third = (NOON.replace(second=s) for s in (0, 1, 2))
    assembler = NmeaFixAssembler()
    lines = _cycle(first, 34.0) + _cycle(second, 34.1) + _cycle(third, 34.2)
    results = [assembler.feed(line) for line in lines]
    # Cycle 1 ends when cycle 2 begins (line 13); that teaches the assembler that a cycle
    # ends with GBS, so cycles 2 and 3 are returned at their GBS (lines 25 and 38).
    assert [i for i, fix in enumerate(results) if fix is not None] == [13, 25, 38]
    assert dict(assembler.rejects) == {}
    fix = results[38]
    assert fix is not None
    floats = (fix.latitude_deg, fix.longitude_deg, fix.altitude_m, fix.speed_mps, fix.eph_m)
    assert floats == pytest.approx((34.2, 108.9, 370.0, 3.0, 0.05), abs=1e-3)
    exact = replace(
        fix, latitude_deg=None, longitude_deg=None, altitude_m=None, speed_mps=None, eph_m=None
    )
    assert exact == GnssFix(
        time=third,
        latitude_deg=None,
        longitude_deg=None,
        altitude_m=None,
        altitude_reference=AltitudeReference.ELLIPSOID,
        speed_mps=None,
        course_deg=90.0,
        quality=FixQuality.RTK_FLOAT,
        satellites=14,
        hdop=0.7,
        talker="GN",
        mode=FixMode.FIX_3D,
        pdop=1.6,
        vdop=1.3,
        satellites_used=(1, 3, 4, 68, 70),
        satellites_in_view=(("glonass", 3), ("gps", 7)),
        eph_m=None,
        epv_m=0.05,
        errors=fix.errors,
        heading_deg=271.5,
        fault_detection=fix.fault_detection,
        sentences=13,
    )
    assert fix.errors is not None
    assert fix.errors.major_m == 0.04
    # Every GBS field reaches the fix (the assembler copies them by name).
    assert fix.fault_detection == FaultDetection(0.5, 0.6, 0.9, None, None, None, None)
    assert assembler.flush() is None


def test_vtg_gives_speed_and_zda_the_date_without_rmc() -> None:
    when = datetime(2031, 12, 31, 23, 59, 59, 500000, tzinfo=UTC)
    lines = [
        format_zda(when, talker="GP"),
        format_gga(when, -45.0, 170.0, altitude_msl_m=14.2, talker="GP"),
        format_vtg(speed_mps=2.5, course_deg=359.0, talker="GP"),
        seal("GPGSA,A,2,01,03,04,,,,,,,,,,1.6,0.9,1.3"),
    ]
    (fix,), _ = feed_all(lines)
    assert fix.time == when
    assert fix.speed_mps == pytest.approx(2.5, abs=1e-3)
    assert fix.course_deg == 359.0
    assert fix.mode is FixMode.FIX_2D  # the receiver's GSA, though GGA has an altitude
    assert fix.altitude_reference is AltitudeReference.ELLIPSOID


@pytest.mark.parametrize(
    ("lines", "mode"),
    [
        ([format_gga(NOON, 1.0, 2.0, altitude_msl_m=5.0)], FixMode.FIX_3D),
        ([format_rmc(NOON, 1.0, 2.0, speed_mps=0.0, course_deg=0.0)], FixMode.FIX_2D),
        ([format_gga(NOON, 1.0, 2.0, altitude_msl_m=5.0, satellites=0)], FixMode.NO_FIX),
        (
            [format_gga(NOON, 1.0, 2.0, altitude_msl_m=5.0, quality=FixQuality.NONE)],
            FixMode.NO_FIX,
        ),
        ([format_zda(NOON)], FixMode.NO_FIX),
    ],
)
def test_mode_without_gsa_is_inferred_like_gpsd(lines: list[bytes], mode: FixMode) -> None:
    (fix,), _ = feed_all(lines)
    assert fix.mode is mode


def test_heading_from_a_dual_antenna_receiver() -> None:
    lines = capture("skytraq-PX1172RH_DS.log")
    fixes, _ = feed_all(lines)
    hdt = [float(line.split(b",")[1]) for line in lines if line.startswith(b"$GNHDT")]
    assert [fix.heading_deg for fix in fixes if fix.heading_deg is not None] == hdt
    assert len(hdt) == 9
    assert all(fix.quality is FixQuality.RTK_FLOAT for fix in fixes if fix.latitude_deg)


@pytest.mark.parametrize("name", ["skytraq-dgps.log", "ublox-zed-f9p-nmea.log"])
def test_gst_error_estimates_agree_with_gpsd(name: str) -> None:
    fixes, _ = feed_all(capture(name))
    ours = {fix.time: fix for fix in fixes}
    checked = set()
    for line in (GPSD / f"{name}.chk").read_text().splitlines():
        if '"class":"GST"' not in line:
            continue
        gst = json.loads(line)
        fix = ours[datetime.fromisoformat(gst["time"].replace("Z", "+00:00"))]
        assert fix.errors is not None
        got = fix.errors
        for key, value in (
            ("rms", got.rms_m),
            ("major", got.major_m),
            ("minor", got.minor_m),
            ("orient", got.orientation_deg),
            ("lat", got.latitude_m),
            ("lon", got.longitude_m),
            ("alt", got.altitude_m),
        ):
            if key in gst:
                assert value == pytest.approx(gst[key], abs=1e-3), (gst["time"], key)
        assert fix.eph_m == pytest.approx(math.hypot(gst["lat"], gst["lon"]))
        assert fix.epv_m == gst["alt"]
        checked.add(fix.time)
    assert len(checked) == {"skytraq-dgps.log": 96, "ublox-zed-f9p-nmea.log": 29}[name]


def test_gpsd_invents_a_geoid_separation_we_do_not() -> None:
    # The Quectel GGA leaves the geoid separation empty; gpsd fills it from its own geoid
    # model and reports altHAE from that. We report the receiver's MSL altitude as such.
    fixes, _ = feed_all(capture("quectelLC79D-1.log"))
    located = [fix for fix in fixes if fix.altitude_m is not None]
    assert len(located) == 29
    assert all(fix.altitude_reference is AltitudeReference.MSL for fix in located)
    chk = (GPSD / "quectelLC79D-1.log.chk").read_text().splitlines()
    tpv = [json.loads(line) for line in chk if line.startswith('{"class":"TPV"')]
    with_sep = [record for record in tpv if "geoidSep" in record and "altHAE" in record]
    assert len(with_sep) == 287
    assert all(record["altHAE"] != record["altMSL"] for record in with_sep)


def test_checksum_less_receiver_when_configured() -> None:
    lines = capture("hp58534a.log")
    fixes, assembler = feed_all(lines, allow_missing_checksum=True)
    assert dict(assembler.rejects) == {"unsupported": 2}  # $PFEC, proprietary
    assert [fix.time for fix in fixes] == [
        datetime(2010, 10, 25, 22, 24, 49, tzinfo=UTC),
        datetime(2010, 10, 25, 22, 24, 50, tzinfo=UTC),
    ]
    first = fixes[0]
    assert first.latitude_deg == pytest.approx(-(33 + 49.0337 / 60))
    assert first.altitude_m == pytest.approx(115.4 + 33.3)
    assert first.satellites_in_view == (("gps", 9),)
    assert first.speed_mps == 0.0


# --- formatter round trips -------------------------------------------------------------

talkers = st.sampled_from(sorted(GNSS_TALKERS))
times = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2070, 12, 31), timezones=st.just(UTC)
).map(lambda when: when.replace(microsecond=when.microsecond // 10_000 * 10_000))
metres = st.floats(0, 1000, allow_nan=False)
# The formatters print three decimals: half a unit of the last digit, plus float noise.
HALF_MILLI = 5.001e-4


@given(
    speed=st.floats(0, 200, allow_nan=False),
    course=st.floats(0, 359.999, allow_nan=False),
    quality=st.sampled_from(list(FixQuality)),
    talker=talkers,
)
def test_vtg_round_trip(speed: float, course: float, quality: FixQuality, talker: str) -> None:
    vtg = parse_sentence(
        format_vtg(speed_mps=speed, course_deg=course, quality=quality, talker=talker)
    )
    assert isinstance(vtg, VtgSentence)
    assert vtg.speed_mps == pytest.approx(speed, abs=1e-3)
    assert vtg.course_deg == pytest.approx(course, abs=1e-3)
    assert (vtg.quality, vtg.talker) == (quality, talker)


@given(when=times, talker=talkers)
def test_zda_round_trip(when: datetime, talker: str) -> None:
    zda = parse_sentence(format_zda(when, talker=talker))
    assert isinstance(zda, ZdaSentence)
    assert datetime.combine(zda.date or date.min, zda.time_of_day, tzinfo=UTC) == when


@given(when=times, lat=metres, lon=metres, alt=metres, rms=metres, talker=talkers)
def test_gst_round_trip(
    when: datetime, lat: float, lon: float, alt: float, rms: float, talker: str
) -> None:
    line = format_gst(
        when, latitude_m=lat, longitude_m=lon, altitude_m=alt, rms_m=rms, talker=talker
    )
    gst = parse_sentence(line)
    assert isinstance(gst, GstSentence)
    assert gst.time_of_day == when.time()
    got = (gst.latitude_m, gst.longitude_m, gst.altitude_m, gst.rms_m)
    assert got == pytest.approx((lat, lon, alt, rms), abs=HALF_MILLI)
    assert gst.major_m == pytest.approx(max(lat, lon), abs=HALF_MILLI)


@given(heading=st.floats(0, 359.999, allow_nan=False), talker=talkers)
def test_hdt_round_trip(heading: float, talker: str) -> None:
    hdt = parse_sentence(format_hdt(heading, talker=talker))
    assert isinstance(hdt, HeadingSentence)
    assert hdt.heading_deg == pytest.approx(heading, abs=HALF_MILLI)


def test_new_formatters_reject_bad_arguments() -> None:
    with pytest.raises(ValueError, match="talker"):
        format_zda(NOON, talker="HE")
    with pytest.raises(ValueError, match="speed"):
        format_vtg(speed_mps=-1.0, course_deg=0.0)
    with pytest.raises(ValueError, match="errors"):
        format_gst(NOON, latitude_m=float("nan"), longitude_m=1.0, altitude_m=1.0)
    with pytest.raises(ValueError, match="heading"):
        format_hdt(float("inf"))


# --- streams of real and broken sentences ----------------------------------------------

REAL = [
    line
    for name in ("ublox-zed-f9p-nmea.log", "skytraq-PX1172RH_DS.log", "skytraq-dgps.log")
    for line in (GPSD / name).read_bytes().splitlines()[:400]
    if line.startswith(b"$")
]


stream_lines = st.one_of(
    st.sampled_from(REAL),
    st.tuples(
        st.sampled_from(REAL),
        st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), min_size=1, max_size=3),
        st.booleans(),
    ).map(lambda args: mutate(*args)),
    st.binary(max_size=100),
)


@settings(max_examples=150)
@given(st.lists(stream_lines, max_size=40), st.booleans())
def test_every_line_of_a_broken_stream_is_counted_once(
    lines: list[bytes], allow_missing_checksum: bool
) -> None:
    fixes, assembler = feed_all(lines, allow_missing_checksum=allow_missing_checksum)
    # Each line is merged into exactly one fix (returned or flushed) or counted as a reject.
    assert sum(fix.sentences for fix in fixes) + assembler.rejects.total() == len(lines)
    assert sum(fix.sentences for fix in fixes) == assembler.accepted.total()
    assert all(fix.sentences > 0 for fix in fixes)
    assert assembler.flush() is None
