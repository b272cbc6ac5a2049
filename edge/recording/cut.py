"""A cut of flight logs as a flight log of its own, shared by ``roadgate export --to mcap`` and
the box's ``record upload`` command, so that both cut the same window into the same messages.

The window is ``seconds`` before and after an event (``window.event_time``) or two instants.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from edge.recording.reader import ReadReport, read_logs
from edge.recording.window import event_time, within, write_log


def window_around(
    files: Iterable[Path], event_id: str, seconds: float
) -> tuple[float, float] | None:
    """``seconds`` before and after the event ``event_id`` of the logs ``files``; None when no
    ``events`` envelope of the logs carries it."""
    at = event_time(files, event_id)
    if at is None:
        return None
    return at - seconds, at + seconds


def cut_metadata(files: Iterable[Path]) -> Mapping[str, str]:
    """The metadata record of a cut: the names of the files it was cut from."""
    return {"cut_from": ", ".join(path.name for path in files)}


def cut_logs(
    files: list[Path], start: float, end: float, out: Path, reports: list[ReadReport]
) -> int:
    """Write what ``files`` hold in ``[start, end]`` into a new, complete flight log ``out``;
    returns the number of messages. Damage met in ``files`` is added to ``reports`` (one
    report a file). Raises ``OSError`` when ``out`` cannot be written."""
    items = within(read_logs(files, reports), start, end)
    return write_log(out, items, cut_metadata(files))
