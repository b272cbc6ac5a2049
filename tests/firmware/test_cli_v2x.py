"""`roadgate v2x decode` and `encode`: hex lines, binary files and pcap/pcapng captures (built
here with dpkt), bad frames counted by reason without stopping, exit statuses, and the round
trip decode -> encode -> decode."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import dpkt
import pytest

from firmware_py.benchmarks.v2x_samples import JSON_SAMPLES
from firmware_py.cli import main
from firmware_py.cli.v2x_tool import run_decode
from protocols.v2x.frame_json import encode_json
from protocols.v2x.framing import Unwrapped

DATA = Path(__file__).resolve().parents[1] / "data" / "v2x"
FRAMES_HEX = DATA / "frames.hex"
BSM = (DATA / "bsm.uper").read_bytes()
HEX_FRAMES = [
    bytes.fromhex(line)
    for line in FRAMES_HEX.read_text().splitlines()
    if line and not line.startswith("#")
]


def run(
    argv: list[str], capsysbinary: pytest.CaptureFixture[bytes]
) -> tuple[int, bytes, list[str]]:
    status = main(argv)
    captured = capsysbinary.readouterr()
    return status, captured.out, captured.err.decode().splitlines()


def test_the_shipped_hex_lines_and_binary_frame_agree_with_their_sources() -> None:
    """tests/data/v2x is what SOURCES.md says: the BSM is the first hex line, and the
    MAP/RSM/RSI lines are the samples' encodings."""
    assert HEX_FRAMES[0] == BSM
    assert HEX_FRAMES[2:] == [encode_json(JSON_SAMPLES[k]) for k in ("map", "rsm", "rsi")]


