"""Decoding for ``roadgate decode``: a candump log with a DBC, like ``cantools decode -s``.

Plain output is cantools' single-line format: the input line, then `` :: `` and the message,
``(1593440133.123456) can0 123#... :: MESSAGE(SIGNAL: value unit, ...)``. A frame that does
not decode keeps cantools' explanation (``Unknown frame id 1546 (0x60a)``, ``Wrong data size:
3 instead of 8 bytes``); a line that is not a frame is printed as it is. With ``--json`` each
decoded frame is one JSON object ``{"t", "id", "name", "signals"}`` and nothing else is
printed. Frames are decoded in batches with ``VectorDecoder``; cantools only formats values.
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np
import numpy.typing as npt
from cantools.database.can import Database, Message
from cantools.database.can.signal import Signal
from cantools.database.errors import DecodeError as CantoolsDecodeError

from firmware_py.cli.text_input import (
    line_batches,
    open_input,
)
from firmware_py.errors import FirmwareError
from protocols.candump import CandumpFrames, parse_candump
from protocols.dbc import DecodedMessage, VectorDecoder, load_dbc
from protocols.errors import ProtocolError

_log = logging.getLogger(__name__)

Value = int | float | str | None


@dataclass(frozen=True)
class DecodeOptions:
    """What ``roadgate decode`` was asked to do."""

    dbc: Path
    encoding: str | None = None
    as_json: bool = False
    decode_choices: bool = True
    """Show a value table's name instead of the number (cantools' default)."""


@dataclass
class DecodeSummary:
    """Counts of one run: lines read, frames among them, frames decoded, rejects by reason.

    ``rejects`` merges the candump parser's (``malformed``, ``bad_length``: a length no CAN or
    CAN FD frame has, ``error_frame``) and the decoder's (``unknown_id``, ``short_frame``,
    ``not_data``, ``decode_error``) reasons.
    """

    lines: int = 0
    frames: int = 0
    decoded: int = 0
    rejects: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class _SignalView:
    """How cantools would show one signal's physical value."""

    name: str
    unit: str | None
    integral: bool  # cantools returns an int (integer raw value, integer scale and offset)
    multiplexed: bool  # NaN means "absent from this frame" (another multiplexer value)
    has_choices: bool

    def value(self, physical: float, choice: str | None) -> Value:
        if choice is not None:
            return choice
        if self.integral and math.isfinite(physical):
            return int(physical)
        return physical

    def text(self, value: Value) -> str:
        if self.unit is None or isinstance(value, str):
            return f"{self.name}: {value}"
        return f"{self.name}: {value} {self.unit}"


