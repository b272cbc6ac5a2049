"""``record upload``: a cut of the box's own flight logs, sent to the cloud through the uplink.

The cut (``edge.recording.cut``, what ``roadgate export --to mcap`` writes for the same window)
is written to a temporary file beside the logs, then split into ``RecordingChunk`` bodies that
each fit the uplink's payload bound with their envelope, and submitted on the ``recording``
stream. The outbox is committed every ``COMMIT_EVERY_BYTES`` (its memory bound evicts what is
not yet committed) and at the end: the ack says the chunks are queued only once they are
durable, and from then on the uplink delivers them like any message, across outages and
restarts. The cloud reassembles a capture by its ``capture_id`` and checks the whole file's
size and SHA-256.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from google.protobuf.message import Message

from edge.recording.cut import cut_logs, window_around
from edge.recording.errors import RecordingError
from edge.recording.reader import ReadReport
from edge.recording.upload_request import UploadRequest
from protocols.envelope import SCHEMA_VERSION
from protocols.schema.v1 import roadgate_pb2 as pb

log = logging.getLogger("edge.recording")

SCRATCH_PREFIX = ".upload-"
"""The scratch directories of uploads, beside the flight logs."""
MAX_UPLOAD_BYTES = 16 * 1024 * 1024
"""The largest cut a box uploads: a quarter of the outbox's default soft bound, so that an
upload never pushes the live telemetry out (uploads are not evicted as telemetry is)."""
COMMIT_EVERY_BYTES = 1024 * 1024
"""Submitted chunks are committed at least this often: the outbox evicts uncommitted bodies
past 4 MiB (``outbox_eviction.MEMORY_MAX_BYTES``)."""
WRITTEN_WITHIN_S = 1.0
"""The recorder writes what it got at least this often (``edge.recording.writer``): a window
ending later than this long ago may lack its end."""
_ID_MARGIN_BYTES = 16
"""Room for the data field's tag and length and the body's longer length prefix."""

Submit = Callable[[Message, int], int]
"""The uplink's ``submit(body, capture_time_ns)``."""
Commit = Callable[[], bool]
"""The outbox's ``commit()``: False when the disk refused it."""
LogFiles = Callable[[], list[Path]]
"""The box's flight logs now, oldest first."""


@dataclass(frozen=True)
class UploadResult:
    """``done``: chunks queued durably (or nothing to do); ``message``: the ack's text."""

    done: bool
    message: str


@dataclass(frozen=True)
class _Cut:
    path: Path
    messages: int
    start: float
    end: float
    size: int
    sha256: bytes
    damage: str