def test_decode_hex_prints_one_summary_line_per_frame(
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    status, out, err = run(["v2x", "decode", "--hex", str(FRAMES_HEX)], capsysbinary)
    assert status == 0
    lines = out.decode().splitlines()
    assert [line.split()[1] for line in lines] == ["bsm", "spat", "map", "rsm", "rsi"]
    assert lines[0] == (
        "#0 bsm id=00000000000004d2 lat=34.2237000 lon=108.8906000 speed=13.30 m/s "
        "heading=90.00 deg msgCnt=7"
    )
    assert lines[1] == (
        "#1 spat intersection=12 phases 1:protected-green(12.3s) 2:red(30.0s) msgCnt=8"
    )
    assert lines[2] == "#2 map nodes=2 links=0 msgCnt=5"
    assert lines[3] == "#3 rsm id=5253550000000001 participants=2 msgCnt=9"
    assert lines[4] == "#4 rsi id=5253550000000001 events=1 signs=1 msgCnt=3"
    assert err == ["roadgate v2x decode: 5 frames, 5 decoded; rejects: none"]


def test_decode_binary_file_as_json(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    status, out, _ = run(["v2x", "decode", "--json", str(DATA / "bsm.uper")], capsysbinary)
    assert status == 0
    (record,) = [json.loads(line) for line in out.splitlines()]
    assert record["kind"] == "bsm"
    assert record["edition"] == "2017"
    assert (record["layer"], record["offset"], record["where"]) == ("none", 0, "file")
    bsm = record["frame"]["bsmFrame"]
    assert bsm["id"] == "00000000000004D2"
    assert bsm["pos"] == {"lat": 342237000, "long": 1088906000, "elevation": 4150}
    assert bsm["speed"] == 665


def test_bad_lines_are_counted_by_reason_and_the_run_goes_on(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    capture = tmp_path / "mixed.hex"
    capture.write_text(
        f"# two good, three bad\n{BSM.hex()}\nnot hex\n\n00ff\n"
        f"{BSM.hex()[:20]}\n{HEX_FRAMES[1].hex(':')}\n"
    )
    status, out, err = run(["v2x", "decode", "--hex", str(capture)], capsysbinary)
    assert status == 1
    assert [line.split()[:2] for line in out.decode().splitlines()] == [
        ["#0", "bsm"],
        ["#4", "spat"],
    ]
    assert err[0] == "roadgate v2x: frame 1 (line 3): bad_hex: not a line of hex digits"
    assert err[1].startswith("roadgate v2x: frame 2 (line 5): malformed: ")
    assert err[2].startswith("roadgate v2x: frame 3 (line 6): malformed: ")
    assert err[-1] == "roadgate v2x decode: 5 frames, 2 decoded; rejects: bad_hex=1, malformed=2"


def _pcap(packets: list[bytes], *, ng: bool = False) -> bytes:
    out = io.BytesIO()
    writer = (dpkt.pcapng.Writer if ng else dpkt.pcap.Writer)(out, linktype=dpkt.pcap.DLT_EN10MB)
    for i, packet in enumerate(packets):
        writer.writepkt(packet, ts=1_772_446_542 + i * 0.1)
    return out.getvalue()


def _ethernet(payload: object, *, ip_p: int = dpkt.ip.IP_PROTO_UDP) -> bytes:
    ip = dpkt.ip.IP(src=b"\xc0\xa8\x01\x02", dst=b"\xc0\xa8\x01\x01", p=ip_p, data=payload)
    ip.len = len(bytes(ip))
    frame = dpkt.ethernet.Ethernet(
        src=b"\x02\x00\x00\x00\x00\x02", dst=b"\x02\x00\x00\x00\x00\x01", data=ip
    )
    return bytes(frame)


def _udp(payload: bytes, port: int = 30299) -> bytes:
    udp = dpkt.udp.UDP(sport=port, dport=port, data=payload)
    udp.ulen = len(bytes(udp))
    return _ethernet(udp)


@pytest.mark.parametrize("ng", [False, True], ids=["pcap", "pcapng"])
def test_decode_pcap_takes_each_udp_payload_as_a_frame(
    ng: bool, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    tcp = dpkt.tcp.TCP(sport=1, dport=2, data=b"x")
    capture = tmp_path / ("radio.pcapng" if ng else "radio.pcap")
    capture.write_bytes(
        _pcap(
            [
                _udp(HEX_FRAMES[0]),
                _ethernet(tcp, ip_p=dpkt.ip.IP_PROTO_TCP),
                _udp(HEX_FRAMES[1]),
                _udp(b"\x00\xff"),
                _udp(HEX_FRAMES[3], port=5000),
            ],
            ng=ng,
        )
    )
    status, out, err = run(["v2x", "decode", "--json", str(capture)], capsysbinary)
    assert status == 1  # one payload is not a frame
    records = [json.loads(line) for line in out.splitlines()]
    assert [(r["kind"], r["where"]) for r in records] == [
        ("bsm", "packet 1"),
        ("spat", "packet 3"),
        ("rsm", "packet 5"),
    ]
    assert err[-1] == (
        "roadgate v2x decode: 4 frames, 3 decoded; rejects: malformed=1; skipped packets: not_udp=1"
    )
    status, out, err = run(["v2x", "decode", "--udp-port", "30299", str(capture)], capsysbinary)
    assert len(out.splitlines()) == 2
    assert err[-1].endswith("skipped packets: not_udp=1, other_port=1")


def test_framing_layer_and_offset_are_reported(tmp_path: Path) -> None:
    """Whatever unwraps a vendor's prefix, its layer and offset go into the record."""
    capture = tmp_path / "prefixed.hex"
    capture.write_text(f"abcd{BSM.hex()}\n")

    def unwrap(data: bytes) -> Unwrapped:
        assert data[:2] == b"\xab\xcd"
        return Unwrapped(data[2:], "test-prefix", 2)

    out, err = io.StringIO(), io.StringIO()
    summary = run_decode(str(capture), out, err, hex_lines=True, as_json=True, unwrapper=unwrap)
    assert (summary.done, summary.status) == (1, 0)
    record = json.loads(out.getvalue())
    assert (record["layer"], record["offset"], record["kind"]) == ("test-prefix", 2, "bsm")


def test_headers_before_the_frame_are_found_and_reported(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    """Through protocols.v2x.framing: an IEEE 1609.2 unsecured header (version 3, tag 0x80,
    length) and a vendor's 4-byte prefix."""
    capture = tmp_path / "wrapped.hex"
    capture.write_text(f"0380{len(BSM):02x}{BSM.hex()}\n1234abcd{HEX_FRAMES[1].hex()}\n")
    status, out, _ = run(["v2x", "decode", "--hex", "--json", str(capture)], capsysbinary)
    assert status == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert [(r["kind"], r["layer"], r["offset"]) for r in records] == [
        ("bsm", "unsecured", 3),
        ("spat", "prefix", 4),
    ]
    _, out, _ = run(["v2x", "decode", "--hex", str(capture)], capsysbinary)
    assert out.decode().splitlines()[0].startswith("#0 bsm [unsecured +3] id=00000000000004d2")


def test_round_trip_decode_encode_decode_is_the_identity(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    status, decoded, _ = run(["v2x", "decode", "--hex", "--json", str(FRAMES_HEX)], capsysbinary)
    assert status == 0
    records = tmp_path / "frames.jsonl"
    records.write_bytes(decoded)
    status, encoded, err = run(["v2x", "encode", "--hex", str(records)], capsysbinary)
    assert status == 0
    assert [bytes.fromhex(line) for line in encoded.decode().splitlines()] == HEX_FRAMES
    assert err == ["roadgate v2x encode: 5 frames, 5 encoded; rejects: none"]
    again = tmp_path / "again.hex"
    again.write_bytes(encoded)
    _, decoded_again, _ = run(["v2x", "decode", "--hex", "--json", str(again)], capsysbinary)

    def records_of(out: bytes) -> list[dict[str, object]]:
        # "where" names the line: the shipped file has a comment and a blank line
        return [{**json.loads(line), "where": None} for line in out.splitlines()]

    assert records_of(decoded_again) == records_of(decoded)


def test_encode_writes_binary_and_counts_bad_lines(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(
        "# a bare frame, then bad lines\n"
        + json.dumps(JSON_SAMPLES["rsi"])
        + "\n{not json\n"
        + json.dumps({"frame": {"rsiFrame": {"msgCnt": 300}}})
        + "\n"
    )
    status, out, err = run(["v2x", "encode", str(source)], capsysbinary)
    assert status == 1
    assert out == encode_json(JSON_SAMPLES["rsi"])
    assert err[0].startswith("roadgate v2x: frame 1 (line 3): bad_json: not JSON")
    assert err[1].startswith("roadgate v2x: frame 2 (line 4): bad_json: ")
    assert err[-1] == "roadgate v2x encode: 3 frames, 1 encoded; rejects: bad_json=2"


def test_exit_statuses_for_empty_input_missing_files_and_usage(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    empty = tmp_path / "empty.hex"
    empty.write_text("# nothing\n\n")
    assert run(["v2x", "decode", "--hex", str(empty)], capsysbinary)[0] == 1  # nothing decoded
    status, _, err = run(["v2x", "decode", str(tmp_path / "missing.bin")], capsysbinary)
    assert status == 2
    assert err[0].startswith("roadgate: error: cannot read ")
    with pytest.raises(SystemExit) as usage:
        main(["v2x", "decode", "--udp-port", "0", str(empty)])
    assert usage.value.code == 2


def test_a_broken_pcap_is_a_file_error(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    capture = tmp_path / "cut.pcap"
    capture.write_bytes(_pcap([_udp(BSM)])[:10])  # the magic number, then cut
    status, _, err = run(["v2x", "decode", str(capture)], capsysbinary)
    assert status == 2
    assert err[-1].startswith("roadgate: error: not a readable pcap or pcapng capture")


def test_without_dpkt_a_pcap_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    capture = tmp_path / "radio.pcap"
    capture.write_bytes(_pcap([_udp(BSM)]))
    monkeypatch.setitem(sys.modules, "dpkt", None)  # import dpkt now fails
    status, _, err = run(["v2x", "decode", str(capture)], capsysbinary)
    assert status == 2
    assert err[-1] == (
        "roadgate: error: reading pcap captures needs dpkt: pip install dpkt "
        "(or .venv/bin/pip install dpkt)"
    )


def test_decode_reads_standard_input(
    monkeypatch: pytest.MonkeyPatch, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(BSM)))
    status, out, _ = run(["v2x", "decode", "-"], capsysbinary)
    assert status == 0
    assert out.decode().startswith("#0 bsm id=00000000000004d2 ")
