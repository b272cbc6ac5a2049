"""``roadgate nmea`` and ``roadgate decode`` never fail on what they read: sentences with valid
checksums and non-finite numbers, candump lines of impossible lengths; every reject counted by
reason in the summary on stderr, no NaN or infinity printed."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_py.cli import main
from firmware_py.cli.candump_decoder import CandumpDecoder
from firmware_py.cli.nmea_printer import run_nmea
from protocols.dbc import load_dbc
from tests.protocols.nmea_lines import seal
from tests.protocols.test_nmea_non_finite import TEMPLATES, field_text

PROJECT = Path(__file__).resolve().parents[2]
ARS408_DBC = PROJECT / "protocols" / "dbc" / "files" / "ars408_id0.dbc"


def refuse_constant(name: str) -> object:
    raise AssertionError(f"JSON output holds {name}")


def set_stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


sentences = st.lists(
    st.tuples(st.sampled_from(sorted(TEMPLATES)), st.lists(field_text, min_size=6, max_size=6)),
    max_size=15,
)


@settings(max_examples=100, deadline=None)
@given(sentences=sentences, as_json=st.booleans())
def test_nmea_never_fails_and_prints_only_finite_values(
    tmp_path_factory: pytest.TempPathFactory,
    sentences: list[tuple[str, list[str]]],
    as_json: bool,
) -> None:
    path = tmp_path_factory.mktemp("nmea") / "log.nmea"
    lines = [seal(TEMPLATES[kind].format(*fields)) for kind, fields in sentences]
    path.write_bytes(b"\r\n".join(lines) + b"\r\n")
    out = io.StringIO()
    summary = run_nmea(str(path), out, as_json=as_json)
    printed = out.getvalue().splitlines()
    assert len(printed) == summary.fixes
    if as_json:
        for line in printed:
            json.loads(line, parse_constant=refuse_constant)
    else:
        assert not any(word in line for line in printed for word in ("nan", "inf"))


def test_nmea_json_of_the_testers_infinite_altitude_reports_it_on_stderr(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = [
        seal("GPGGA,120000.00,3412.0,N,10854.0,E,1,08,0.9,inf,M,-25.0,M,,"),
        seal("GPGGA,120001.00,3412.0,N,10854.0,E,1,08,0.9,1e999,M,-25.0,M,,"),
        seal("GPRMC,120002.00,A,3412.0,N,10854.0,E,nan,0.0,280526,,,A"),
    ]
    good = seal("GPGGA,120003.00,3412.0,N,10854.0,E,1,08,0.9,400.0,M,-25.0,M,,")
    set_stdin(monkeypatch, b"\r\n".join([*bad, good]) + b"\r\n")
    assert main(["nmea", "--json", "-"]) == 0
    out, err = capsys.readouterr()
    (fix,) = [json.loads(line, parse_constant=refuse_constant) for line in out.splitlines()]
    assert fix["alt"] == pytest.approx(375.0)
    assert "roadgate nmea: 1 fixes; rejects: malformed=3" in err


CANDUMP_LINES = st.one_of(
    st.builds(
        lambda ts, ident, fd, data: f"({ts}) can0 {ident:03X}{'##1' if fd else '#'}{data.hex()}",
        st.sampled_from(["1.5", "9" * 400 + ".0", "0.000001"]),
        st.sampled_from([0x60A, 0x60B, 0x60C, 0x60D, 0x123, 0x7FF]),
        st.booleans(),
        st.binary(max_size=70),
    ),
    st.builds(
        lambda ident, length, data: (
            f"  can0  {ident:03X}  [{length}]  " + " ".join(f"{b:02X}" for b in data)
        ),
        st.sampled_from([0x60A, 0x60B, 0x123]),
        st.sampled_from(["8", "9", "08", "10", "12", "13", "64", "65", "99"]),
        st.binary(max_size=70),
    ),
    st.text(max_size=40),
)


@pytest.fixture(scope="module")
def ars408_db() -> object:
    return load_dbc(ARS408_DBC, encoding="cp1252").database


@settings(max_examples=150, deadline=None)
@given(lines=st.lists(CANDUMP_LINES, max_size=20), as_json=st.booleans())
def test_decode_never_fails_on_any_candump_text(
    ars408_db: object, lines: list[str], as_json: bool
) -> None:
    decoder = CandumpDecoder(ars408_db, as_json=as_json)  # type: ignore[arg-type]
    output = decoder.feed(lines)
    summary = decoder.summary
    assert summary.lines == len(lines)
    assert summary.decoded <= summary.frames
    if as_json:
        assert len(output) == summary.decoded
        for line in output:
            json.loads(line, parse_constant=refuse_constant)
    else:
        assert len(output) == len(lines)


def test_decode_counts_impossible_can_fd_lengths_on_stderr(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [
        "(1.000000) can1 60B##1" + "00" * 10,  # no CAN FD frame has 10 bytes
        "  can1  60B  [13]  " + " ".join(["00"] * 13),
        "(1.000100) can1 60B#" + "00" * 9,  # a classic frame has at most 8
        "(1.000200) can1 60A#0300000000000000",
    ]
    set_stdin(monkeypatch, "\n".join(lines).encode())
    assert main(["decode", "--dbc", str(ARS408_DBC), "--encoding", "cp1252", "--json", "-"]) == 0
    out, err = capsys.readouterr()
    assert [json.loads(line)["name"] for line in out.splitlines()] == ["Obj_0_Status"]
    assert "1 frames, 1 decoded; rejects: bad_length=3" in err
