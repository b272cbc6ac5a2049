"""Uploaded flight-log cuts on the cloud's side: chunks validated and stored as any message,
reassembled by ``roadgate bridge recording``; an incomplete or corrupted set says what is
wrong and writes nothing."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pytest

from cloud_bridge.recordings import json_view, reassemble, stored_chunks
from cloud_bridge.store.postgres_store import PostgresStore
from cloud_bridge.store.sqlite_store import SqliteStore
from cloud_bridge.validation import Rejected, validate
from edge.recording.upload_request import UploadRequest
from firmware_py.cli import main
from protocols.schema.v1 import roadgate_pb2 as pb
from tests.cloud_bridge.postgres_db import fresh_schema, schema_dsn, schema_url
from tests.edge.recording.test_upload import (
    DEVICE,
    incident_logs,
    queued_chunks,
    uplink_and_upload,
)


@pytest.fixture
def stored(tmp_path: Path) -> tuple[Path, Path, str]:
    """A bridge config whose SQLite store holds one uploaded capture; the cut as the box made
    it (the export of the same window), and the capture's id."""
    logs = incident_logs(tmp_path / "logs")
    uplink, upload = uplink_and_upload(tmp_path, logs)
    with uplink.outbox:
        result = asyncio.run(upload.upload(UploadRequest(event_id="ev-42", seconds=5), "c"))
        assert result.done, result.message
        accepted = queued_chunks(uplink)
    store_path = tmp_path / "bridge.sqlite3"
    with SqliteStore(store_path) as store:
        assert store.store_many((a, 1) for a in accepted) == [True] * len(accepted)
        assert store.store_many((a, 2) for a in accepted[:2]) == [False, False]  # redelivered
    with closing(sqlite3.connect(store_path)) as db:
        bodies = [json.loads(b) for (b,) in db.execute("SELECT body_json FROM messages")]
    assert len(bodies) == len(accepted)
    # The chunk's bytes are kept once, in the payload: not again as base64 in the JSON.
    assert all("data" not in b["recording_chunk"] and b["recording_chunk"] for b in bodies)
    config = tmp_path / "bridge.toml"
    config.write_text(f'[mqtt]\nhost = "127.0.0.1"\n[bridge]\nstore = "{store_path}"\n')
    cut = tmp_path / "cut.mcap"
    export = ["export", str(logs[0].parent), "--to", "mcap", "-o", str(cut)]
    assert main([*export, "--around", "ev-42", "--seconds", "5"]) == 0
    return config, cut, accepted[0].envelope.recording_chunk.capture_id


def recording(config: Path, capture: str, out: Path) -> int:
    args = ["--config", str(config), "--device", DEVICE, "--capture", capture, "-o", str(out)]
    return main(["bridge", "recording", *args])


