"""``roadgate bench all``'s plots, PNGs drawn with matplotlib (no pyplot: no global state, no
display needed).

* ``ratios.png``: every stage with a peer, how many times better ours is (log scale), the
  goal marked where there is one;
* ``throughput.png``: the stages measured as a rate, ours and the peer side by side;
* ``latency.png``: the uplink's submit-to-subscriber latencies (each message, as a cumulative
  distribution) and the bridge's live publish-to-committed percentiles.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from firmware_py.benchmarks.suite_rows import UPLINK_GOAL_P999_MS, Row
from firmware_py.errors import FirmwareError

RATE_UNITS = ("frames/s", "msg/s", "msg/CPU s")
LABEL_CHARS = 70
_MET, _NOT_MET, _NO_GOAL = "#2ca02c", "#d62728", "#7f7f7f"
_OURS, _PEER = "#1f77b4", "#ff7f0e"


def plot_ratios(rows: Sequence[Row], path: Path, title: str) -> bool:
    """Draw the ratio of every row that has one to ``path``; False (nothing written) when no
    row has. Raises ``FirmwareError`` when the file cannot be written."""
    shown = [row for row in rows if row.ratio is not None and row.ratio > 0]
    if not shown:
        return False
    figure, ax = _figure(len(shown), title)
    y = np.arange(len(shown))
    ratios = [float(row.ratio or 0.0) for row in shown]
    colours = [_NO_GOAL if row.met is None else _MET if row.met else _NOT_MET for row in shown]
    ax.barh(y, ratios, color=colours, height=0.6)
    for i, row in enumerate(shown):
        ax.annotate(
            _times(ratios[i]), (ratios[i], i), xytext=(3, 0), textcoords="offset points",
            va="center", fontsize=8,
        )  # fmt: skip
        if row.goal_ratio is not None:
            ax.plot([row.goal_ratio] * 2, [i - 0.4, i + 0.4], color="black", linewidth=2)
    ax.axvline(1.0, color="black", linewidth=0.8, linestyle="--")
    ax.set_xscale("log")
    ax.set_yticks(y, [_label(row) for row in shown], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(
        "times better than the peer, same run (log scale; above 1 ours wins)\n"
        "black tick: the goal; green: met, red: not met, grey: no goal"
    )
    low, high = min(ratios), max(ratios)
    ax.set_xlim(min(low, 1.0) / 2, max(high, 1.0) * 4)
    _save(figure, path)
    return True


def plot_throughput(rows: Sequence[Row], path: Path, title: str) -> bool:
    """Draw ours and the peer of every rate row (``RATE_UNITS``) with both, side by side, to
    ``path``; False (nothing written) when there is none. Raises ``FirmwareError`` when the
    file cannot be written."""
    shown = [
        row
        for row in rows
        if row.unit in RATE_UNITS and (row.ours or 0) > 0 and (row.peer or 0) > 0
    ]
    if not shown:
        return False
    figure, ax = _figure(len(shown), title)
    y = np.arange(len(shown))
    ours = [float(row.ours or 0.0) for row in shown]
    peer = [float(row.peer or 0.0) for row in shown]
    ax.barh(y - 0.2, ours, height=0.4, color=_OURS, label="ours")
    ax.barh(y + 0.2, peer, height=0.4, color=_PEER, label="peer")
    for i, row in enumerate(shown):
        for value, offset in ((ours[i], -0.2), (peer[i], 0.2)):
            ax.annotate(
                f"{_number(value)} {row.unit}", (value, i + offset), xytext=(3, 0),
                textcoords="offset points", va="center", fontsize=7,
            )  # fmt: skip
    ax.set_xscale("log")
    ax.set_yticks(y, [f"{_label(row)}\nvs {row.peer_name}" for row in shown], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(min(ours + peer) / 2, max(ours + peer) * 20)
    ax.set_xlabel("rate on this machine (log scale)")
    ax.legend(loc="lower right")
    _save(figure, path)
    return True


def plot_latency(
    samples: Mapping[str, Sequence[float]],
    records: Mapping[str, Mapping[str, Any]],
    path: Path,
    title: str,
) -> bool:
    """Draw the uplink's latency ``samples["uplink"]`` (ms) as a cumulative distribution and
    the bridge's live percentiles (``records["bridge"]["live"]``) to ``path``; False (nothing
    written) when there is neither. Raises ``FirmwareError`` when the file cannot be written."""
    uplink = [v for v in samples.get("uplink", ()) if math.isfinite(v)]
    live = list(records.get("bridge", {}).get("live", []))
    panels = int(bool(uplink)) + int(bool(live))
    if not panels:
        return False
    figure = Figure(figsize=(6.5 * panels, 4.5), layout="constrained")
    FigureCanvasAgg(figure)
    figure.suptitle(title)
    axes = list(figure.subplots(1, panels, squeeze=False)[0])
    if uplink:
        _uplink_panel(axes.pop(0), uplink, records.get("uplink", {}))
    if live:
        _bridge_panel(axes.pop(0), live)
    _save(figure, path)
    return True


def _uplink_panel(ax: Axes, latencies: Sequence[float], record: Mapping[str, Any]) -> None:
    ordered = np.sort(np.asarray(latencies, dtype=float))
    share = np.arange(1, len(ordered) + 1) / len(ordered)
    ax.plot(ordered, share, color=_OURS)
    # In the legend, not next to the lines: p99 and p99.9 are often too close for labels.
    for q, name, style in ((0.5, "p50", "-."), (0.99, "p99", "--"), (0.999, "p99.9", ":")):
        value = float(ordered[min(len(ordered) - 1, int(q * len(ordered)))])
        ax.axvline(
            value, color="0.4", linewidth=1.0, linestyle=style, label=f"{name} {value:.2f} ms"
        )
    ax.axvline(UPLINK_GOAL_P999_MS, color=_NOT_MET, linewidth=1.0, label="goal: p99.9 < 5 ms")
    ax.set_xscale("log")
    rate = record.get("latency_rate")
    ax.set_title(
        f"uplink, submit to subscriber{f' at {rate:,} msg/s' if rate else ''}, "
        f"{len(ordered):,} messages",
        fontsize=10,
    )
    ax.set_xlabel("latency (ms, log scale)")
    ax.set_ylabel("share of messages at or below")
    ax.grid(True, linewidth=0.3)
    ax.legend(loc="lower right", fontsize=8)


def _bridge_panel(ax: Axes, live: Sequence[Mapping[str, Any]]) -> None:
    labels = [
        f"{run['workers']} worker(s)\n{float(run['offered_rate']):,.0f} msg/s offered"
        for run in live
    ]
    x = np.arange(len(live))
    for offset, key, colour in ((-0.2, "p50_ms", _OURS), (0.2, "p99_ms", _PEER)):
        values = [float(run[key]) for run in live]
        ax.bar(x + offset, values, width=0.4, color=colour, label=key.removesuffix("_ms"))
        for i, value in enumerate(values):
            ax.annotate(f"{value:,.1f}", (i + offset, value), xytext=(0, 2),
                        textcoords="offset points", ha="center", fontsize=8)  # fmt: skip
    ax.set_yscale("log")
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_ylabel("publish to committed (ms, log scale)")
    ax.set_title("bridge live runs: percentiles of every stored message", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(True, axis="y", linewidth=0.3)


def _figure(bars: int, title: str) -> tuple[Figure, Axes]:
    figure = Figure(figsize=(11.0, 1.6 + 0.42 * bars), layout="constrained")
    FigureCanvasAgg(figure)
    figure.suptitle(title)
    ax = figure.subplots()
    ax.grid(True, axis="x", linewidth=0.3)
    return figure, ax


def _save(figure: Figure, path: Path) -> None:
    try:
        figure.savefig(path, dpi=100)
    except OSError as err:
        raise FirmwareError(f"cannot write {path}: {err.strerror or err}") from err


def _label(row: Row) -> str:
    text = f"{row.benchmark}: {row.label or row.stage}"
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def _times(ratio: float) -> str:
    return f"{ratio:,.0f}x" if ratio >= 100 else f"{ratio:.3g}x"


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"
