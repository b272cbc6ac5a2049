"""``roadgate benchmark fusion --plot``: one PNG with a panel per tracker, side by side.

Each panel draws the true paths as grey lines, every detection as a small dot and the
tracker's confirmed tracks as lines coloured by track id, on the same axes, so a reader sees
at a glance where a tracker lost, swapped or invented an object.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from edge.tracking.track_set import FloatArray
from firmware_py.benchmarks.fusion_runs import Objects, Scan, TrackerRun
from firmware_py.errors import FirmwareError


@dataclass(frozen=True, slots=True)
class Panel:
    """One tracker's run and the caption under its name (its scores)."""

    name: str
    run: TrackerRun
    caption: str


def plot_runs(
    path: Path,
    *,
    title: str,
    truth: Sequence[Objects],
    scans: Sequence[Scan],
    panels: Sequence[Panel],
) -> None:
    """Draw ``truth`` (one entry per cycle), the detections of ``scans`` and each panel's
    tracks, over the cycles the panel's run covers, to the PNG ``path``.

    Raises:
        FirmwareError: the file cannot be written.
    """
    figure = Figure(figsize=(7.0 * len(panels), 8.0), layout="constrained")
    FigureCanvasAgg(figure)  # no pyplot: no global state, no display needed
    figure.suptitle(title)
    axes = figure.subplots(1, len(panels), sharex=True, sharey=True, squeeze=False)[0]
    for ax, panel in zip(axes, panels, strict=True):
        cycles = len(panel.run.estimates)
        for line in _paths(truth[:cycles]).values():
            ax.plot(line[:, 0], line[:, 1], color="0.6", linewidth=3.0, alpha=0.5, zorder=1)
        dots = [scan.positions for scan in scans[:cycles] if len(scan.positions)]
        if dots:
            xy = np.concatenate(dots)
            ax.scatter(xy[:, 0], xy[:, 1], s=1.5, color="black", alpha=0.35, zorder=2)
        for track_id, line in _paths(panel.run.estimates).items():
            ax.plot(
                line[:, 0],
                line[:, 1],
                color=_colour(track_id),
                linewidth=1.2,
                zorder=3,
            )
        ax.set_title(f"{panel.name}\n{panel.caption}")
        ax.set_xlabel("east (m)")
        ax.set_aspect("equal", adjustable="box")
        ax.grid(True, linewidth=0.3)
    axes[0].set_ylabel("north (m)")
    # The truth's area: clutter and tracks on it far out in the long beam would shrink it.
    seen = [frame.positions for frame in truth if len(frame.positions)]
    if seen:
        xy = np.concatenate(seen)
        low, high = xy.min(axis=0) - _MARGIN_M, xy.max(axis=0) + _MARGIN_M
        axes[0].set_xlim(low[0], high[0])
        axes[0].set_ylim(low[1], high[1])
    try:
        figure.savefig(path, dpi=110, bbox_inches="tight")
    except OSError as err:
        raise FirmwareError(f"cannot write {path}: {err.strerror or err}") from err


def _paths(frames: Sequence[Objects]) -> dict[int, FloatArray]:
    """Each id's positions over the frames, in order (an id absent for a while is joined)."""
    points: dict[int, list[FloatArray]] = defaultdict(list)
    for frame in frames:
        for object_id, position in zip(frame.ids.tolist(), frame.positions, strict=True):
            points[int(object_id)].append(position)
    return {object_id: np.array(rows) for object_id, rows in points.items()}


_MARGIN_M = 5.0

_PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#bcbd22", "#17becf", "#393b79",
)  # fmt: skip


def _colour(track_id: int) -> str:
    """A colour per id; neighbouring ids (born together) get different ones."""
    return _PALETTE[track_id % len(_PALETTE)]
