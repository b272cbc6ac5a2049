"""``FlightRecorder``: appends what a box saw to rotating MCAP files, never raising on a bad disk.

Crash safety: the chunk being filled is closed and written (with its message index) every
``flush_interval_s`` (at most 1 s), so a SIGKILL loses at most that much; the file then ends
mid-way and ``edge.recording.reader`` reads it up to there. The interval is kept by every
recording call and by ``tick()``, which the owner calls at least every ``flush_interval_s``
(the recorder starts no thread of its own).

Rotation and bounds: a file is finished (summary and footer written) and a new one started
once it reaches ``max_file_bytes`` or ``max_file_age_s``; whenever a file is started, the
oldest files of this recorder's prefix in the directory are deleted until the total fits in
``max_total_bytes``.

A failing disk (full, read-only, gone) never raises into the caller: the file is abandoned,
what could not be written is counted in ``dropped`` by reason, the reason is logged once and
kept in ``last_error``, and a new file is tried every ``retry_after_s`` (on a full disk after
deleting the oldest of our files). The methods are thread-safe, so port reader threads may
record directly.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from edge.recording.errors import RecordingError
from edge.recording.log_file import LogFile
from edge.recording.log_format import (
    ChannelSpec,
    Kind,
    encode_can_batch,
    encode_mqtt_message,
    to_ns,
)
from hal.can.frames import FrameBatch
from hal.net.port import Datagram

_log = logging.getLogger("edge.recording")

MiB = 1024 * 1024
SUFFIX = ".mcap"


@dataclass(frozen=True)
class RecorderLimits:
    """How big and how old a file may grow, how much the recorder keeps, how often it writes."""

    max_file_bytes: int = 64 * MiB
    max_file_age_s: float = 15 * 60.0
    max_total_bytes: int = 1024 * MiB
    flush_interval_s: float = 0.5
    chunk_bytes: int = 1 * MiB
    retry_after_s: float = 5.0

    def __post_init__(self) -> None:
        if not 0 < self.flush_interval_s <= 1.0:
            raise ValueError(f"flush_interval_s must be in (0, 1], got {self.flush_interval_s}")
        for name in ("max_file_bytes", "max_file_age_s", "chunk_bytes", "retry_after_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.max_total_bytes < self.max_file_bytes:
            raise ValueError(
                f"max_total_bytes ({self.max_total_bytes}) must be at least max_file_bytes "
                f"({self.max_file_bytes})"
            )


@dataclass
class _OpenLog:
    path: Path
    file: LogFile
    opened_at: float
    pending: int = 0  # messages added since the last successful flush


def _open_exclusive(path: Path) -> BinaryIO:
    return open(path, "xb")


class FlightRecorder:
    """Records CAN batches, serial lines, datagrams, envelopes and MQTT messages received into
    ``directory``.

    Counters (``counters``): ``messages`` written, ``files_started``, ``files_finished``,
    ``files_deleted``, ``write_errors``; ``dropped``: messages lost, by reason.
    """

    def __init__(
        self,
        directory: Path,
        limits: RecorderLimits | None = None,
        *,
        prefix: str = "roadgate",
        metadata: Mapping[str, str] | None = None,
        wall_clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        open_file: Callable[[Path], BinaryIO] = _open_exclusive,
    ) -> None:
        """``metadata``: written into each file (device id, software version...).
        ``open_file`` creates a new file for writing (a seam for tests of odd files)."""
        if not prefix or "/" in prefix:
            raise ValueError(f"prefix must be a non-empty file name part, got {prefix!r}")
        self._directory = directory
        self._limits = limits or RecorderLimits()
        self._prefix = prefix
        self._metadata = dict(metadata or {})
        self._wall_clock = wall_clock
        self._monotonic = monotonic
        self._open_file = open_file
        self._lock = threading.Lock()
        self._log: _OpenLog | None = None
        self._flush_due = 0.0
        self._retry_at = 0.0
        self._closed = False
        self._file_number = 0
        self._counts: Counter[str] = Counter(
            dict.fromkeys(
                ("messages", "files_started", "files_finished", "files_deleted", "write_errors"),
                0,
            )
        )
        self.dropped: Counter[str] = Counter()
        self.last_error: str | None = None

    @property
    def counters(self) -> Mapping[str, int]:
        with self._lock:
            return dict(self._counts)

    @property
    def current_path(self) -> Path | None:
        """The file being written, or None (not started, or waiting to retry after a fault)."""
        log = self._log
        return log.path if log else None

    def files(self) -> list[Path]:
        """This recorder's files in the directory, oldest first."""
        try:
            found = self._directory.glob(f"{self._prefix}-*{SUFFIX}")
            return sorted(path for path in found if path.is_file())
        except OSError:
            return []

    def start(self) -> Path:
        """Create the directory and the first file; returns its path.

        Raises ``RecordingError`` saying why when neither can be created: a caller that wants
        to know at once (``roadgate record``); recording calls never raise.
        """
        with self._lock:
            try:
                self._directory.mkdir(parents=True, exist_ok=True)
                log = self._start_file()
            except OSError as err:
                raise RecordingError(
                    f"cannot record into {self._directory}: {err.strerror or err}"
                ) from err
            return log.path

    def can_frames(self, bus: str, batch: FrameBatch) -> None:
        """Record a batch of frames received on ``bus`` (nothing for an empty batch)."""
        if not len(batch):
            return
        first = to_ns(float(batch["timestamp"][0]))
        last = to_ns(float(batch["timestamp"][-1]))
        self._record(ChannelSpec(Kind.CAN, bus), encode_can_batch(batch), first, last)

    def serial_lines(self, port: str, lines: Sequence[bytes], received_at: float) -> None:
        """Record lines read from serial ``port`` at ``received_at`` (Unix s)."""
        at = to_ns(received_at)
        spec = ChannelSpec(Kind.SERIAL, port)
        for line in lines:
            self._record(spec, bytes(line), at, at)

    def datagrams(self, kind: Kind, port: str, datagrams: Sequence[Datagram]) -> None:
        """Record datagrams of ``kind`` (``V2X_RX``, ``V2X_TX`` or ``SPAT``) on ``port``."""
        spec = ChannelSpec(kind, port)
        for payload, at in datagrams:
            ns = to_ns(at)
            self._record(spec, bytes(payload), ns, ns)

    def envelope(self, topic: str, payload: bytes, published_at: float) -> None:
        """Record an envelope as published on MQTT ``topic`` (the exact payload bytes)."""
        ns = to_ns(published_at)
        self._record(ChannelSpec(Kind.ENVELOPE, topic), payload, ns, ns)

    def mqtt_message(self, client: str, topic: str, payload: bytes, received_at: float) -> None:
        """Record an MQTT message ``client`` received on ``topic`` (``mqtt/in/{client}``); a
        topic the layout cannot hold (not UTF-8, over MQTT's bound) is dropped as
        ``bad_mqtt_topic``."""
        try:
            data = encode_mqtt_message(topic, bytes(payload))
        except ValueError:
            with self._lock:
                self.dropped["bad_mqtt_topic"] += 1
            return
        ns = to_ns(received_at)
        self._record(ChannelSpec(Kind.MQTT_IN, client), data, ns, ns)

    def tick(self) -> None:
        """Write the chunk in progress when due, rotate when due, retry after a fault."""
        with self._lock:
            if not self._closed:
                self._maintain(self._monotonic())

    def close(self) -> None:
        """Finish the current file (summary and footer); harmless twice. Never raises."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._log is not None:
                self._finish_file(self._log)
                self._log = None

    def __enter__(self) -> FlightRecorder:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _record(self, spec: ChannelSpec, data: bytes, log_time: int, publish_time: int) -> None:
        with self._lock:
            now = self._monotonic()
            if self._closed:
                self.dropped["closed"] += 1
                return
            log = self._log or self._reopen(now)
            if log is None:
                self.dropped[self._drop_reason()] += 1
                return
            try:
                log.file.add(spec, data, log_time, publish_time)
                log.pending += 1
            except (OSError, ValueError) as err:
                log.pending += 1
                self._fail(log, err, now)
                return
            if now >= self._flush_due:
                self._maintain(now)

    def _maintain(self, now: float) -> None:
        log = self._log or self._reopen(now)
        if log is None:
            return
        self._flush_due = now + self._limits.flush_interval_s
        try:
            size = log.file.flush()
            self._counts["messages"] += log.pending
            log.pending = 0
        except (OSError, ValueError) as err:
            self._fail(log, err, now)
            return
        too_old = now - log.opened_at >= self._limits.max_file_age_s
        if size >= self._limits.max_file_bytes or too_old:
            self._finish_file(log)
            self._log = None
            self._reopen(now)

    def _reopen(self, now: float) -> _OpenLog | None:
        if now < self._retry_at:
            return None
        try:
            self._directory.mkdir(parents=True, exist_ok=True)
            log = self._start_file()
        except OSError as err:
            self._note_fault(err, now)
            if err.errno == errno.ENOSPC:
                self._delete_oldest(keep=0)
            return None
        if self.last_error is not None:
            _log.warning(
                "flight recorder: recording again into %s (%d messages dropped so far: %s)",
                log.path,
                sum(self.dropped.values()),
                dict(self.dropped),
            )
            self.last_error = None
        return log

    def _start_file(self) -> _OpenLog:
        now = self._monotonic()
        stamp = datetime.fromtimestamp(self._wall_clock(), UTC).strftime("%Y%m%dT%H%M%S")
        while True:
            self._file_number += 1
            path = self._directory / f"{self._prefix}-{stamp}Z-{self._file_number:04d}{SUFFIX}"
            try:
                stream = self._open_file(path)
                break
            except FileExistsError:
                continue
        try:
            file = LogFile(stream, self._limits.chunk_bytes, self._metadata)
        except (OSError, ValueError):
            # A file without even its header is no log: retries must not pile them up.
            with contextlib.suppress(OSError, ValueError):
                stream.close()
            with contextlib.suppress(OSError):
                path.unlink()
            raise
        log = _OpenLog(path, file, now)
        self._log = log
        self._flush_due = now + self._limits.flush_interval_s
        self._counts["files_started"] += 1
        self._enforce_total(keep=path)
        return log

    def _finish_file(self, log: _OpenLog) -> None:
        try:
            log.file.finish()
        except (OSError, ValueError) as err:
            self._fail(log, err, self._monotonic())
            return
        self._counts["messages"] += log.pending
        self._counts["files_finished"] += 1

    def _fail(self, log: _OpenLog, err: OSError | ValueError, now: float) -> None:
        """Abandon ``log`` (its tail stays readable up to the fault) and count its losses."""
        self._note_fault(err, now)
        self.dropped[self._drop_reason()] += log.pending
        log.pending = 0
        with contextlib.suppress(OSError, ValueError):
            log.file.stream.close()
        if self._log is log:
            self._log = None
        if isinstance(err, OSError) and err.errno == errno.ENOSPC:
            self._delete_oldest(keep=1)

    def _note_fault(self, err: OSError | ValueError, now: float) -> None:
        self._counts["write_errors"] += 1
        self._retry_at = now + self._limits.retry_after_s
        reason = _reason(err)
        if self.last_error is None:
            _log.warning(
                "flight recorder: cannot write into %s (%s): dropping what arrives, "
                "retrying every %.0f s",
                self._directory,
                err,
                self._limits.retry_after_s,
            )
        self.last_error = reason

    def _drop_reason(self) -> str:
        return self.last_error or "not_started"

    def _enforce_total(self, keep: Path) -> None:
        files = self.files()
        sizes = {path: _size(path) for path in files}
        total = sum(sizes.values())
        for path in files:
            if total <= self._limits.max_total_bytes:
                break
            if path == keep:
                continue
            if _unlink(path):
                total -= sizes[path]
                self._counts["files_deleted"] += 1

    def _delete_oldest(self, keep: int) -> None:
        """On a full disk: delete our oldest file, keeping the newest ``keep`` files."""
        files = self.files()
        current = self._log.path if self._log else None
        candidates = [path for path in files[: max(0, len(files) - keep)] if path != current]
        if candidates and _unlink(candidates[0]):
            self._counts["files_deleted"] += 1
            _log.warning("flight recorder: disk full, deleted the oldest log %s", candidates[0])


def _reason(err: OSError | ValueError) -> str:
    if isinstance(err, OSError) and err.errno is not None:
        return errno.errorcode.get(err.errno, str(err.errno)).lower()
    return type(err).__name__.lower()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _unlink(path: Path) -> bool:
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    except OSError as err:
        _log.warning("flight recorder: cannot delete %s: %s", path, err)
        return False
    return True
