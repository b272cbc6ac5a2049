"""GNS (NMEA 4.x fix data with a mode letter per constellation) and gpsd's fix-mode inference.

Real GNS sentences: the 10 ``$GNGNS`` of gpsd's ``beidou-bd.log`` (SiRF TriG, GPS + BeiDou;
``tests/data/gpsd/SOURCES.md``), checked against gpsd's own report of that capture.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.errors import NmeaError
from protocols.nmea import (
    AltitudeReference,
    FixMode,
    FixQuality,
    GnsSentence,
    NmeaFixAssembler,
    format_gga,
    parse_sentence,
)
from tests.protocols.nmea_lines import mutate, seal
from tests.protocols.test_nmea_gpsd import _disagreements, _iso, tpv_by_time
from tests.protocols.test_nmea_non_finite import field_text, float_values
from tests.protocols.test_nmea_sentences import capture, feed_all

BEIDOU = "beidou-bd.log"
REAL_GNS = [line for line in capture(BEIDOU) if line.startswith(b"$GNGNS")]
# gpsd's documented NMEA 4.10 example (drivers/driver_nmea0183.c, processGNS), with its
# checksum recomputed: the documented *6A does not match its fields.
GPSD_EXAMPLE = seal(
    "GPGNS,224749.00,3333.4268304,N,11153.3538273,W,D,19,0.6,406.110,-26.294,6.0,0138,S,"
)


def test_the_real_gns_sentences_of_a_beidou_receiver() -> None:
    assert len(REAL_GNS) == 10
    sentences = [parse_sentence(line) for line in REAL_GNS]
    assert all(isinstance(s, GnsSentence) for s in sentences)
    searching = parse_sentence(b"$GNGNS,074150.799,,,,,NNNN,00,,,0.0,,0000*63")
    assert searching == GnsSentence(
        "GN", time(7, 41, 50, 799000), None, None, "NNNN", FixQuality.NONE, 0, None, None, 0.0,
        None, 0, None,
    )  # fmt: skip
    fixed = parse_sentence(
        b"$GNGNS,074155.799,3114.8770,N,12135.2463,E,ANNA,05,1.3,156.9,8.3,,0000*52"
    )
    assert isinstance(fixed, GnsSentence)
    assert fixed.latitude_deg == pytest.approx(31 + 14.8770 / 60, abs=1e-12)
    assert fixed.longitude_deg == pytest.approx(121 + 35.2463 / 60, abs=1e-12)
    assert (fixed.modes, fixed.quality, fixed.satellites, fixed.hdop) == (
        "ANNA",
        FixQuality.GNSS,
        5,
        1.3,
    )
    assert (fixed.altitude_msl_m, fixed.geoid_separation_m, fixed.station_id) == (156.9, 8.3, 0)


def test_gpsds_nmea_4_10_example_with_age_station_and_status() -> None:
    gns = parse_sentence(GPSD_EXAMPLE)
    assert isinstance(gns, GnsSentence)
    assert gns.longitude_deg == pytest.approx(-(111 + 53.3538273 / 60), abs=1e-12)
    assert (gns.modes, gns.quality, gns.satellites, gns.hdop) == ("D", FixQuality.DGNSS, 19, 0.6)
    assert (gns.altitude_msl_m, gns.geoid_separation_m) == (406.110, -26.294)
    assert (gns.differential_age_s, gns.station_id, gns.navigational_status) == (6.0, 138, "S")


def test_without_its_ggas_the_beidou_capture_gives_the_same_fixes_and_agrees_with_gpsd() -> None:
    lines = capture(BEIDOU)
    with_gga, _ = feed_all(lines)
    without = [line for line in lines if not line.startswith(b"$GNGGA")]
    assert len(without) == len(lines) - 10
    gns_only, assembler = feed_all(without)
    assert assembler.accepted["GGA"] == 0
    assert assembler.accepted["GNS"] == 10
    assert len(gns_only) == len(with_gga)
    for ours, reference in zip(gns_only, with_gga, strict=True):
        assert ours.time == reference.time
        assert ours.latitude_deg == reference.latitude_deg
        assert ours.longitude_deg == reference.longitude_deg
        assert ours.altitude_m == reference.altitude_m
        assert ours.altitude_reference == reference.altitude_reference
        assert (ours.quality, ours.satellites, ours.hdop, ours.mode) == (
            reference.quality,
            reference.satellites,
            reference.hdop,
            reference.mode,
        )
    by_time = {fix.time: fix for fix in gns_only if fix.time is not None}
    records = tpv_by_time(BEIDOU)
    assert len(records) == 4
    for when, tpvs in records.items():
        fix = by_time[_iso(when)]
        for record in tpvs:
            assert _disagreements(fix, record) == [], (when, record)
        assert fix.mode == tpvs[-1]["mode"], when


def _gns_stream(epochs: list[str]) -> list[bytes]:
    """One GNS per second from 08:30:00, each with the given mode letters; a date first."""
    lines = [seal("GNZDA,082959.00,01,03,2026,00,00")]
    for second, modes in enumerate(epochs):
        lines.append(
            seal(
                f"GBGNS,0830{second:02d}.00,3954.{second:04d},N,11623.5000,E,{modes},"
                f"09,0.8,51.2,-9.6,,,"
            )
        )
    return lines


def test_a_gns_only_stream_gives_a_fix_per_epoch() -> None:
    fixes, assembler = feed_all(_gns_stream(["A", "NNNA", "D", "NNN", "RR", "FA"]))
    assert assembler.rejects == {}
    # The ZDA of 08:29:59 is an epoch of its own (time, no position).
    assert [fix.mode for fix in fixes] == [
        FixMode.NO_FIX,
        FixMode.FIX_3D,
        FixMode.FIX_3D,
        FixMode.FIX_3D,
        FixMode.NO_FIX,
        FixMode.FIX_3D,
        FixMode.FIX_3D,
    ]
    assert [fix.quality for fix in fixes[1:]] == [
        FixQuality.GNSS,
        FixQuality.GNSS,  # BeiDou alone (4th letter) is a fix
        FixQuality.DGNSS,
        FixQuality.NONE,
        FixQuality.RTK_FIXED,
        FixQuality.RTK_FLOAT,  # the best letter
    ]
    first = fixes[1]
    assert first.time == datetime(2026, 3, 1, 8, 30, 0, tzinfo=UTC)
    assert first.talker == "GB"
    assert first.altitude_m == pytest.approx(51.2 - 9.6)
    assert first.altitude_reference is AltitudeReference.ELLIPSOID
    assert (first.satellites, first.hdop) == (9, 0.8)


@pytest.mark.parametrize(
    ("body", "mode", "quality"),
    [
        ("GNGNS,083000.00,3954.0,N,11623.5,E,AAN,09,0.8,51.2,-9.6,,,", FixMode.FIX_3D, 1),
        ("GNGNS,083000.00,3954.0,N,11623.5,E,DDN,09,0.8,,,,,", FixMode.FIX_2D, 2),
        ("GNGNS,083000.00,3954.0,N,11623.5,E,DDN,09,0.8,51.2,,,,", FixMode.FIX_3D, 2),
        ("GNGNS,083000.00,3954.0,N,11623.5,E,AAN,09,0.8,51.2,-9.6,,,V", FixMode.NO_FIX, 0),
        ("GNGNS,083000.00,3954.0,N,11623.5,E,AAN,09,0.8,51.2,-9.6,,,U", FixMode.NO_FIX, 0),
        ("GNGNS,083000.00,3954.0,N,11623.5,E,AAN,09,0.8,51.2,-9.6,,,C", FixMode.FIX_3D, 1),
        ("GNGNS,083000.00,3954.0,N,11623.5,E,,09,0.8,51.2,-9.6,,,", FixMode.NO_FIX, 0),
        ("GNGNS,083000.00,,,,,AAN,09,0.8,51.2,-9.6,,,", FixMode.NO_FIX, 1),
        # GGA: gpsd's placeholder rule (under 3 satellites is no fix), and a 3-satellite
        # fix with altitude that gpsd's captures report as 3D (mtk-3301.log).
        ("GPGGA,083000.00,3954.0,N,11623.5,E,1,02,0.8,51.2,M,-9.6,M,,", FixMode.NO_FIX, 1),
        ("GPGGA,083000.00,3954.0,N,11623.5,E,1,3,0.8,51.2,M,-9.6,M,,", FixMode.FIX_3D, 1),
        ("GPGGA,083000.00,3954.0,N,11623.5,E,1,,0.8,51.2,M,-9.6,M,,", FixMode.FIX_3D, 1),
        ("GPGGA,083000.00,3954.0,N,11623.5,E,1,08,0.8,,M,,M,,", FixMode.FIX_2D, 1),
    ],
)
def test_mode_without_gsa_is_inferred_like_gpsd(body: str, mode: FixMode, quality: int) -> None:
    (fix,), _ = feed_all([seal(body)])
    assert (fix.mode, fix.quality) == (mode, quality)


def test_a_gsa_still_decides_the_mode_and_gga_wins_over_gns() -> None:
    when = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
    lines = [
        format_gga(when, 39.9, 116.39, altitude_msl_m=50.0, quality=FixQuality.DGNSS),
        seal("GNGNS,083000.00,3954.0,N,11623.5,E,AAN,05,1.5,99.0,,,,"),
        seal("GNGSA,A,2,01,03,04,,,,,,,,,,1.6,0.9,1.3,4"),
    ]
    (fix,), assembler = feed_all(lines)
    assert assembler.accepted == {"GGA": 1, "GNS": 1, "GSA": 1}
    assert fix.mode is FixMode.FIX_2D
    assert fix.latitude_deg == pytest.approx(39.9)
    assert (fix.quality, fix.satellites) == (FixQuality.DGNSS, 12)
    assert fix.altitude_m == pytest.approx(50.0)


@pytest.mark.parametrize(
    "body",
    [
        "GNGNS,083000.00,3954.0,N,11623.5,E,AXN,09,0.8,51.2,-9.6,,,",  # X is no mode
        "GNGNS,083000.00,3954.0,N,11623.5,E,aan,09,0.8,51.2,-9.6,,,",
        "GNGNS,083000.00,3954.0,N,11623.5,E,AAAAAAAAA,09,0.8,51.2,-9.6,,,",  # 9 systems
        "GNGNS,083000.00,3954.0,N,11623.5,E,AAN,09,0.8,51.2,-9.6,,,Z",  # no such status
        "GNGNS,083000.00,3954.0,N,11623.5,E,AAN,09,0.8,51.2,-9.6,,1024,",  # station 0-1023
        "GNGNS,083000.00,3954.0,N,11623.5,E,AAN,09,0.8,51.2,-9.6,-1.0,0001,",
        "GNGNS,083000.00,3954.0,N,11623.5,E,AAN,09,0.8,51.2,-9.6,inf,0001,",
        "GNGNS,083000.00,3954.0,N,11623.5,E,AAN,09,0.8,51.2,-9.6,1e999,0001,",
        "GNGNS,083000.00,3954.0,N,11623.5,E,AAN,09,0.8,nan,-9.6,,,",
        "GNGNS,083000.00,3954.0,N,11623.5,E,AAN,09,0.8,51.2,1e3,,,",
        "GNGNS,083000.00,3954.0,N,11623.5,E,AAN,09,-0.8,51.2,-9.6,,,",
        "GNGNS,083000.00,3954.0,N,11623.5,E,AAN,1000,0.8,51.2,-9.6,,,",
        "GNGNS,083000.00,9100.0,N,11623.5,E,AAN,09,0.8,51.2,-9.6,,,",
        "GNGNS,083000.00,3954.0,N,11623.5,X,AAN,09,0.8,51.2,-9.6,,,",
        "GNGNS,086000.00,3954.0,N,11623.5,E,AAN,09,0.8,51.2,-9.6,,,",
    ],
)
def test_malformed_gns_fields_are_rejected(body: str) -> None:
    with pytest.raises(NmeaError) as info:
        parse_sentence(seal(body))
    assert info.value.reason == "malformed"


def test_a_gns_without_time_is_counted_as_no_time() -> None:
    assembler = NmeaFixAssembler()
    assert assembler.feed(seal("GNGNS,,3954.0,N,11623.5,E,AAN,09,0.8,51.2,-9.6,,,")) is None
    assert assembler.rejects == {"no_time": 1}


@settings(max_examples=300)
@given(
    modes=st.text(alphabet="ADPRFENMS", max_size=8),
    status=st.sampled_from(["", "S", "C", "U", "V"]),
    satellites=st.integers(0, 99),
    altitude=st.one_of(st.just(""), st.floats(-500.0, 9000.0).map(lambda v: f"{v:.3f}")),
)
def test_gns_quality_and_mode_follow_the_mode_letters(
    modes: str, status: str, satellites: int, altitude: str
) -> None:
    line = seal(
        f"GQGNS,083000.00,3954.0,S,11623.5,W,{modes},{satellites:02d},0.8,{altitude},1.0,,,{status}"
    )
    gns = parse_sentence(line)
    assert isinstance(gns, GnsSentence)
    letters = set(modes) - set("NMS")  # N not valid, M manual, S simulated: no measurement
    assert (gns.quality is FixQuality.NONE) == (not letters or status in ("U", "V"))
    (fix,), _ = feed_all([line])
    if gns.quality is FixQuality.NONE:
        assert fix.mode is FixMode.NO_FIX
    else:
        assert fix.mode is (FixMode.FIX_3D if altitude else FixMode.FIX_2D)
        assert fix.latitude_deg == -(39 + 54 / 60)
        assert fix.satellites == satellites


GNS_TEMPLATE = "GNGNS,083000.00,{0},N,{1},E,AAN,{2},{3},{4},{5},{0},0138,S"


@settings(max_examples=300)
@given(fields=st.lists(field_text, min_size=6, max_size=6))
def test_nasty_numbers_in_a_gns_are_refused_or_finite(fields: list[str]) -> None:
    line = seal(GNS_TEMPLATE.format(*fields))
    reason: str | None = None
    try:
        sentence = parse_sentence(line)
    except NmeaError as err:
        reason = err.reason
    assert reason in (None, "malformed")
    if reason is not None:
        return
    assert all(math.isfinite(v) for v in float_values(sentence)), (line, sentence)
    assembler = NmeaFixAssembler()
    assembler.feed(line)
    fix = assembler.flush()
    assert fix is not None
    assert all(math.isfinite(v) for v in float_values(fix)), (line, fix)


@settings(max_examples=300)
@given(
    lines=st.lists(
        st.tuples(
            st.sampled_from([*REAL_GNS, GPSD_EXAMPLE]),
            st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), max_size=4),
            st.booleans(),
        ),
        max_size=8,
    )
)
def test_mutated_real_gns_never_raise(
    lines: list[tuple[bytes, list[tuple[int, int]], bool]],
) -> None:
    assembler = NmeaFixAssembler()
    fixes = []
    for line, edits, reseal in lines:
        if (fix := assembler.feed(mutate(line, edits, reseal))) is not None:
            fixes.append(fix)
    if (last := assembler.flush()) is not None:
        fixes.append(last)
    assert sum(fix.sentences for fix in fixes) + assembler.rejects.total() == len(lines)
    for fix in fixes:
        assert all(math.isfinite(v) for v in float_values(fix)), fix
