"""`roadgate v2x decode|encode --j2735 DIR`: frames of the user's J2735 modules (here the
J2735-shaped modules written for the tests, tests/data/v2x/j2735_shaped), bad lines counted by
reason, the JSON round trip, and an unusable module directory ending the run with status 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from firmware_py.cli import main
from protocols.v2x.j2735 import load_j2735

SHAPED = Path(__file__).resolve().parents[1] / "data" / "v2x" / "j2735_shaped"
CODEC = load_j2735(SHAPED)
REPORT = CODEC.encode(
    20, {"msgCnt": 7, "id": b"\x01\x02\x03\x04", "lat": 342237000, "speed": 665, "gear": "park"}
)
SIGNALS = CODEC.encode(
    19, {"intersection": 12, "groups": [{"group": 1, "light": "green", "likelyEnd": 123}]}
)


def run(
    argv: list[str], capsysbinary: pytest.CaptureFixture[bytes]
) -> tuple[int, bytes, list[str]]:
    status = main(argv)
    captured = capsysbinary.readouterr()
    return status, captured.out, captured.err.decode().splitlines()


def test_decode_prints_each_message_with_its_type_and_id(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    capture = tmp_path / "frames.hex"
    capture.write_text(
        f"# J2735-shaped frames, and bad lines\n{REPORT.hex()}\nzz\n{SIGNALS.hex(':')}\n"
        f"{REPORT.hex()[:10]}\n00150100\n"
    )
    argv = ["v2x", "decode", "--j2735", str(SHAPED), "--hex", str(capture)]
    status, out, err = run(argv, capsysbinary)
    assert status == 1
    assert out.decode().splitlines() == [
        '#0 ShapedVehicleReport messageId=20 {"msgCnt":7,"id":"01020304","lat":342237000,'
        '"speed":665,"gear":"park"}',
        '#2 ShapedSignalState messageId=19 {"intersection":12,"groups":[{"group":1,'
        '"light":"green","likelyEnd":123}]}',
    ]
    assert err[0] == "roadgate v2x: frame 1 (line 3): bad_hex: not a line of hex digits"
    assert err[1].startswith(
        "roadgate v2x: frame 3 (line 5): malformed: not a J2735 MessageFrame at "
        "MessageFrame.value: out of data"
    )
    assert err[2] == (
        "roadgate v2x: frame 4 (line 6): malformed: MessageFrame.messageId 21 is not in the "
        "message table (MessageTypes in ShapedFrame.asn)"
    )
    assert err[-1] == "roadgate v2x decode: 5 frames, 2 decoded; rejects: bad_hex=1, malformed=2"


def test_decode_json_then_encode_gives_the_same_bytes(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    capture = tmp_path / "frames.hex"
    capture.write_text(f"{REPORT.hex()}\n{SIGNALS.hex()}\n")
    argv = ["v2x", "decode", "--j2735", str(SHAPED), "--hex", "--json", str(capture)]
    status, decoded, _ = run(argv, capsysbinary)
    assert status == 0
    records = [json.loads(line) for line in decoded.splitlines()]
    assert [(r["kind"], r["edition"], r["frame"]["messageId"]) for r in records] == [
        ("ShapedVehicleReport", "J2735", 20),
        ("ShapedSignalState", "J2735", 19),
    ]
    assert records[0]["frame"]["value"]["id"] == "01020304"
    lines = tmp_path / "frames.jsonl"
    lines.write_bytes(decoded)
    argv = ["v2x", "encode", "--j2735", str(SHAPED), "--hex", str(lines)]
    status, encoded, err = run(argv, capsysbinary)
    assert status == 0
    assert encoded.decode().splitlines() == [REPORT.hex(), SIGNALS.hex()]
    assert err == ["roadgate v2x encode: 2 frames, 2 encoded; rejects: none"]


def test_encode_writes_binary_and_counts_bad_lines(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    source = tmp_path / "in.jsonl"
    bare = json.loads(json.dumps(CODEC.decode_json(SIGNALS)[1]))
    source.write_text(
        json.dumps(bare)
        + "\n"
        + json.dumps({"messageId": 21, "value": {}})
        + "\n"
        + json.dumps({"frame": {"messageId": 19, "value": {"intersection": 70000}}})
        + "\n"
    )
    status, out, err = run(["v2x", "encode", "--j2735", str(SHAPED), str(source)], capsysbinary)
    assert status == 1
    assert out == SIGNALS
    assert err[0] == "roadgate v2x: frame 1 (line 2): bad_json: unknown messageId 21"
    assert err[1].startswith("roadgate v2x: frame 2 (line 3): ")
    assert err[-1].startswith("roadgate v2x encode: 3 frames, 1 encoded; rejects: ")


def test_a_broken_module_directory_ends_the_run_naming_the_file(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    broken = tmp_path / "Broken.asn"
    broken.write_text("Broken DEFINITIONS ::= BEGIN X ::= SEQUENCE { END\n")
    capture = tmp_path / "frames.hex"
    capture.write_text(f"{REPORT.hex()}\n")
    argv = ["v2x", "decode", "--j2735", str(tmp_path), "--hex", str(capture)]
    status, out, err = run(argv, capsysbinary)
    assert (status, out) == (2, b"")
    assert err[-1].startswith(f"roadgate: error: {broken}: not ASN.1 asn1tools can parse")
    status, _, err = run(
        ["v2x", "encode", "--j2735", str(tmp_path / "none"), str(capture)], capsysbinary
    )
    assert status == 2
    assert (
        err[-1] == f"roadgate: error: {tmp_path / 'none'}: not a directory of J2735 ASN.1 modules"
    )
