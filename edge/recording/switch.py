"""A flight recorder that can be stopped and started while the box runs (the remote ``record``
command): each capture is a recorder of its own, so a stopped capture is a finished file."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from edge.recording.log_format import Kind
from hal.can.frames import FrameBatch
from hal.net.port import Datagram

_log = logging.getLogger("edge.recording")


class Recorder(Protocol):
    """What the switch drives (``edge.recording.writer.FlightRecorder``)."""

    @property
    def counters(self) -> Mapping[str, int]: ...

    @property
    def dropped(self) -> Mapping[str, int]: ...

    @property
    def current_path(self) -> Path | None: ...

    def start(self) -> Path: ...

    def can_frames(self, bus: str, batch: FrameBatch) -> None: ...

    def serial_lines(self, port: str, lines: Sequence[bytes], received_at: float) -> None: ...

    def datagrams(self, kind: Kind, port: str, datagrams: Sequence[Datagram]) -> None: ...

    def envelope(self, topic: str, payload: bytes, published_at: float) -> None: ...

    def mqtt_message(self, client: str, topic: str, payload: bytes, received_at: float) -> None: ...

    def tick(self) -> None: ...

    def close(self) -> None: ...


class RecorderSwitch:
    """Records through a recorder from ``open_recorder`` while capturing; nothing otherwise.

    ``start(duration_s)`` begins a capture (a new recorder, so a new file) or extends the one
    running; ``stop()`` finishes it. Counters add up over every capture: the recorder's own
    (``messages``, ``files_started``...), ``dropped.<reason>``, ``recording`` (1 while
    capturing), ``start_errors`` and ``failures`` (a recorder call that raised: logged once,
    the item lost). Never raises from a recording call, ``tick`` or ``close``: the box goes on
    whatever the recorder does. Its methods are thread-safe (port reader threads may record).
    """

    def __init__(
        self,
        open_recorder: Callable[[], Recorder],
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._open_recorder = open_recorder
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._current: Recorder | None = None
        self._stop_at: float | None = None
        self._finished: Counter[str] = Counter()
        self._dropped: Counter[str] = Counter()
        self._start_errors = 0
        self._failures = 0

    @property
    def recording(self) -> bool:
        return self._current is not None

    @property
    def current_path(self) -> Path | None:
        current = self._current
        return None if current is None else current.current_path

    @property
    def counters(self) -> Mapping[str, int]:
        with self._lock:
            totals = Counter(self._finished)
            dropped = Counter(self._dropped)
            if self._current is not None:
                totals.update(self._current.counters)
                dropped.update(self._current.dropped)
            flat = dict(totals)
            flat.update({f"dropped.{reason}": n for reason, n in dropped.items()})
            flat["recording"] = int(self._current is not None)
            flat["start_errors"] = self._start_errors
            flat["failures"] = self._failures
            return flat

    @property
    def dropped(self) -> Mapping[str, int]:
        with self._lock:
            dropped = Counter(self._dropped)
            if self._current is not None:
                dropped.update(self._current.dropped)
            return dropped

    def start(self, duration_s: float | None = None) -> str:
        """Capture (for ``duration_s`` s, or until ``stop``); returns what it did.

        Raises ``RecordingError`` when no file can be created (the capture does not start).
        """
        with self._lock:
            self._stop_at = None if duration_s is None else self._monotonic() + duration_s
            until = "until stopped" if duration_s is None else f"for {duration_s:g} s"
            if self._current is not None:
                return f"already recording into {self._current.current_path}; now {until}"
            recorder = self._open_recorder()
            try:
                path = recorder.start()
            except Exception:
                self._start_errors += 1
                recorder.close()
                raise
            self._current = recorder
            _log.info("flight recorder: recording into %s %s", path, until)
            return f"recording into {path} {until}"

    def stop(self) -> str:
        """Finish the capture running (its file complete); returns what it did."""
        with self._lock:
            return self._stop()

    def _stop(self) -> str:
        recorder, self._current, self._stop_at = self._current, None, None
        if recorder is None:
            return "not recording"
        path = recorder.current_path
        self._guard(recorder.close)
        counts = recorder.counters
        self._finished.update(counts)
        self._dropped.update(recorder.dropped)
        _log.info("flight recorder: stopped (%d messages, last file %s)", counts["messages"], path)
        return f"stopped; {counts.get('messages', 0)} messages recorded, last file {path}"

    def can_frames(self, bus: str, batch: FrameBatch) -> None:
        current = self._current
        if current is not None:
            self._guard(current.can_frames, bus, batch)

    def serial_lines(self, port: str, lines: Sequence[bytes], received_at: float) -> None:
        current = self._current
        if current is not None:
            self._guard(current.serial_lines, port, lines, received_at)

    def datagrams(self, kind: Kind, port: str, datagrams: Sequence[Datagram]) -> None:
        current = self._current
        if current is not None:
            self._guard(current.datagrams, kind, port, datagrams)

    def envelope(self, topic: str, payload: bytes, published_at: float) -> None:
        current = self._current
        if current is not None:
            self._guard(current.envelope, topic, payload, published_at)

    def mqtt_message(self, client: str, topic: str, payload: bytes, received_at: float) -> None:
        current = self._current
        if current is not None:
            self._guard(current.mqtt_message, client, topic, payload, received_at)

    def tick(self) -> None:
        """Keep the recorder's 1-second promise; end a timed capture when due."""
        with self._lock:
            if self._stop_at is not None and self._monotonic() >= self._stop_at:
                self._stop()
            current = self._current
        if current is not None:
            self._guard(current.tick)

    def close(self) -> None:
        """Finish the capture running (at shutdown); harmless twice."""
        with self._lock:
            self._stop()

    def _guard(self, call: Callable[..., None], *args: Any) -> None:
        # The recorder handles its own disk faults; anything else it raises is a bug that
        # must cost the recording, never the box (these calls run in its readers and uplink).
        try:
            call(*args)
        except Exception:
            self._failures += 1
            if self._failures == 1:
                _log.exception("flight recorder failed; the box goes on (logged once)")