class CandumpDecoder:
    """Decode batches of candump lines into output lines, keeping the input order."""

    def __init__(self, db: Database, *, as_json: bool = False, decode_choices: bool = True) -> None:
        self._decoder = VectorDecoder(db)
        self._as_json = as_json
        self._decode_choices = decode_choices
        self._messages: dict[tuple[int, bool], Message] = {
            (int(m.frame_id), bool(m.is_extended_frame)): m for m in db.messages
        }
        self._views: dict[str, tuple[_SignalView, ...]] = {
            m.name: tuple(self._view(m, s) for s in m.signals) for m in db.messages
        }
        self.summary = DecodeSummary()

    def feed(self, lines: list[str]) -> list[str]:
        """Decode one batch of lines (without line ends); return the lines to print."""
        frames = parse_candump(lines)
        self.summary.lines += len(lines)
        self.summary.frames += len(frames)
        self.summary.rejects.update(frames.rejects)
        data_rows = np.flatnonzero(~frames.is_remote)
        self.summary.rejects["not_data"] += len(frames) - int(data_rows.shape[0])
        before = Counter(self._decoder.rejects)
        decoded = self._decoder.decode(
            frames.arbitration_id[data_rows],
            frames.data[data_rows],
            frames.dlc[data_rows],
            frames.timestamp[data_rows],
            frames.is_extended[data_rows],
        )
        self.summary.rejects.update(self._decoder.rejects - before)
        rendered: dict[int, str] = {}
        for name, message in decoded.items():
            rows = data_rows[message.index]
            self.summary.decoded += int(rows.shape[0])
            self._render(name, message, frames, rows, lines, rendered)
        if self._as_json:
            return [rendered[i] for i in sorted(rendered)]
        notes = self._undecoded_notes(frames, rendered)
        return [
            rendered[i] if i in rendered else lines[i] + notes.get(i, "") for i in range(len(lines))
        ]

    def _view(self, message: Message, signal: Signal) -> _SignalView:
        return _SignalView(
            name=signal.name,
            unit=signal.unit,
            integral=_integral(signal),
            multiplexed=bool(signal.multiplexer_ids),
            has_choices=bool(self._decoder.choices(message.name, signal.name)),
        )

    def _render(
        self,
        name: str,
        decoded: DecodedMessage,
        frames: CandumpFrames,
        rows: npt.NDArray[np.intp],
        lines: list[str],
        rendered: dict[int, str],
    ) -> None:
        columns: list[tuple[_SignalView, list[float], list[str | None]]] = []
        for view in self._views[name]:
            array = decoded.signals[view.name]
            if self._decode_choices and view.has_choices:
                choices = self._decoder.choice_names(name, view.name, array).tolist()
            else:
                choices = [None] * array.shape[0]
            columns.append((view, array.tolist(), choices))
        times = decoded.timestamp.tolist()
        ids = frames.arbitration_id[rows].tolist()
        for pos, line in enumerate(frames.line[rows].tolist()):
            present = [
                (view, view.value(values[pos], choices[pos]))
                for view, values, choices in columns
                # cantools leaves out a signal of another multiplexer value
                if not (view.multiplexed and math.isnan(values[pos]))
            ]
            if self._as_json:
                record: dict[str, object] = {
                    "t": _json_value(times[pos]),
                    "id": ids[pos],
                    "name": name,
                    "signals": {view.name: _json_value(value) for view, value in present},
                }
                rendered[line] = json.dumps(record, allow_nan=False)
            else:
                body = ", ".join(view.text(value) for view, value in present)
                rendered[line] = f"{lines[line]} :: {name}({body})"

    def _undecoded_notes(
        self, frames: CandumpFrames, rendered: Mapping[int, str]
    ) -> dict[int, str]:
        """cantools' explanation for each data frame that was not decoded."""
        notes: dict[int, str] = {}
        for row in np.flatnonzero(~frames.is_remote).tolist():
            line = int(frames.line[row])
            if line in rendered:
                continue
            frame_id = int(frames.arbitration_id[row])
            message = self._messages.get((frame_id, bool(frames.is_extended[row])))
            dlc = int(frames.dlc[row])
            if message is None:
                notes[line] = f" :: Unknown frame id {frame_id} (0x{frame_id:x})"
            elif dlc < message.length:
                notes[line] = f" :: Wrong data size: {dlc} instead of {message.length} bytes"
            else:
                notes[line] = f" :: {_cantools_error(message, frames.data[row, :dlc].tobytes())}"
        return notes


def run_decode(options: DecodeOptions, source: str, out: TextIO) -> DecodeSummary:
    """Decode the candump log ``source`` (a path or ``-``) and write the result to ``out``.

    Returns the counts of the run. Raises ``FirmwareError`` when the DBC or the log cannot be
    read.
    """
    try:
        loaded = load_dbc(options.dbc, encoding=options.encoding)
    except (ProtocolError, ValueError) as err:
        raise FirmwareError(str(err)) from err
    for relaxation in loaded.relaxations:
        _log.warning("%s loaded in relaxed mode: %s", options.dbc, relaxation)
    decoder = CandumpDecoder(
        loaded.database, as_json=options.as_json, decode_choices=options.decode_choices
    )
    with open_input(source) as stream:
        for batch in line_batches(stream):
            text = [raw.decode("utf-8", "replace").rstrip("\r") for raw in batch]
            output = decoder.feed(text)
            if output:
                out.write("\n".join(output) + "\n")
                out.flush()
    return decoder.summary


def _integral(signal: Signal) -> bool:
    # cantools' BaseConversion.factory: an integer raw value with an integer scale and offset
    # stays an int (IdentityConversion, LinearIntegerConversion).
    return (
        not signal.is_float
        and float(signal.scale).is_integer()
        and float(signal.offset).is_integer()
    )


def _json_value(value: Value) -> Value:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN or infinity
    return value


def _cantools_error(message: Message, data: bytes) -> str:
    try:
        message.decode_simple(data, decode_choices=False, allow_truncated=False)
    except (CantoolsDecodeError, ValueError) as err:
        return str(err)
    return "Not decoded"
