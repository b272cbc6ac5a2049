"""The NMEA line framer: unit cases, real receiver captures, and properties over any bytes."""

from __future__ import annotations

import itertools
import re
from functools import reduce

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hal.serial.line_framer import DEFAULT_MAX_LINE, LineFramer
from tests.conftest import TEST_DATA
from tests.hal.gnss_bytes import ACK_ACK, NAV_PVT

GPSD = TEST_DATA / "gpsd"
GGA = b"$GPGGA,132820.60,4134.49821229,N,09345.03351845,W,2,09,1.0,278.020,M,-31.442,M,7.6,0133*7E"
RMC = b"$GPRMC,132820.60,A,4134.49821229,N,09345.03351845,W,3.252,92.308,180320,11.5985,E,D*1A"
AIS = b"!AIVDM,1,1,,A,13aEOK?P00PD2wVMdLDRhgvL289?,0*26"


def feed_all(framer: LineFramer, chunks: list[bytes]) -> list[bytes]:
    return [line for chunk in chunks for line in framer.feed(chunk)]


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(cut % (len(data) + 1) for cut in cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def checksum_ok(sentence: bytes) -> bool:
    match = re.fullmatch(rb"[$!]([^*]*)\*([0-9A-Fa-f]{2})", sentence)
    if match is None:
        return False
    return reduce(lambda a, b: a ^ b, match[1], 0) == int(match[2], 16)


def assert_accounted(framer: LineFramer, emitted: list[bytes], fed: bytes) -> None:
    """Every byte fed is in a line, a line end, the garbage count, or the pending line."""
    line_ends = fed.count(b"\r") + fed.count(b"\n")
    counters = framer.counters
    assert counters["bytes"] == len(fed)
    assert counters["lines"] == len(emitted)
    total = sum(map(len, emitted)) + line_ends + counters["garbage_bytes"] + framer.pending
    assert total == len(fed)


# --- unit cases -------------------------------------------------------------------------------


def test_lines_with_any_line_ending_are_emitted_without_it() -> None:
    framer = LineFramer()
    assert framer.feed(GGA + b"\r\n" + RMC + b"\n" + AIS + b"\r") == [GGA, RMC, AIS]
    assert framer.counters == {
        "bytes": len(GGA) + len(RMC) + len(AIS) + 4,
        "lines": 3,
        "garbage_bytes": 0,
        "binary_lines": 0,
        "overlong_lines": 0,
    }


def test_a_line_split_over_chunks_is_emitted_once_complete() -> None:
    framer = LineFramer()
    assert framer.feed(GGA[:10]) == []
    assert framer.pending == 10
    assert framer.feed(GGA[10:] + b"\r") == [GGA]
    assert framer.feed(b"\n") == []
    assert framer.pending == 0


def test_bytes_before_a_sentence_start_are_garbage() -> None:
    framer = LineFramer()
    assert framer.feed(b"noise" + GGA + b"\r\n# comment\r\n\r\n") == [GGA]
    assert framer.counters["garbage_bytes"] == len(b"noise") + len(b"# comment")


def test_a_start_inside_a_line_begins_a_new_line() -> None:
    # As the GP-320FW does at cold boot: a sentence cut short, the next one right behind it.
    framer = LineFramer()
    assert framer.feed(b"$GPGSA,A,1,,*1E" + RMC + b"\r\n") == [RMC]
    assert framer.counters["garbage_bytes"] == len(b"$GPGSA,A,1,,*1E")


def test_a_line_with_a_non_printable_byte_is_dropped_up_to_the_next_line_end() -> None:
    framer = LineFramer()
    assert framer.feed(b"$GPRMC,000346.03,A,4808\x00\x00 more\r\n" + GGA + b"\r\n") == [GGA]
    assert framer.counters["binary_lines"] == 1
    assert framer.counters["garbage_bytes"] == len(b"$GPRMC,000346.03,A,4808\x00\x00 more")


def test_interleaved_ubx_frames_yield_no_lines() -> None:
    framer = LineFramer()
    stream = GGA + b"\r\n" + NAV_PVT + ACK_ACK + RMC + b"\r\n" + NAV_PVT
    assert framer.feed(stream) == [GGA, RMC]
    assert framer.counters["binary_lines"] == 2  # the '$' inside each NAV-PVT
    assert_accounted(framer, [GGA, RMC], stream)


def test_a_line_of_max_length_passes_and_a_longer_one_is_dropped() -> None:
    framer = LineFramer(max_line=len(GGA))
    too_long = GGA + b"0"
    assert framer.feed(GGA + b"\r\n" + too_long + b"\r\n" + RMC[: len(GGA)] + b"\n") == [
        GGA,
        RMC[: len(GGA)],
    ]
    assert framer.counters["overlong_lines"] == 1
    assert framer.counters["garbage_bytes"] == len(too_long)


def test_an_overlong_line_resynchronises_at_the_next_start() -> None:
    framer = LineFramer(max_line=20)
    assert framer.feed(b"$" + b"A" * 50 + GGA[:15] + b"\n") == [GGA[:15]]
    assert framer.counters["overlong_lines"] == 1


def test_reset_drops_the_pending_line_as_garbage() -> None:
    framer = LineFramer()
    framer.feed(GGA[:30])
    framer.reset()
    assert framer.feed(GGA[30:] + b"\r\n" + RMC + b"\r\n") == [RMC]
    assert framer.counters["garbage_bytes"] == len(GGA)


def test_default_allows_twice_the_nmea_limit() -> None:
    assert DEFAULT_MAX_LINE == 164
    assert LineFramer().max_line == 164
    with pytest.raises(ValueError, match="max_line"):
        LineFramer(0)


# --- real captures (gpsd regression logs) ---------------------------------------------------


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 4096])
def test_clean_capture_yields_exactly_its_sentences(chunk_size: int) -> None:
    data = (GPSD / "nmea-fuzzy-cases.log").read_bytes()
    expected = [line for line in data.splitlines() if line.startswith(b"$")]
    assert len(expected) == 28
    framer = LineFramer()
    chunks = [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)]
    lines = feed_all(framer, chunks)
    assert lines == expected
    assert all(checksum_ok(line) for line in lines)
    assert framer.counters["binary_lines"] == framer.counters["overlong_lines"] == 0


