"""What a recording holds: its span, each channel's counts and rate, and the gaps in it."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.recording.reader import CanItem, ReadReport, read_logs

MAX_GAPS_KEPT = 10
"""Gaps listed per channel (the longest); all are counted."""


@dataclass
class ChannelStats:
    """One channel: messages, frames (CAN; else equal to messages), first and last times, and
    the silences longer than the summary's gap threshold."""

    topic: str
    kind: str
    messages: int = 0
    frames: int = 0
    first: float = float("inf")
    last: float = float("-inf")
    gap_count: int = 0
    gaps: list[tuple[float, float]] = field(default_factory=list)
    """``(start, seconds)`` of the longest gaps, longest first."""

    @property
    def rate(self) -> float:
        """Frames (or messages) per second over the channel's own span."""
        span = self.last - self.first
        return self.frames / span if span > 0 else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "kind": self.kind,
            "messages": self.messages,
            "frames": self.frames,
            "first": self.first,
            "last": self.last,
            "rate_per_s": round(self.rate, 3),
            "gap_count": self.gap_count,
            "longest_gaps": [{"start": start, "seconds": length} for start, length in self.gaps],
        }


@dataclass
class LogSummary:
    """A recording (one or more files read in order)."""

    gap_s: float
    reports: list[ReadReport] = field(default_factory=list)
    channels: dict[str, ChannelStats] = field(default_factory=dict)

    @property
    def first(self) -> float | None:
        return min((c.first for c in self.channels.values()), default=None)

    @property
    def last(self) -> float | None:
        return max((c.last for c in self.channels.values()), default=None)

    @property
    def duration(self) -> float:
        first, last = self.first, self.last
        return last - first if first is not None and last is not None else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "files": [
                {
                    "path": str(report.path),
                    "bytes": report.size,
                    "messages": report.messages,
                    "complete": report.complete,
                    "skipped_bytes": report.skipped_bytes,
                    "skipped_chunks": report.skipped_chunks,
                    "skipped_messages": dict(report.skipped_messages),
                    "damage": report.damage,
                }
                for report in self.reports
            ],
            "first": self.first,
            "last": self.last,
            "duration_s": self.duration,
            "gap_threshold_s": self.gap_s,
            "channels": [stats.as_json() for stats in self.channels.values()],
        }


def summarize(paths: Iterable[Path], gap_s: float = 1.0) -> LogSummary:
    """Read ``paths`` in order and summarise them. Raises as ``LogReader`` does."""
    if not (math.isfinite(gap_s) and gap_s > 0):
        raise ValueError(f"gap_s must be finite and positive, got {gap_s}")
    summary = LogSummary(gap_s)
    for item in read_logs(paths, summary.reports):
        topic = item.channel.topic
        stats = summary.channels.get(topic)
        if stats is None:
            stats = summary.channels[topic] = ChannelStats(topic, item.channel.kind.value)
        first = last = item.timestamp
        count = 1
        if isinstance(item, CanItem):
            count = len(item.frames)
            if count:
                last = float(item.frames["timestamp"][-1])
        if stats.messages and first - stats.last > gap_s:
            _add_gap(stats, stats.last, first - stats.last)
        stats.messages += 1
        stats.frames += count
        stats.first = min(stats.first, first)
        stats.last = max(stats.last, last)
    summary.channels = dict(sorted(summary.channels.items()))
    return summary


def _add_gap(stats: ChannelStats, start: float, length: float) -> None:
    stats.gap_count += 1
    stats.gaps.append((start, length))
    stats.gaps.sort(key=lambda gap: -gap[1])
    del stats.gaps[MAX_GAPS_KEPT:]
