"""`roadgate decode`, `roadgate nmea` and `roadgate benchmark decode`, run through the CLI."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import cantools
import pytest
from cantools.database.can import Database
from cantools.database.namedsignalvalue import NamedSignalValue
from cantools.subparsers.__utils__ import format_message_by_frame_id

from firmware_py.benchmarks.decode import check_same_values, frame_mix
from firmware_py.cli import _parser, main
from firmware_py.cli.text_input import line_batches
from firmware_py.errors import FirmwareError
from protocols.dbc import VectorDecoder

PROJECT = Path(__file__).resolve().parents[2]
ARS408_DBC = PROJECT / "protocols" / "dbc" / "files" / "ars408_id0.dbc"
ARS408_LOG = PROJECT / "tests" / "data" / "ars408" / "candump-2026-06-24_154259.log"
NEO_M8N_LOG = PROJECT / "tests" / "data" / "gpsd" / "neo-m8n.log"
DECODE = ["decode", "--dbc", str(ARS408_DBC), "--encoding", "cp1252"]


@pytest.fixture(scope="module")
def ars408() -> Database:
    db = cantools.database.load_file(ARS408_DBC, encoding="cp1252")
    assert isinstance(db, Database)
    return db


def set_stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


def cantools_line(db: Database, line: str) -> str:
    """What ``cantools decode -s`` prints for one candump log line."""
    frame = line.split()[-1]
    ident, data = frame.split("#")
    decoded = format_message_by_frame_id(
        db,
        int(ident, 16),
        bytes.fromhex(data),
        True,
        True,
        False,
        allow_truncated=False,
        allow_excess=False,
    )
    return f"{line} ::{decoded}"


def as_json_value(value: object) -> object:
    return str(value) if isinstance(value, NamedSignalValue | str) else value


# --- roadgate decode ----------------------------------------------------------------------


def test_decode_prints_the_ars408_capture_as_cantools_does(
    ars408: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*DECODE, str(ARS408_LOG)]) == 0
    out, err = capsys.readouterr()
    lines = ARS408_LOG.read_text().splitlines()
    assert out.splitlines() == [cantools_line(ars408, line) for line in lines]
    assert "9579 frames, 9579 decoded; rejects: none" in err


def test_decode_json_of_the_ars408_capture_equals_cantools(
    ars408: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*DECODE, "--json", str(ARS408_LOG)]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    lines = ARS408_LOG.read_text().splitlines()
    assert len(records) == len(lines) == 9579
    for record, line in zip(records, lines, strict=True):
        stamp, _, frame = line.split()
        ident, data = frame.split("#")
        message = ars408.get_message_by_frame_id(int(ident, 16))
        expected = message.decode_simple(bytes.fromhex(data))
        assert record["t"] == float(stamp.strip("()"))
        assert record["id"] == int(ident, 16)
        assert record["name"] == message.name
        assert record["signals"] == {k: as_json_value(v) for k, v in expected.items()}


MIXED = [
    "(1.000000) can1 60A#03FBF710",
    "(1.000100) can1 123#11",
    "(1.000200) can1 60B#3840",
    "this is not a frame",
    "  can1  60B   [8]  38 4F 04 02 80 20 01 9C",
    "(1.000300) can1 60A#R",
    "",
]


def test_decode_reads_standard_input_and_explains_what_it_cannot_decode(
    ars408: Database, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    set_stdin(monkeypatch, "\r\n".join(MIXED).encode() + b"\r\n")
    assert main([*DECODE, "-"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        cantools_line(ars408, MIXED[0]),
        "(1.000100) can1 123#11 :: Unknown frame id 291 (0x123)",
        "(1.000200) can1 60B#3840 :: Wrong data size: 2 instead of 8 bytes",
        "this is not a frame",
        f"{MIXED[4]} :: {cantools_line(ars408, '(0) can1 60B#384F04028020019C').split(':: ')[1]}",
        "(1.000300) can1 60A#R",
        "",
    ]
    assert (
        "5 frames, 2 decoded; rejects: malformed=1, not_data=1, short_frame=1, unknown_id=1" in err
    )


def test_decode_json_skips_undecodable_frames_and_can_show_numbers(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    set_stdin(monkeypatch, "\n".join(MIXED).encode())
    assert main([*DECODE, "--json", "--no-decode-choices"]) == 0  # no LOG: standard input
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["t"], r["name"]) for r in records] == [
        (1.0, "Obj_0_Status"),
        (None, "Obj_1_General"),  # the screen format has no timestamp without -t
    ]
    assert records[1]["signals"]["Obj_DynProp"] == 1  # "Stationary" as its code


def test_decode_errors_exit_2_with_a_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decode", "--dbc", "/nonexistent.dbc", str(ARS408_LOG)]) == 2
    assert "roadgate: error: /nonexistent.dbc" in capsys.readouterr().err
    assert main([*DECODE, "/nonexistent.log"]) == 2
    assert "roadgate: error: cannot read /nonexistent.log" in capsys.readouterr().err


def test_the_console_entry_point_decodes_standard_input() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "firmware_py.cli", *DECODE, "--json", "-"],
        input=ARS408_LOG.read_bytes(),
        capture_output=True,
        cwd=PROJECT,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert len(lines) == 9579
    assert json.loads(lines[0])["name"] == "Obj_0_Status"
    assert b"9579 decoded" in result.stderr


# --- roadgate nmea ------------------------------------------------------------------------

FIX_KEYS = {"time", "mode", "lat", "lon", "alt", "quality", "sats", "hdop", "speed", "course"}


def test_nmea_prints_the_fixes_of_a_gpsd_capture(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nmea", "--json", str(NEO_M8N_LOG)]) == 0
    out, err = capsys.readouterr()
    fixes = [json.loads(line) for line in out.splitlines()]
    assert len(fixes) > 10
    assert all(fix.keys() >= FIX_KEYS for fix in fixes)
    # gpsd's TPV for this epoch (neo-m8n.log.chk): 3D, lat 44.069010500, lon -121.314246333,
    # altHAE 1125.9 (gpsd dates it 2034 after a GPS week rollover; the receiver says 2015).
    [fix] = [f for f in fixes if f["time"] == "2015-03-18T17:19:26.000Z"]
    assert fix["mode"] == 3
    assert fix["lat"] == pytest.approx(44.0690105, abs=1e-9)
    assert fix["lon"] == pytest.approx(-121.314246333, abs=1e-9)
    assert fix["alt"] == pytest.approx(1125.9, abs=1e-6)
    assert (fix["quality"], fix["sats"], fix["hdop"]) == (1, 12, 0.91)
    # The capture starts with '#' comment lines: counted, never fatal.
    assert f"roadgate nmea: {len(fixes)} fixes; rejects: " in err
    assert "malformed=" in err


def test_nmea_plain_text_has_one_line_per_fix(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nmea", "--json", str(NEO_M8N_LOG)]) == 0
    count = len(capsys.readouterr().out.splitlines())
    assert main(["nmea", str(NEO_M8N_LOG)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == count
    assert "2015-03-18T17:19:26.000Z 3D 44.0690105 -121.3142463 alt=1125.90m" in lines[1]


def test_nmea_on_standard_input_skips_garbage_between_crlf_lines(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["nmea", "--json", str(NEO_M8N_LOG)]) == 0
    clean = capsys.readouterr().out
    garbage = [b"\x00\xff\xfe\xb5b\x01\x07", b"$GPGGA,123,,*00", b"$$$$", b"\xe2\x82\xac" * 500]
    noisy = b"".join(
        line + garbage[i % len(garbage)] + b"\r\n"
        for i, line in enumerate(NEO_M8N_LOG.read_bytes().splitlines(keepends=True))
    )
    set_stdin(monkeypatch, noisy)
    assert main(["nmea", "--json", "-"]) == 0
    out, err = capsys.readouterr()
    assert out == clean
    assert "rejects: " in err


def test_nmea_missing_file_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nmea", "/nonexistent.nmea"]) == 2
    assert "roadgate: error: cannot read /nonexistent.nmea" in capsys.readouterr().err


class _Trickle(io.RawIOBase):
    """A stream that hands out a few bytes per read, like a slow pipe."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data, self._step = data, step

    def readable(self) -> bool:
        return True

    def read1(self, size: int = -1) -> bytes:
        chunk, self._data = self._data[: self._step], self._data[self._step :]
        return chunk


