"""``roadgate bench all``'s report: ``results.json`` (the machine and every benchmark's record
or error), the markdown table and the plots it links.

Without ``--out`` the table is ``docs/benchmarks.md`` with ``results.json`` and the plots in
``docs/benchmarks/``; with ``--out DIR`` all of them are in ``DIR`` (``DIR/benchmarks.md``).
Both paths are relative to the working directory: run it from the repository's root.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from firmware_py.benchmarks.suite import Outcome
from firmware_py.benchmarks.suite_rows import Row, error_row, rows_for
from firmware_py.errors import FirmwareError

DOCS = Path("docs")
MARKDOWN = "benchmarks.md"
RESULTS = "results.json"


@dataclass(frozen=True)
class Outputs:
    """Where the table (``markdown``) and the records and plots (``directory``) go."""

    markdown: Path
    directory: Path

    @classmethod
    def at(cls, out: Path | None) -> Outputs:
        """``docs/benchmarks.md`` and ``docs/benchmarks/`` without ``out``; else ``out``."""
        if out is None:
            return cls(DOCS / MARKDOWN, DOCS / MARKDOWN.removesuffix(".md"))
        return cls(out / MARKDOWN, out)


def results_json(
    outcomes: Sequence[Outcome],
    machine: Mapping[str, Any],
    *,
    date: str,
    quick: bool,
    seconds: float,
    load: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """The ``results.json`` document: ``date`` (ISO 8601), ``quick``, ``seconds`` (the whole
    run), ``load`` (the 1-minute load average at its start and end: what else ran),
    ``machine`` and, per benchmark, ``name``, ``seconds``, ``error`` and ``record``."""
    return {
        "date": date,
        "quick": quick,
        "seconds": round(seconds, 1),
        "load": None if load is None else [round(value, 2) for value in load],
        "machine": dict(machine),
        "benchmarks": [
            {
                "name": outcome.name,
                "seconds": round(outcome.seconds, 1),
                "error": outcome.error,
                "record": None if outcome.measured is None else outcome.measured.record,
            }
            for outcome in outcomes
        ],
    }


def rows_of(results: Mapping[str, Any]) -> list[Row]:
    """Every row of the ``results.json`` document ``results``: a failed benchmark, or one
    whose record lacks a figure, gives one row with its error."""
    versions = results["machine"].get("versions", {})
    rows: list[Row] = []
    for benchmark in results["benchmarks"]:
        name = benchmark["name"]
        if benchmark["error"] is not None:
            rows.append(error_row(name, benchmark["error"]))
            continue
        try:
            rows += rows_for(name, benchmark["record"], versions)
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            problem = f"its record cannot be read: {type(err).__name__} {err}"
            rows.append(error_row(name, problem))
    return rows


def failed(rows: Sequence[Row]) -> list[str]:
    """The benchmarks with an error row."""
    return [row.benchmark for row in rows if row.error is not None]


def markdown(results: Mapping[str, Any], rows: Sequence[Row], images: Mapping[str, str]) -> str:
    """The table of ``rows`` with the run and the machine of ``results``, and ``images`` (alt
    text to a path relative to the markdown file) below it."""
    machine = results["machine"]
    versions: Mapping[str, str] = machine.get("versions", {})
    minutes, seconds = divmod(round(float(results["seconds"])), 60)
    quick = (
        " **Quick run** (`--quick`): small sizes, a check that everything runs; do not quote."
        if results["quick"]
        else ""
    )
    lines = [
        "# Benchmarks",
        "",
        f"Measured by `roadgate bench all` on {results['date']}, every benchmark in one run "
        f"of {minutes} min {seconds} s on the machine below.{quick}",
        "",
        "Each row compares ours with a peer library measured in the same run on the same "
        "machine. **ratio** is how many times better ours is (above 1 ours wins): ours / peer "
        "for rates, peer / ours for times, CPU and errors. Absolute figures depend on the "
        "machine and on what else ran on it: quote the ratios.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        f"| CPU | {_cell(machine.get('cpu'))}, {machine.get('cores')} cores |",
        f"| memory | {machine.get('ram_gib')} GiB |",
        f"| kernel | {_cell(machine.get('kernel'))} |",
        f"| OS | {_cell(machine.get('os'))} |",
        f"| Python | {_cell(machine.get('python'))} |",
        "| libraries | "
        + ", ".join(f"{name} {v}" for name, v in versions.items() if name != "mosquitto")
        + " |",
        f"| broker | Mosquitto {versions.get('mosquitto', 'unknown')} |",
        *_load_line(results.get("load")),
        "",
        "## Results",
        "",
        "| benchmark | stage | ours | peer | peer library | ratio | unit | goal | result |",
        "|---|---|--:|--:|---|--:|---|---|---|",
    ]
    lines += [_row_line(row) for row in rows]
    took = ", ".join(f"{b['name']} {float(b['seconds']):.0f} s" for b in results["benchmarks"])
    lines += ["", f"Time per benchmark: {took or 'none run'}."]
    lines += [
        "",
        "Where the time goes in each stage, before and after what was changed for it: "
        "[profiles.md](profiles.md) (written by hand; this file is written by `bench all`).",
    ]
    errors = [row for row in rows if row.error is not None]
    if errors:
        lines += ["", f"Failed: {', '.join(row.benchmark for row in errors)} (see the table)."]
    if images:
        lines += ["", "## Plots", ""]
        lines += [f"![{alt}]({path})\n" for alt, path in images.items()]
    return "\n".join(lines).rstrip() + "\n"


def write_report(
    results: Mapping[str, Any],
    rows: Sequence[Row],
    samples: Mapping[str, Sequence[float]],
    outputs: Outputs,
) -> list[Path]:
    """Write ``results.json``, the plots and the markdown table; returns the files written.

    Raises ``FirmwareError`` when a file cannot be written.
    """
    from firmware_py.benchmarks.suite_plots import plot_latency, plot_ratios, plot_throughput

    directory = outputs.directory
    make_directory(directory)
    make_directory(outputs.markdown.parent)
    written = [directory / RESULTS]
    document = {**results, "rows": [row.as_json() for row in rows]}
    _write(written[0], json.dumps(document, indent=1, allow_nan=True) + "\n")
    where = f"{results['machine'].get('cpu')}, {results['machine'].get('cores')} cores"
    records = {b["name"]: b["record"] for b in results["benchmarks"] if b.get("record") is not None}
    plots: list[tuple[str, str, Callable[[Path], bool]]] = [
        (
            "ratios.png",
            "how many times better ours is than each peer, per stage",
            lambda path: plot_ratios(rows, path, f"ours vs each peer, same run ({where})"),
        ),
        (
            "throughput.png",
            "rates of ours and of the peer, per stage",
            lambda path: plot_throughput(rows, path, f"throughput per stage ({where})"),
        ),
        (
            "latency.png",
            "latency distributions: uplink and bridge",
            lambda path: plot_latency(samples, records, path, f"latency ({where})"),
        ),
    ]
    images: dict[str, str] = {}
    for name, alt, draw in plots:
        path = directory / name
        if draw(path):
            written.append(path)
            images[alt] = _relative(path, outputs.markdown.parent)
    tracks = directory / "fusion-tracks.png"
    if "fusion" in records and tracks.exists():
        images["the smallest fusion crowd: truth, detections, both trackers' tracks"] = _relative(
            tracks, outputs.markdown.parent
        )
        written.append(tracks)
    _write(outputs.markdown, markdown(results, rows, images))
    written.append(outputs.markdown)
    return written


def _load_line(load: Sequence[float] | None) -> list[str]:
    if not load:
        return []
    start, end = load
    return [f"| load average (1 min), start / end of the run | {start:.2f} / {end:.2f} |"]


def _row_line(row: Row) -> str:
    if row.error is not None:
        return (
            f"| {row.benchmark} | {_cell(row.stage)} | | | | | | | **failed**: {_cell(row.error)} |"
        )
    result = "" if row.met is None else "met" if row.met else "**not met**"
    cells = [
        row.benchmark,
        _cell(row.stage),
        _number(row.ours),
        _number(row.peer),
        _cell(row.peer_name or ""),
        "" if row.ratio is None else _times(row.ratio),
        row.unit,
        _cell(row.goal or ""),
        result,
    ]
    return "|" + "|".join(f" {cell} " if cell else " " for cell in cells) + "|"


def _cell(text: object) -> str:
    """``text`` safe in a table cell: no newline, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _number(value: float | None) -> str:
    if value is None:
        return ""
    if value != value:  # NaN: a figure the run could not take
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _times(ratio: float) -> str:
    if ratio >= 100:
        return f"{ratio:,.0f}x"
    return f"{ratio:.3g}x"


def _relative(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path, start)).as_posix()


def make_directory(directory: Path) -> None:
    """Create ``directory`` and its parents; raises ``FirmwareError`` when it cannot."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise FirmwareError(f"cannot create {directory}: {err.strerror or err}") from err


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text)
    except OSError as err:
        raise FirmwareError(f"cannot write {path}: {err.strerror or err}") from err
