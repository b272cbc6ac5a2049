"""Instants as people write them (Unix seconds or ISO 8601), for a window of a log."""

from __future__ import annotations

import math
from datetime import UTC, datetime


def parse_instant(text: str) -> float:
    """Unix seconds, or an ISO 8601 time (UTC when it names no zone), as Unix seconds.

    Raises ``ValueError`` for anything else (NaN and infinities included).
    """
    try:
        value = float(text)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"not Unix seconds nor an ISO 8601 time: {text!r}") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    if not math.isfinite(value):
        raise ValueError(f"not a time: {text!r}")
    return value
