"""What a ``record upload`` command asks for, read from its arguments (no I/O, no mcap: the
dispatcher of a box without a recorder reads it too)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from edge.recording.instant import parse_instant

DEFAULT_SECONDS = 30.0
MAX_SECONDS = 3600.0
"""Seconds before and after an event at most: an hour each side is far past any incident."""
MAX_WINDOW_S = 2 * MAX_SECONDS
MAX_EVENT_ID = 256


@dataclass(frozen=True)
class UploadRequest:
    """Cut ``seconds`` around the event ``event_id``, or the window ``[start, end]`` (Unix
    seconds) when ``event_id`` is None."""

    event_id: str | None = None
    seconds: float = DEFAULT_SECONDS
    start: float = 0.0
    end: float = 0.0

    @classmethod
    def from_arguments(cls, arguments: Mapping[str, str]) -> UploadRequest:
        """``event_id`` (with ``seconds``, default 30) or ``from`` and ``to`` (Unix seconds or
        ISO 8601, UTC unless a zone is given). Raises ``ValueError`` saying what is wrong."""
        event_id = arguments.get("event_id", "")
        since, until = arguments.get("from", ""), arguments.get("to", "")
        if event_id and (since or until):
            raise ValueError("record upload: give event_id or from/to, not both")
        if event_id:
            if len(event_id) > MAX_EVENT_ID:
                raise ValueError(f"record upload: event_id longer than {MAX_EVENT_ID} characters")
            return cls(event_id=event_id, seconds=_seconds(arguments.get("seconds", "")))
        if "seconds" in arguments:
            raise ValueError("record upload: seconds goes with event_id, not with from/to")
        if not (since and until):
            raise ValueError("record upload needs event_id, or from and to")
        start, end = parse_instant(since), parse_instant(until)
        if not 0 <= end - start <= MAX_WINDOW_S:
            raise ValueError(
                f"record upload: from {since!r} to {until!r} is not a window of 0 to "
                f"{MAX_WINDOW_S:g} s"
            )
        return cls(start=start, end=end)


def _seconds(text: str) -> float:
    if not text:
        return DEFAULT_SECONDS
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value <= MAX_SECONDS):
        raise ValueError(f"record upload: seconds {text!r} is not in (0, {MAX_SECONDS:g}]")
    return value