class RecordingUpload:
    """Cuts the logs ``log_files()`` lists (written into ``scratch_dir``) and submits the cut's
    chunks through ``submit``, committing with ``commit``. ``device_id`` and ``boot_id`` are
    the uplink's (they size the envelope around a chunk); ``max_payload_bytes`` the uplink's
    bound of a sealed envelope; ``now`` the box's clock (Unix seconds)."""

    def __init__(
        self,
        log_files: LogFiles,
        scratch_dir: Path,
        submit: Submit,
        commit: Commit,
        *,
        device_id: str,
        boot_id: str,
        max_payload_bytes: int,
        max_upload_bytes: int = MAX_UPLOAD_BYTES,
        now: Callable[[], float],
    ) -> None:
        self._log_files = log_files
        self._scratch_dir = scratch_dir
        self._submit = submit
        self._commit = commit
        self._device_id = device_id
        self._boot_id = boot_id
        self._max_payload_bytes = max_payload_bytes
        self._max_upload_bytes = max_upload_bytes
        self._now = now
        self._numbers = itertools.count(1)

    async def upload(self, request: UploadRequest, command_id: str) -> UploadResult:
        """Cut what ``request`` asks for and queue it; never raises for what the logs hold."""
        files = self._log_files()
        if not files:
            return UploadResult(False, f"no flight logs in {self._scratch_dir}")
        capture_id = f"{self._boot_id}-{next(self._numbers)}"
        self._remove_leftovers()
        try:
            scratch_dir = tempfile.TemporaryDirectory(dir=self._scratch_dir, prefix=SCRATCH_PREFIX)
            with scratch_dir as scratch:
                out = Path(scratch) / f"{capture_id}.mcap"
                # A thread: reading the logs and compressing the cut take seconds on a board,
                # which the box's loop must not wait for.
                cut = await asyncio.to_thread(self._cut, files, request, out)
                if isinstance(cut, str):
                    return UploadResult(False, cut)
                return await self._queue(cut, capture_id, command_id, request)
        except RecordingError as err:  # a log rotated away or unreadable meanwhile
            return UploadResult(False, f"cannot cut the logs: {err}")
        except OSError as err:  # a full or read-only disk beside the logs
            return UploadResult(False, f"cannot write the cut into {self._scratch_dir}: {err}")

    def _remove_leftovers(self) -> None:
        """Remove the scratch directories of uploads a killed process left behind. Uploads
        run one at a time (commands are handled in turn) and one process owns the state
        directory (its instance lock), so any that exists now is such a leftover."""
        for leftover in self._scratch_dir.glob(f"{SCRATCH_PREFIX}*"):
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
                log.info("removed %s, left by an upload that did not finish", leftover)

    def _cut(self, files: list[Path], request: UploadRequest, out: Path) -> _Cut | str:
        if request.event_id is None:
            start, end = request.start, request.end
        else:
            window = window_around(files, request.event_id, request.seconds)
            if window is None:
                return f"event {request.event_id!r} is not in the events stream of the logs"
            start, end = window
        reports: list[ReadReport] = []
        messages = cut_logs(files, start, end, out, reports)
        if messages == 0:
            return f"nothing recorded from {_utc(start)} to {_utc(end)}"
        size = out.stat().st_size
        if size > self._max_upload_bytes:
            return (
                f"the cut is {size} bytes, over the {self._max_upload_bytes} an upload may be: "
                "ask for a shorter window"
            )
        digest = hashlib.sha256()
        with out.open("rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
        damaged = [
            f"{report.path.name}: {report.summary()}" for report in reports if report.damaged
        ]
        damage = f"; damage skipped: {'; '.join(damaged)}" if damaged else ""
        return _Cut(out, messages, start, end, size, digest.digest(), damage)

    async def _queue(
        self, cut: _Cut, capture_id: str, command_id: str, request: UploadRequest
    ) -> UploadResult:
        header = pb.RecordingChunk(
            capture_id=capture_id,
            total_bytes=cut.size,
            sha256=cut.sha256,
            command_id=command_id,
            event_id=request.event_id or "",
            start_time_ns=round(cut.start * 1e9),
            end_time_ns=round(cut.end * 1e9),
        )
        try:
            step = self._data_bytes(header)
        except ValueError as err:  # ids too long to leave room for data
            return UploadResult(False, f"cannot upload: {err}")
        count = -(-cut.size // step)
        header.count = count
        capture_time_ns = header.start_time_ns
        uncommitted = 0
        durable = True
        with cut.path.open("rb") as file:
            for index, offset, data in _pieces(file, step):
                chunk = pb.RecordingChunk()
                chunk.CopyFrom(header)
                chunk.index, chunk.offset, chunk.data = index, offset, data
                self._submit(chunk, capture_time_ns)
                uncommitted += len(data)
                if uncommitted >= COMMIT_EVERY_BYTES:
                    durable = self._commit() and durable
                    uncommitted = 0
                    await asyncio.sleep(0)  # the box's other work between commits
        durable = self._commit() and durable
        log.info(
            "record upload %s: %d chunks, %d bytes, %d messages",
            capture_id,
            count,
            cut.size,
            cut.messages,
        )
        what = (
            f"capture {capture_id}: {count} chunks, {cut.size} bytes, {cut.messages} messages "
            f"from {_utc(cut.start)} to {_utc(cut.end)}, sha256 {cut.sha256.hex()}"
        )
        if cut.end > self._now() - WRITTEN_WITHIN_S:
            what += " (the window reaches into the last second: as far as the logs were written)"
        if not durable:
            return UploadResult(
                False, f"{what} queued in memory only: the outbox cannot write to its disk"
            )
        return UploadResult(True, f"{what} queued{cut.damage}")

    def _data_bytes(self, header: pb.RecordingChunk) -> int:
        """The data a chunk may carry so that its sealed envelope (the largest numbers and
        times it may get) stays within the uplink's bound."""
        largest = pb.RecordingChunk()
        largest.CopyFrom(header)
        largest.index = largest.count = 2**32 - 1
        largest.offset = 2**64 - 1
        envelope = pb.Envelope(
            schema_version=SCHEMA_VERSION,
            device_id=self._device_id,
            boot_id=self._boot_id,
            sequence=2**64 - 1,
            capture_time_ns=-(2**63),
            publish_time_ns=-(2**63),
            clock_source=pb.CLOCK_SOURCE_SIMULATED,
            clock_max_error_s=1.0,
            historical=True,
            recording_chunk=largest,
        )
        room = self._max_payload_bytes - envelope.ByteSize() - _ID_MARGIN_BYTES
        if room < 1024:
            raise ValueError(f"a chunk's envelope leaves {room} bytes for data")
        return room


def _pieces(file: BinaryIO, step: int) -> Iterator[tuple[int, int, bytes]]:
    """(index, offset, data) of each ``step`` bytes of ``file``; one piece at least."""
    index = offset = 0
    while data := file.read(step):
        yield index, offset, data
        index += 1
        offset += len(data)


def _utc(seconds: float) -> str:
    try:
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    except (OverflowError, OSError, ValueError):  # past what datetime holds
        return f"{seconds:.6f}"
