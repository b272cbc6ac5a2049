"""``record upload`` on the box's side: the cut through a real uplink's outbox, chunk by chunk,
reassembled as the cloud does and compared with ``roadgate export --to mcap`` of the same
logs; what is refused, and why."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from cloud_bridge.recordings import reassemble
from cloud_bridge.validation import Accepted, validate
from edge.commands.dispatcher import Record
from edge.commands.errors import CommandRejectedError
from edge.identity import DeviceIdentity
from edge.recording.upload import RecordingUpload, UploadResult
from edge.recording.upload_request import UploadRequest
from edge.recording.writer import FlightRecorder
from edge.uplink.outbox import SqliteOutbox
from edge.uplink.publisher import MAX_PAYLOAD_BYTES, UplinkPublisher
from edge.uplink.settings import UplinkSettings
from firmware_py.cli import main
from hal.can.frames import make_batch
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.topics import Stream
from tests.edge.recording.sample_log import T0

DEVICE = "obu-1"


def _event(event_id: str, at: float) -> bytes:
    envelope = pb.Envelope(schema_version=1, device_id=DEVICE, capture_time_ns=int(at * 1e9))
    envelope.event.event_id = event_id
    return envelope.SerializeToString()


def incident_logs(directory: Path) -> list[Path]:
    """60 s of a busy bus (random payloads: they hardly compress) with an event at 30.2 s,
    rotated into several files."""
    rng = np.random.default_rng(7)
    recorder = FlightRecorder(directory, prefix=DEVICE)
    for tenth in range(600):
        at = T0 + tenth / 10
        rows = [(at + i * 1e-4, int(rng.integers(0, 0x7FF)), rng.bytes(8)) for i in range(100)]
        recorder.can_frames("vehicle", make_batch(rows))
        recorder.serial_lines("gnss", [f"$GNGGA,{tenth}".encode()], at)
        if tenth == 302:
            recorder.envelope(f"rg/v1/xa/{DEVICE}/events", _event("ev-42", at), at + 0.1)
        if tenth == 300:
            recorder.close()  # a second file, as a rotation would make
            recorder = FlightRecorder(directory, prefix=DEVICE)
    recorder.close()
    files = sorted(directory.glob("*.mcap"))
    assert len(files) == 2
    return files


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return incident_logs(tmp_path_factory.mktemp("incident"))


def uplink_and_upload(
    tmp_path: Path,
    files: list[Path],
    now: Callable[[], float] = time.time,
    scratch: Path | None = None,
    **limits: int,
) -> tuple[UplinkPublisher, RecordingUpload]:
    identity = DeviceIdentity(DEVICE, "xa", pb.DEVICE_ROLE_VEHICLE_GATEWAY)
    outbox = SqliteOutbox(tmp_path / "outbox.sqlite3")
    uplink = UplinkPublisher(identity, UplinkSettings(), outbox)
    upload = RecordingUpload(
        lambda: list(files),
        scratch or tmp_path,
        uplink.submit,
        outbox.commit,
        device_id=DEVICE,
        boot_id=identity.boot_id,
        max_payload_bytes=MAX_PAYLOAD_BYTES,
        now=now,
        **limits,
    )
    return uplink, upload


def queued_chunks(uplink: UplinkPublisher) -> list[Accepted]:
    """What the bridge would accept of the outbox's envelopes, sealed as the uplink sends them
    (publish time set, marked historical: the largest they get)."""
    accepted = []
    for entry in uplink.outbox.peek(10_000):
        assert entry.stream is Stream.RECORDING
        envelope = pb.Envelope.FromString(entry.body)
        envelope.publish_time_ns = 2**62
        envelope.historical = True
        payload = envelope.SerializeToString()
        result = validate(uplink.identity.topic(Stream.RECORDING), payload, MAX_PAYLOAD_BYTES)
        assert isinstance(result, Accepted), result
        accepted.append(result)
    return accepted


def test_an_uploaded_cut_is_the_export_of_the_same_window(tmp_path: Path, logs: list[Path]) -> None:
    uplink, upload = uplink_and_upload(tmp_path, logs)
    request = UploadRequest(event_id="ev-42", seconds=10)
    with uplink.outbox:
        result = asyncio.run(upload.upload(request, "cmd-1"))
        assert result.done, result.message
        accepted = queued_chunks(uplink)
        # Durable when acknowledged: every chunk is committed to the outbox's file.
        assert not uplink.outbox.uncommitted
    chunks = [a.envelope.recording_chunk for a in accepted]
    capture_id = chunks[0].capture_id
    assert capture_id == f"{uplink.identity.boot_id}-1"
    assert result.message.startswith(f"capture {capture_id}: {len(chunks)} chunks, ")
    assert len(chunks) == chunks[0].count >= 5  # 20 s of a busy bus: 300 kB
    assert {c.command_id for c in chunks} == {"cmd-1"}
    assert {c.event_id for c in chunks} == {"ev-42"}
    # Out of order and with a duplicate, as a redelivery may store them.
    whole = reassemble(capture_id, [*reversed(chunks), chunks[3]])
    assert whole.data is not None, whole.describe()
    assert whole.describe().endswith("verified")
    out = tmp_path / "exported.mcap"
    args = ["export", *map(str, logs), "--to", "mcap", "-o", str(out), "--around", "ev-42"]
    assert main([*args, "--seconds", "10"]) == 0
    assert whole.data == out.read_bytes()
    # Nothing is left beside the logs.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exported.mcap", "outbox.sqlite3"]


def test_scratch_left_by_a_killed_upload_is_removed(tmp_path: Path, logs: list[Path]) -> None:
    # A process killed mid-upload leaves its scratch directory with a partial cut behind.
    leftover = tmp_path / ".upload-k1ll3d"
    leftover.mkdir()
    (leftover / "partial.mcap").write_bytes(b"\x89MCAP0\r\n" + bytes(50_000))
    (tmp_path / "unrelated.mcap").write_bytes(b"kept")
    uplink, upload = uplink_and_upload(tmp_path, logs)
    with uplink.outbox:
        result = asyncio.run(upload.upload(UploadRequest(event_id="ev-42", seconds=10), "cmd-1"))
    assert result.done, result.message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outbox.sqlite3", "unrelated.mcap"]


def test_a_time_window_and_what_is_refused(tmp_path: Path, logs: list[Path]) -> None:
    uplink, upload = uplink_and_upload(tmp_path, logs)

    def run(request: UploadRequest) -> UploadResult:
        return asyncio.run(upload.upload(request, "cmd"))

    with uplink.outbox:
        window = run(UploadRequest(start=T0 + 1, end=T0 + 2))
        assert window.done, window.message
        assert " 22 messages from 2026-05-28T20:26:41.000000Z to 2026-05-28T20:26:42.000000Z" in (
            window.message
        )  # 11 CAN batches and 11 GNSS lines, at 1.0, 1.1, ... 2.0 s
        assert window.message.endswith(" queued")
        missing = run(UploadRequest(event_id="ev-none"))
        assert missing == UploadResult(
            False, "event 'ev-none' is not in the events stream of the logs"
        )
        empty = run(UploadRequest(start=T0 - 100, end=T0 - 50))
        assert not empty.done
        assert empty.message.startswith("nothing recorded from ")
        queued = len(uplink.outbox)
    late_uplink, late = uplink_and_upload(tmp_path, logs, now=lambda: T0 + 2.5)
    with late_uplink.outbox:
        recent = asyncio.run(late.upload(UploadRequest(start=T0 + 1, end=T0 + 2), "cmd"))
    assert recent.message.endswith(
        "(the window reaches into the last second: as far as the logs were written) queued"
    )
    (tmp_path / "small").mkdir()
    limited, small = uplink_and_upload(tmp_path / "small", logs, max_upload_bytes=10_000)
    with limited.outbox:
        big = asyncio.run(small.upload(UploadRequest(start=T0, end=T0 + 60), "cmd"))
        assert len(limited.outbox) == 0
    assert not big.done
    assert "over the 10000 an upload may be" in big.message
    empty_uplink, none = uplink_and_upload(tmp_path, [])
    with empty_uplink.outbox:
        nothing = asyncio.run(none.upload(UploadRequest(start=T0, end=T0 + 1), "c"))
    assert nothing == UploadResult(False, f"no flight logs in {tmp_path}")
    gone = tmp_path / "gone"
    unwritable_uplink, unwritable = uplink_and_upload(tmp_path, logs, scratch=gone)
    with unwritable_uplink.outbox:
        refused = asyncio.run(unwritable.upload(UploadRequest(start=T0, end=T0 + 1), "c"))
    assert not refused.done
    assert refused.message.startswith(f"cannot write the cut into {gone}: ")
    assert queued == 1  # the window's one chunk; the refusals queued nothing


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({}, "needs event_id, or from and to"),
        ({"event_id": "e", "from": "0"}, "not both"),
        ({"from": "10"}, "needs event_id, or from and to"),
        ({"from": "10", "to": "5"}, "is not a window"),
        ({"from": "0", "to": "100000"}, "is not a window"),
        ({"from": "yesterday", "to": "5"}, "not Unix seconds nor an ISO 8601 time"),
        ({"from": "nan", "to": "5"}, "not a time"),
        ({"event_id": "e", "seconds": "0"}, "seconds '0' is not in (0, 3600]"),
        ({"event_id": "e", "seconds": "inf"}, "is not in (0, 3600]"),
        ({"from": "0", "to": "1", "seconds": "3"}, "seconds goes with event_id"),
        ({"event_id": "x" * 257}, "longer than 256"),
    ],
)
def test_bad_arguments_are_rejected_before_anything_is_read(
    arguments: dict[str, str], problem: str
) -> None:
    command = pb.Command(command_id="c", name="record", arguments={"action": "upload"})
    command.arguments.update(arguments)
    with pytest.raises(CommandRejectedError, match="bad_arguments") as caught:
        asyncio.run(Record(None)(command))
    assert problem in str(caught.value)


def test_arguments_read_as_asked() -> None:
    assert UploadRequest.from_arguments({"event_id": "ev-1"}) == UploadRequest("ev-1", 30.0)
    assert UploadRequest.from_arguments({"event_id": "ev-1", "seconds": "5"}).seconds == 5.0
    iso = UploadRequest.from_arguments({"from": "2026-12-05T01:00:00", "to": "1796432460"})
    assert (iso.event_id, iso.start, iso.end) == (None, 1796432400.0, 1796432460.0)


def test_a_box_without_a_recorder_or_upload_says_so() -> None:
    command = pb.Command(
        command_id="c", name="record", arguments={"action": "upload", "event_id": "e"}
    )
    outcome = asyncio.run(Record(None)(command))
    assert outcome.result == pb.ACK_RESULT_FAILED
    assert outcome.message == "not available: no [recorder] in this box's config"
    with pytest.raises(CommandRejectedError, match="start, stop or upload"):
        asyncio.run(Record(None)(pb.Command(name="record", arguments={"action": "send"})))