@pytest.mark.parametrize("step", [1, 7, 1 << 16])
def test_line_batches_rebuild_lines_split_across_reads(step: int) -> None:
    data = b"first\r\nsecond line\n\nlast without newline"
    batches = list(line_batches(_Trickle(data, step)))  # type: ignore[arg-type]
    assert [line for batch in batches for line in batch] == [
        b"first\r",
        b"second line",
        b"",
        b"last without newline",
    ]


# --- roadgate benchmark decode -----------------------------------------------------------


def test_bench_decode_runs_and_writes_its_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result_path = tmp_path / "bench.json"
    assert main(["benchmark", "decode", "--frames", "300", "--json", str(result_path)]) == 0
    result = json.loads(result_path.read_text())
    assert set(result) == {
        "ours",
        "peer",
        "ratio",
        "unit",
        "frames",
        "dbc",
        "ours_all_signals",
        "compiled",
    }
    assert result["compiled"] is True  # the decoder's kernels are built for the tests
    assert result["ours_all_signals"] > 0
    assert result["unit"] == "frames/s"
    assert result["frames"] == 300
    assert result["dbc"] == "toyota_nodsu_pt_generated.dbc"
    assert result["ours"] > 0
    assert result["peer"] > 0
    assert result["ratio"] == pytest.approx(result["ours"] / result["peer"], rel=1e-3)
    assert "checked: 300 frames decode to the same values" in capsys.readouterr().out


def test_bench_is_an_alias_of_benchmark() -> None:
    parser = _parser()
    for name in ("decode", "uplink", "can"):
        assert (
            parser.parse_args(["bench", name]).handler
            is parser.parse_args(["benchmark", name]).handler
        )


SCALED = """VERSION ""
NS_ :
BS_:
BU_: ECU
BO_ 256 SPEED: 8 ECU
 SG_ Speed : 0|16@1+ ({scale},0) [0|0] "km/h" ECU
BO_ 512 MUXED: 8 ECU
 SG_ Mux M : 0|8@1+ (1,0) [0|0] "" ECU
 SG_ A m0 : 8|16@1+ (1,0) [0|0] "" ECU
 SG_ B m7 : 8|16@1- (1,0) [0|0] "" ECU
"""


def test_bench_refuses_to_time_decoders_that_disagree() -> None:
    db = cantools.database.load_string(SCALED.format(scale="0.01"))
    wrong = cantools.database.load_string(SCALED.format(scale="0.1"))
    assert isinstance(db, Database)
    assert isinstance(wrong, Database)
    mix = frame_mix(db, 200)
    assert set(mix.messages) == {"SPEED", "MUXED"}  # multiplexed payloads encode too
    assert check_same_values(db, VectorDecoder(db), mix.frames) == 200
    with pytest.raises(FirmwareError, match="disagree"):
        check_same_values(db, VectorDecoder(wrong), mix.frames)