def test_cold_boot_capture_keeps_every_intact_sentence_and_drops_the_binary_one() -> None:
    data = (GPSD / "gp-320fw-2019-04-07-coldboot.log").read_bytes()
    # Oracle independent of the framer's rules: each checksum-valid sentence that ends a line.
    intact = [
        match[1]
        for match in re.finditer(rb"(?=([$!][^$!\r\n]*)\r?\n)", data)
        if checksum_ok(match[1])
    ]
    assert len(intact) == 92
    framer = LineFramer()
    lines = feed_all(framer, split_at(data, list(range(0, len(data), 61))))
    remaining = iter(lines)
    assert all(sentence in remaining for sentence in intact), "an intact sentence was lost"
    assert all(line[:1] in (b"$", b"!") and line.isascii() for line in lines)
    assert not any(b"\x00" in line for line in lines)
    assert b"$GPRMC,235949.00,V,0000.0000,N,00000.0000,E,,,161206,,,N*44" in lines
    assert framer.counters["binary_lines"] == 1  # the RMC padded with NUL bytes
    assert_accounted(framer, lines, data)


# --- properties -----------------------------------------------------------------------------

NMEA_TEXT = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) not in "$!")
nmea_lines = st.builds(
    lambda start, body: start + body.encode("ascii"),
    st.sampled_from([b"$", b"!"]),
    st.text(alphabet=NMEA_TEXT, max_size=DEFAULT_MAX_LINE - 1),
)
line_ends = st.sampled_from([b"\r\n", b"\n", b"\r"])
garbage = st.binary(max_size=120).map(lambda raw: bytes(b for b in raw if b not in b"$!\r\n"))
cuts = st.lists(st.integers(min_value=0, max_value=10_000), max_size=30)


@given(chunks=st.lists(st.binary(max_size=300), max_size=20), max_line=st.integers(1, 200))
def test_arbitrary_bytes_never_raise_and_are_all_accounted_for(
    chunks: list[bytes], max_line: int
) -> None:
    framer = LineFramer(max_line)
    lines = feed_all(framer, chunks)
    for line in lines:
        assert line[:1] in (b"$", b"!")
        assert len(line) <= max_line
        assert all(0x20 <= b <= 0x7E for b in line)
        assert b"$" not in line[1:]
        assert b"!" not in line[1:]
    assert_accounted(framer, lines, b"".join(chunks))


@given(chunks=st.lists(st.binary(max_size=300), max_size=20))
def test_chunk_boundaries_do_not_change_the_result(chunks: list[bytes]) -> None:
    whole = LineFramer()
    split = LineFramer()
    assert whole.feed(b"".join(chunks)) == feed_all(split, chunks)
    assert whole.counters == split.counters
    assert whole.pending == split.pending


@given(
    items=st.lists(st.tuples(garbage, nmea_lines, line_ends), max_size=15),
    tail=garbage,
    cut_at=cuts,
)
def test_valid_lines_among_garbage_come_out_exactly_and_in_order(
    items: list[tuple[bytes, bytes, bytes]], tail: bytes, cut_at: list[int]
) -> None:
    stream = b"".join(junk + line + end for junk, line, end in items) + tail
    framer = LineFramer()
    assert feed_all(framer, split_at(stream, cut_at)) == [line for _, line, _ in items]
    assert framer.counters["garbage_bytes"] == sum(len(j) for j, _, _ in items) + len(tail)
