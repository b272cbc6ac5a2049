"""NMEA sentences with valid checksums and non-finite or impossible numbers: refused, never
passed on, never raised as anything but ``NmeaError``."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.errors import NmeaError
from protocols.nmea import (
    GgaSentence,
    GnssFix,
    NmeaFixAssembler,
    format_gga,
    format_rmc,
    parse_sentence,
)
from protocols.nmea.fields import MAX_ALTITUDE_M, MAX_DOP, MAX_SPEED_KNOTS
from tests.protocols.nmea_lines import seal

NASTY = [
    "inf",
    "-inf",
    "+inf",
    "Infinity",
    "nan",
    "NaN",
    "-nan",
    "1e999",
    "-1e999",
    "1e308",
    "1E5",
    "-0",
    "-0.0",
    "0x10",
    "1_000",
    "9" * 400,
    "-" + "9" * 400 + ".5",
    "9" * 5000,
    "1" * 20,
    "99999999999",
    ".",
    "+",
    "",
]
"""Field texts that are not plain, finite, in-range decimals (and a few that are)."""

field_text = st.one_of(
    st.sampled_from(NASTY),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**30), 10**30).map(str),
    st.from_regex(r"[-+]?[0-9]{0,12}(\.[0-9]{0,8})?", fullmatch=True),
)

TEMPLATES = {
    "GGA": "GPGGA,120000.00,{0},N,{1},E,1,{2},{3},{4},M,{5},M,,",
    "GNS": "GNGNS,120000.00,{0},N,{1},E,AAN,{2},{3},{4},{5},{0},0138,S",
    "RMC": "GPRMC,120000.00,A,{0},N,{1},E,{2},{3},280526,,,A",
    "GLL": "GNGLL,{0},N,{1},E,120000.00,A,A",
    "VTG": "GPVTG,{0},T,,M,{1},N,{2},K,A",
    "GSA": "GNGSA,A,3,{0},{1},,,,,,,,,,,{2},{3},{4},1",
    "GSV": "GPGSV,1,1,{0},{1},{2},{3},{4}",
    "GST": "GPGST,120000.00,{0},{1},{2},{3},{4},{5},{0}",
    "GBS": "GPGBS,120000.00,{0},{1},{2},{3},{4},{5},{1}",
    "ZDA": "GPZDA,120000.00,{0},{1},{2},00,00",
    "HDT": "GPHDT,{0},T",
    "THS": "GPTHS,{0},A",
}


def float_values(value: object) -> list[float]:
    """Every float in a parsed sentence or fix, nested records included."""
    if isinstance(value, float):
        return [value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [f for item in dataclasses.astuple(value) for f in float_values(item)]
    if isinstance(value, tuple):
        return [f for item in value for f in float_values(item)]
    return []


@settings(max_examples=400)
@given(kind=st.sampled_from(sorted(TEMPLATES)), fields=st.lists(field_text, min_size=6, max_size=6))
def test_every_value_a_sentence_yields_is_finite_or_the_sentence_is_refused(
    kind: str, fields: list[str]
) -> None:
    line = seal(TEMPLATES[kind].format(*fields))
    reason: str | None = None
    try:
        sentence = parse_sentence(line)
    except NmeaError as err:
        reason = err.reason
    assert reason in (None, "malformed", "no_time", "unsupported")
    if reason is not None:
        return
    values = float_values(sentence)
    assert all(math.isfinite(v) for v in values), (line, sentence)
    assert all(abs(v) <= MAX_ALTITUDE_M * 100 for v in values), (line, sentence)
    # -0 is read as 0: nothing downstream has to tell them apart.
    assert all(math.copysign(1.0, v) == 1.0 for v in values if v == 0.0), (line, sentence)


@settings(max_examples=200)
@given(
    st.lists(
        st.tuples(st.sampled_from(sorted(TEMPLATES)), st.lists(field_text, min_size=6, max_size=6)),
        max_size=12,
    )
)
def test_the_assembler_never_returns_a_non_finite_fix(
    sentences: list[tuple[str, list[str]]],
) -> None:
    assembler = NmeaFixAssembler()
    fixes: list[GnssFix] = []
    for kind, fields in sentences:
        fix = assembler.feed(seal(TEMPLATES[kind].format(*fields)))
        if fix is not None:
            fixes.append(fix)
    last = assembler.flush()
    fixes += [last] if last is not None else []
    for fix in fixes:
        assert all(math.isfinite(v) for v in float_values(fix)), fix
    assert sum(assembler.rejects.values()) + sum(assembler.accepted.values()) == len(sentences)


@pytest.mark.parametrize("altitude", ["inf", "1e999", "nan", "9" * 400, "1E3", "2000000"])
def test_a_gga_with_an_impossible_altitude_is_malformed(altitude: str) -> None:
    with pytest.raises(NmeaError) as info:
        parse_sentence(seal(f"GPGGA,120000.00,3412.0,N,10854.0,E,1,08,0.9,{altitude},M,-25.0,M,,"))
    assert info.value.reason == "malformed"


@pytest.mark.parametrize(
    "body",
    [
        "GPRMC,120000.00,A,3412.0,N,10854.0,E,inf,0.0,280526,,,A",
        "GPRMC,120000.00,A,3412.0,N,10854.0,E,nan,0.0,280526,,,A",
        f"GPRMC,120000.00,A,3412.0,N,10854.0,E,{MAX_SPEED_KNOTS * 2},0.0,280526,,,A",
        "GPRMC,120000.00,A,3412.0,N,10854.0,E,1.0,nan,280526,,,A",
        f"GPRMC,120000.00,A,{'9' * 5000}.0,N,10854.0,E,1.0,0.0,280526,,,A",
        "GPVTG,0.0,T,,M,1e999,N,,K,A",
        f"GPGSA,A,3,01,,,,,,,,,,,,{MAX_DOP * 2},1.0,1.0,1",
        f"GPGGA,120000.00,3412.0,N,10854.0,E,1,{'9' * 5000},0.9,10.0,M,0.0,M,,",
        "GPGGA,120000.00,3412.0,N,10854.0,E,1,08,0.9,10.0,M,1e999,M,,",
        "GPGST,120000.00,inf,1.0,1.0,0.0,1.0,1.0,1.0",
        "GPGBS,120000.00,1.0,1.0,1.0,,nan,,",
        "GPHDT,-inf,T",
    ],
)
def test_non_finite_and_impossible_fields_are_malformed(body: str) -> None:
    with pytest.raises(NmeaError) as info:
        parse_sentence(seal(body))
    assert info.value.reason == "malformed"


def test_minus_zero_is_zero_and_plain_values_still_parse() -> None:
    gga = parse_sentence(seal("GPGGA,120000.00,3412.0,N,10854.0,E,1,08,0.9,-0,M,-0.0,M,,"))
    assert isinstance(gga, GgaSentence)
    assert gga.altitude_msl_m is not None
    assert gga.geoid_separation_m is not None
    assert math.copysign(1.0, gga.altitude_msl_m) == 1.0
    assert math.copysign(1.0, gga.geoid_separation_m) == 1.0
    assert gga.altitude_msl_m == gga.geoid_separation_m == 0.0


def test_the_testers_sentence_with_an_infinite_altitude_makes_no_fix_with_it() -> None:
    utc = datetime(2026, 5, 28, 12, 0, 0, tzinfo=UTC)
    good = format_gga(utc, 34.2, 108.9, altitude_msl_m=400.0, hdop=0.8)
    bad = good.replace(b",400.000,", b",inf,")
    assert bad != good
    bad = seal(bad.decode()[1:].split("*")[0])
    assembler = NmeaFixAssembler()
    assert assembler.feed(bad) is None
    fix = assembler.feed(format_rmc(utc, 34.2, 108.9, speed_mps=3.0, course_deg=10.0))
    fix = fix or assembler.flush()
    assert fix is not None
    assert fix.altitude_m is None
    assert assembler.rejects == {"malformed": 1}