def test_the_stored_capture_is_written_back_byte_for_byte(
    stored: tuple[Path, Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, cut, capture = stored
    out = tmp_path / "fetched.mcap"
    assert recording(config, capture, out) == 0
    assert out.read_bytes() == cut.read_bytes()
    assert "verified; written to" in capsys.readouterr().out
    assert recording(config, "no-such-capture", tmp_path / "none.mcap") == 1
    assert "capture 'no-such-capture': no chunks stored" in capsys.readouterr().err
    assert not (tmp_path / "none.mcap").exists()


def test_missing_and_corrupted_chunks_are_named(
    stored: tuple[Path, Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, _, capture = stored
    store_path = tmp_path / "bridge.sqlite3"
    with sqlite3.connect(store_path) as db:
        payloads = [row[0] for row in db.execute("SELECT payload FROM messages ORDER BY sequence")]
        count = len(payloads)
        db.execute("DELETE FROM messages WHERE sequence IN (1, 3)")
    out = tmp_path / "fetched.mcap"
    assert recording(config, capture, out) == 1
    err = capsys.readouterr().err
    assert f"capture {capture}: {count - 2} of {count} chunks; missing 2: 0, 2" in err
    assert not out.exists()
    # One byte flipped in a stored chunk: every chunk there, the digest tells.
    chunks, unreadable = stored_chunks(store_path, DEVICE, capture)
    assert unreadable == 0
    first = pb.Envelope.FromString(payloads[0]).recording_chunk
    first.data = bytes([first.data[0] ^ 1]) + first.data[1:]
    third = pb.Envelope.FromString(payloads[2]).recording_chunk
    corrupted = reassemble(capture, [first, third, *chunks])
    assert corrupted.data is None
    assert corrupted.missing == ()
    assert "the bytes do not match the sha256 announced (corrupted)" in corrupted.describe()


def test_chunks_that_contradict_each_other() -> None:
    whole = b"0123456789"
    digest = hashlib.sha256(whole).digest()

    def chunk(index: int, offset: int, data: bytes, **changes: object) -> pb.RecordingChunk:
        fields: dict[str, object] = {
            "capture_id": "b-1",
            "index": index,
            "count": 2,
            "offset": offset,
            "total_bytes": 10,
            "sha256": digest,
            "data": data,
        }
        fields.update(changes)
        return pb.RecordingChunk(**fields)  # type: ignore[arg-type]

    good = [chunk(0, 0, whole[:6]), chunk(1, 6, whole[6:])]
    assert reassemble("b-1", good).data == whole
    other = reassemble("b-1", [*good, chunk(1, 6, b"xxxx")])
    assert other.data is None
    assert "chunk 1 came twice with other bytes" in other.problems
    gap = reassemble("b-1", [chunk(0, 0, whole[:5]), chunk(1, 6, whole[6:])])
    assert gap.problems == ("chunk 1 starts at byte 6, not 5",)
    stranger = reassemble("b-1", [*good, chunk(0, 0, whole[:6], count=3)])
    assert stranger.problems == ("chunk 0 disagrees on the count, size or sha256",)
    assert reassemble("b-1", []).describe() == "capture 'b-1': no chunks stored"


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"capture_id": ""}, "capture_id is empty"),
        ({"index": 2}, "index 2 is not below its count 2"),
        ({"offset": 8}, "data ends at 12, past total_bytes 10"),
        ({"sha256": b"short"}, "sha256 has 5 bytes, not 32"),
    ],
)
def test_the_bridge_dead_letters_a_chunk_that_cannot_fit_its_capture(
    changes: dict[str, object], problem: str
) -> None:
    fields: dict[str, object] = {
        "capture_id": "b-1",
        "index": 1,
        "count": 2,
        "offset": 6,
        "total_bytes": 10,
        "sha256": bytes(32),
        "data": b"6789",
    }
    fields.update(changes)
    envelope = pb.Envelope(schema_version=1, device_id=DEVICE, boot_id="b", sequence=1)
    envelope.recording_chunk.CopyFrom(pb.RecordingChunk(**fields))  # type: ignore[arg-type]
    result = validate(f"rg/v1/xa/{DEVICE}/recording", envelope.SerializeToString(), 65536)
    assert isinstance(result, Rejected)
    assert (result.reason, problem in result.detail) == ("out_of_range", True), result


def test_the_json_view_of_a_chunk_leaves_its_bytes_to_the_payload() -> None:
    envelope = pb.Envelope(schema_version=1, device_id=DEVICE, boot_id="b", sequence=1)
    envelope.recording_chunk.CopyFrom(
        pb.RecordingChunk(capture_id="b-1", count=1, total_bytes=4, data=b"\x00MCA")
    )
    view = json_view(envelope)
    assert not view.recording_chunk.data
    assert view.recording_chunk.capture_id == "b-1"
    assert envelope.recording_chunk.data == b"\x00MCA"  # the original is untouched
    other = pb.Envelope(schema_version=1, device_id=DEVICE)
    other.event.event_id = "e"
    assert json_view(other) is other


def test_a_capture_in_postgresql_is_written_back_the_same(tmp_path: Path) -> None:
    logs = incident_logs(tmp_path / "logs")
    uplink, upload = uplink_and_upload(tmp_path, logs)
    with uplink.outbox:
        result = asyncio.run(upload.upload(UploadRequest(event_id="ev-42", seconds=3), "c"))
        assert result.done, result.message
        accepted = queued_chunks(uplink)
    capture = accepted[0].envelope.recording_chunk.capture_id
    cut = tmp_path / "cut.mcap"
    export = ["export", str(logs[0].parent), "--to", "mcap", "-o", str(cut)]
    assert main([*export, "--around", "ev-42", "--seconds", "3"]) == 0
    with fresh_schema() as schema:
        with PostgresStore(schema_dsn(schema)) as store:
            now = time.time_ns()
            assert store.store_many((a, now) for a in reversed(accepted)) == [True] * len(accepted)
        config = tmp_path / "bridge.toml"
        config.write_text(f'[mqtt]\nhost = "127.0.0.1"\n[bridge]\nstore = "{schema_url(schema)}"\n')
        out = tmp_path / "fetched.mcap"
        assert recording(config, capture, out) == 0
        assert out.read_bytes() == cut.read_bytes()
        chunks, unreadable = stored_chunks(schema_url(schema), DEVICE, "other")
    assert (chunks, unreadable) == ([], 0)
