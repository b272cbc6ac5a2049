"""The candump text parser: both candump formats, a real capture, bad lines, round trips."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from protocols.candump import FD_DATA_LENGTHS, MAX_DATA, CandumpFrames, parse_candump

ARS408_LOG = (
    Path(__file__).resolve().parents[1] / "data" / "ars408" / "candump-2026-06-24_154259.log"
)
NAN = math.nan


@dataclass(frozen=True)
class Frame:
    """One frame as the tests describe it (the parser's columns, one row)."""

    timestamp: float
    channel: str
    arbitration_id: int
    is_extended: bool = False
    is_fd: bool = False
    is_remote: bool = False
    fd_flags: int = 0
    data: bytes = b""
    dlc: int | None = None  # None: len(data)

    @property
    def length(self) -> int:
        return len(self.data) if self.dlc is None else self.dlc


def rows(frames: CandumpFrames) -> list[Frame]:
    out = []
    for i in range(len(frames)):
        dlc = int(frames.dlc[i])
        out.append(
            Frame(
                timestamp=float(frames.timestamp[i]),
                channel=frames.channels[int(frames.channel[i])],
                arbitration_id=int(frames.arbitration_id[i]),
                is_extended=bool(frames.is_extended[i]),
                is_fd=bool(frames.is_fd[i]),
                is_remote=bool(frames.is_remote[i]),
                fd_flags=int(frames.fd_flags[i]),
                data=b"" if frames.is_remote[i] else frames.data[i, :dlc].tobytes(),
                dlc=dlc,
            )
        )
    return out


def same(a: Frame, b: Frame) -> bool:
    stamps = (math.isnan(a.timestamp) and math.isnan(b.timestamp)) or a.timestamp == b.timestamp
    return (
        stamps
        and (a.channel, a.arbitration_id, a.is_extended, a.is_fd, a.is_remote)
        == (
            b.channel,
            b.arbitration_id,
            b.is_extended,
            b.is_fd,
            b.is_remote,
        )
        and (a.fd_flags, a.data, a.length) == (b.fd_flags, b.data, b.length)
    )


# --- formatters: what candump writes (can-utils lib.c), to round-trip through the parser ---


def _id_text(frame: Frame) -> str:
    return f"{frame.arbitration_id:08X}" if frame.is_extended else f"{frame.arbitration_id:03X}"


def log_line(frame: Frame) -> str:
    if frame.is_fd:
        body = f"##{frame.fd_flags:X}{frame.data.hex().upper()}"
    elif frame.is_remote:
        body = f"#R{frame.length}" if frame.length else "#R"
    else:
        body = "#" + frame.data.hex().upper()
    return f"({frame.timestamp:.6f}) {frame.channel} {_id_text(frame)}{body}"


def screen_line(frame: Frame, with_timestamp: bool) -> str:
    length = f"[{frame.length:02d}]" if frame.is_fd else f"[{frame.length}]"
    if frame.is_remote:
        payload = "remote request"
    else:
        payload = " ".join(f"{byte:02X}" for byte in frame.data)
    stamp = f"({frame.timestamp:.6f})  " if with_timestamp else ""
    return f"{stamp} {frame.channel}  {_id_text(frame)}   {length}  {payload}"


# --- examples of both formats -------------------------------------------------------------

T = 1593440133.123456
EXAMPLES = [
    ("(1593440133.123456) can0 123#DEADBEEF", Frame(T, "can0", 0x123, data=b"\xde\xad\xbe\xef")),
    ("(1593440133.123456) can0 123#", Frame(T, "can0", 0x123)),
    ("(1593440133.123456) vcan1 123#de.ad.be", Frame(T, "vcan1", 0x123, data=b"\xde\xad\xbe")),
    (
        "(1593440133.123456) can0 1ABCDEF0#0102",
        Frame(T, "can0", 0x1ABCDEF0, is_extended=True, data=b"\x01\x02"),
    ),
    (
        "(1593440133.123456) can0 00000123#01",
        Frame(T, "can0", 0x123, is_extended=True, data=b"\x01"),
    ),
    ("(1593440133.123456) can0 123#R", Frame(T, "can0", 0x123, is_remote=True)),
    ("(1593440133.123456) can0 123#R5", Frame(T, "can0", 0x123, is_remote=True, dlc=5)),
    (
        "(1593440133.123456) can0 12345678#R8",
        Frame(T, "can0", 0x12345678, is_extended=True, is_remote=True, dlc=8),
    ),
    (
        "(1593440133.123456) can0 123##1DEADBEEF",
        Frame(T, "can0", 0x123, is_fd=True, fd_flags=1, data=b"\xde\xad\xbe\xef"),
    ),
    (
        "(1593440133.123456) can0 123##3" + "AB" * 64,
        Frame(T, "can0", 0x123, is_fd=True, fd_flags=3, data=b"\xab" * 64),
    ),
    (
        "(1593440133.123456) can0 123#1122334455667788_E",
        Frame(T, "can0", 0x123, data=bytes.fromhex("1122334455667788")),
    ),
    ("(1593440133.123456) can0 123#11 R", Frame(T, "can0", 0x123, data=b"\x11")),
    ("(1593440133.123456) can0 123#11\r", Frame(T, "can0", 0x123, data=b"\x11")),
    ("  can0  123   [4]  DE AD BE EF", Frame(NAN, "can0", 0x123, data=b"\xde\xad\xbe\xef")),
    ("  can0  123   [0]  ", Frame(NAN, "can0", 0x123)),
    (
        "  can0  12345678   [8]  11 22 33 44 55 66 77 88",
        Frame(NAN, "can0", 0x12345678, is_extended=True, data=bytes.fromhex("1122334455667788")),
    ),
    ("  can0  123   [3]  remote request", Frame(NAN, "can0", 0x123, is_remote=True, dlc=3)),
    (
        "  can0  123  [12]  00 11 22 33 44 55 66 77 88 99 AA BB",
        Frame(NAN, "can0", 0x123, is_fd=True, data=bytes.fromhex("00112233445566778899AABB")),
    ),
    ("  can0  123  [02]  01 02", Frame(NAN, "can0", 0x123, is_fd=True, data=b"\x01\x02")),
    (
        " (1593440133.123456)  can0  123   [2]  01 02",
        Frame(T, "can0", 0x123, data=b"\x01\x02"),
    ),
    (" (000.000250)  can0  123   [1]  FF", Frame(0.00025, "can0", 0x123, data=b"\xff")),
    ("  can0  RX B -  123  [02]  01 02", Frame(NAN, "can0", 0x123, is_fd=True, data=b"\x01\x02")),
    ("  can0  123   [2]  41 42   'AB'", Frame(NAN, "can0", 0x123, data=b"AB")),
    (
        "  can0  123   {F}  01 02 03 04 05 06 07 08",
        Frame(NAN, "can0", 0x123, data=bytes(range(1, 9))),
    ),
]


@pytest.mark.parametrize(("line", "expected"), EXAMPLES, ids=[e[0].strip() for e in EXAMPLES])
def test_each_candump_form_parses_to_its_frame(line: str, expected: Frame) -> None:
    frames = parse_candump([line])
    assert frames.rejects == {}
    [got] = rows(frames)
    assert same(got, expected), f"{got} != {expected}"


MALFORMED = [
    "garbage",
    "(1593440133.123456) can0 823#11",  # 3 digits but above 0x7FF
    "(1593440133.123456) can0 1234#11",  # 4 digits: neither 11-bit nor 29-bit
    "(1593440133.123456) can0 123#1",  # half a byte
    "(1593440133.123456) can0 123#11..22",
    "(1593440133.123456) can0 123#11_E",  # raw DLC suffix on a short frame
    "(1593440133.123456) can0 123##DEAD",  # FD flags nibble missing: odd digits
    "(1593440133.123456) can0 123#R9",
    "(1593440133.123456) can0 40000000#11",  # above 29 bits
    "  can0  123   [4]  DE AD BE",  # fewer bytes than the length
    "  can0  123   [4]  DE AD BE EG",
    "(2020-06-29 16:15:33.123456)  can0  123   [1]  FF",  # -tA: local time, not supported
    f"({'9' * 400}.0) can0 123#11",  # a timestamp no float holds
    f"({'9' * 400}.0) can0 123##1{'00' * 12}",
]
BAD_LENGTH = [
    "(1593440133.123456) can0 123#112233445566778899",  # 9 bytes classic
    "  can0  123   [9]  01 02 03 04 05 06 07 08 09",
    f"(1593440133.123456) can0 123##1{'00' * 10}",  # no CAN FD frame has 10 bytes
    f"(1593440133.123456) can0 123##0{'00' * 65}",  # nor more than 64
    f"  can0  123  [13]  {' '.join(['00'] * 13)}",
    f"  can0  123  [09]  {' '.join(['00'] * 9)}",
    f"  can0  123  [65]  {' '.join(['00'] * 65)}",
]


def test_bad_lines_are_counted_by_reason_and_blank_lines_ignored() -> None:
    error_frame = "(1593440133.123456) can0 20000080#0000000000000000"
    good = "(1593440133.123456) can0 123#11"
    frames = parse_candump([*MALFORMED, *BAD_LENGTH, "", "   ", good, error_frame])
    assert frames.rejects == {
        "malformed": len(MALFORMED),
        "bad_length": len(BAD_LENGTH),
        "error_frame": 1,
    }
    assert len(frames) == 1
    assert frames.line.tolist() == [len(MALFORMED) + len(BAD_LENGTH) + 2]


def test_columns_have_the_documented_types_and_shapes() -> None:
    frames = parse_candump(["(1.000000) can0 123#11", "(2.000000) can1 123##0" + "00" * 12])
    assert frames.timestamp.dtype == np.float64
    assert frames.arbitration_id.dtype == np.uint32
    assert frames.is_extended.dtype == frames.is_fd.dtype == np.bool_
    assert frames.dlc.dtype == np.uint8
    assert frames.data.shape == (2, MAX_DATA)
    assert frames.data.dtype == np.uint8
    assert frames.channels == ("can0", "can1")
    assert frames.channel.tolist() == [0, 1]
    assert frames.dlc.tolist() == [1, 12]
    empty = parse_candump([])
    assert len(empty) == 0
    assert empty.data.shape == (0, MAX_DATA)


def test_the_real_ars408_capture_parses_completely() -> None:
    lines = ARS408_LOG.read_text().splitlines()
    frames = parse_candump(lines)
    assert len(frames) == len(lines) == 9579
    assert frames.rejects == {}
    assert frames.channels == ("can1",)
    assert not frames.is_extended.any()
    assert not frames.is_fd.any()
    assert not frames.is_remote.any()
    assert np.all(np.diff(frames.timestamp) >= 0)
    assert sorted(set(frames.arbitration_id.tolist())) == [0x201, 0x60A, 0x60B, 0x60C, 0x60D, 0x700]
    # Every frame against an independent split of its line.
    for i, line in enumerate(lines):
        stamp, _, frame = line.split()
        ident, hex_data = frame.split("#")
        payload = bytes.fromhex(hex_data)
        assert frames.timestamp[i] == float(stamp.strip("()"))
        assert frames.arbitration_id[i] == int(ident, 16)
        assert frames.dlc[i] == len(payload)
        assert frames.data[i, : len(payload)].tobytes() == payload
        assert not frames.data[i, len(payload) :].any()


# --- properties ---------------------------------------------------------------------------

CANDUMP_ALPHABET = "0123456789ABCDEFabcdef#R.()_[]{}' -\tcanvTXB\r"


@given(st.lists(st.text(), max_size=20))
def test_arbitrary_text_never_raises(lines: list[str]) -> None:
    frames = parse_candump(lines)
    assert len(frames) + sum(frames.rejects.values()) <= len(lines)


@given(st.lists(st.text(alphabet=CANDUMP_ALPHABET, max_size=60), max_size=20))
def test_candump_like_text_never_raises(lines: list[str]) -> None:
    frames = parse_candump(lines)
    assert len(frames) + sum(frames.rejects.values()) <= len(lines)
    assert np.all(frames.dlc <= MAX_DATA)


@st.composite
def frames_strategy(draw: st.DrawFn) -> Frame:
    extended = draw(st.booleans())
    arbitration_id = draw(st.integers(0, 0x1FFFFFFF if extended else 0x7FF))
    kind = draw(st.sampled_from(["classic", "remote", "fd"]))
    channel = draw(st.from_regex(r"[a-z]{1,5}[0-9]{0,2}", fullmatch=True))
    timestamp = float(f"{draw(st.floats(0, 4e9)):.6f}")
    if kind == "remote":
        return Frame(
            timestamp,
            channel,
            arbitration_id,
            extended,
            is_remote=True,
            dlc=draw(st.integers(0, 8)),
        )
    if kind == "fd":
        flags = draw(st.integers(0, 15))
        size = draw(st.sampled_from(sorted(FD_DATA_LENGTHS)))
        data = draw(st.binary(min_size=size, max_size=size))
        return Frame(
            timestamp, channel, arbitration_id, extended, is_fd=True, fd_flags=flags, data=data
        )
    return Frame(timestamp, channel, arbitration_id, extended, data=draw(st.binary(max_size=8)))


@given(st.lists(frames_strategy(), max_size=10))
def test_log_format_round_trips(frames: list[Frame]) -> None:
    parsed = parse_candump([log_line(f) for f in frames])
    assert parsed.rejects == {}
    got = rows(parsed)
    assert len(got) == len(frames)
    assert all(same(a, b) for a, b in zip(got, frames, strict=True)), (got, frames)


@given(st.lists(frames_strategy(), max_size=10), st.booleans())
def test_screen_format_round_trips(frames: list[Frame], with_timestamp: bool) -> None:
    parsed = parse_candump([screen_line(f, with_timestamp) for f in frames])
    assert parsed.rejects == {}
    # The screen format has no FD flags, and a timestamp only with -t.
    expected = [
        Frame(
            f.timestamp if with_timestamp else NAN,
            f.channel,
            f.arbitration_id,
            f.is_extended,
            f.is_fd,
            f.is_remote,
            0,
            f.data,
            f.dlc,
        )
        for f in frames
    ]
    got = rows(parsed)
    assert len(got) == len(expected)
    assert all(same(a, b) for a, b in zip(got, expected, strict=True)), (got, expected)


NOT_FD_LENGTHS = st.integers(0, 99).filter(lambda n: n not in FD_DATA_LENGTHS)


@given(
    size=NOT_FD_LENGTHS,
    extended=st.booleans(),
    screen=st.booleans(),
    with_timestamp=st.booleans(),
)
def test_a_can_fd_length_no_frame_has_is_rejected_as_bad_length(
    size: int, extended: bool, screen: bool, with_timestamp: bool
) -> None:
    frame = Frame(T, "can0", 0x123, extended, is_fd=True, fd_flags=1, data=bytes(range(size)))
    line = screen_line(frame, with_timestamp) if screen else log_line(frame)
    good = log_line(Frame(T, "can0", 0x124, is_fd=True, data=bytes(12)))
    parsed = parse_candump([line, good])
    assert parsed.rejects == {"bad_length": 1}
    assert parsed.arbitration_id.tolist() == [0x124]


@given(size=st.integers(9, 99), screen=st.booleans())
def test_a_classic_frame_longer_than_8_is_rejected_as_bad_length(size: int, screen: bool) -> None:
    # The screen format tells classic from FD by the digits of the length: "[9]" is classic.
    assume(not screen or size < 10)
    frame = Frame(T, "can0", 0x123, data=bytes(size % 256 for _ in range(size)))
    line = screen_line(frame, True) if screen else log_line(frame)
    assert parse_candump([line]).rejects == {"bad_length": 1}


@given(digits=st.integers(309, 2000), fd=st.booleans())
def test_a_timestamp_too_large_for_a_float_is_malformed(digits: int, fd: bool) -> None:
    body = "##1" + "00" * 12 if fd else "#11"
    parsed = parse_candump([f"({'9' * digits}.5) can0 123{body}"])
    assert parsed.rejects == {"malformed": 1}
    assert np.isfinite(parse_candump(["(1.5) can0 123#11"]).timestamp).all()
