"""The work of ``roadgate v2x decode`` and ``roadgate v2x encode``.

Decode prints each frame as one JSON object (``--json``: ``{"index", "where", "kind",
"edition", "layer", "offset", "frame"}``, ``frame`` the JER value of ``protocols.v2x.frame_json``)
or one readable line. Encode reads those objects back (or bare ``frame`` values) and writes the
UPER frames. A bad frame or line is reported on standard error with its index and counted by
reason; the run goes on.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, BinaryIO, TextIO

from firmware_py.cli.text_input import line_batches, open_input
from firmware_py.cli.v2x_captures import CaptureFrame, Skipped, binary_frames, hex_frames
from protocols.errors import V2xError
from protocols.v2x import decode_message_frame
from protocols.v2x.frame_json import EDITION, decode_json, encode_json
from protocols.v2x.framing import Unwrapped, unwrap
from protocols.v2x.j2735 import J2735Codec

J2735_LINE = 200
"""The longest readable line of a J2735 frame (its JSON is cut there)."""


@dataclass
class ToolSummary:
    """Counts of one run: frames seen, frames done, failures and skipped packets by reason."""

    frames: int = 0
    done: int = 0
    rejects: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)

    @property
    def status(self) -> int:
        """0 when at least one frame was done and none failed, else 1."""
        return 0 if self.done and not sum(self.rejects.values()) else 1


Unwrap = Callable[[bytes], Unwrapped]
"""What finds the ``MessageFrame`` in a frame's bytes: ``protocols.v2x.framing.unwrap``."""


def run_decode(
    source: str,
    out: TextIO,
    err: TextIO,
    *,
    hex_lines: bool,
    as_json: bool,
    udp_port: int | None = None,
    unwrapper: Unwrap = unwrap,
    j2735: J2735Codec | None = None,
) -> ToolSummary:
    """Decode every frame of the capture ``source`` (a path or ``-``) onto ``out``; each bad
    frame gets a line on ``err``. Raises ``FirmwareError`` when the input cannot be read.

    ``j2735``: the frames are SAE J2735 ones of the user's modules, taken as they are (the
    headers and prefixes ``unwrapper`` finds are T/CSAE 53 frames' only)."""
    if j2735 is not None:
        unwrapper = _as_is
    summary = ToolSummary()
    skipped = Skipped()
    with open_input(source) as stream:
        frames: Iterable[CaptureFrame] = (
            hex_frames(stream) if hex_lines else binary_frames(stream, skipped, udp_port)
        )
        for index, frame in enumerate(frames):
            summary.frames += 1
            try:
                line = _decode_one(index, frame, unwrapper, as_json, j2735)
            except V2xError as error:
                _reject(summary, err, index, frame.where, error.reason, str(error))
                continue
            summary.done += 1
            out.write(line + "\n")
            out.flush()
    summary.skipped.update(skipped.counts)
    return summary


def _as_is(data: bytes) -> Unwrapped:
    return Unwrapped(data, "none", 0)


def _decode_one(
    index: int, frame: CaptureFrame, unwrapper: Unwrap, as_json: bool, j2735: J2735Codec | None
) -> str:
    if frame.data is None:
        raise V2xError("not a line of hex digits", reason=frame.reject or "malformed")
    try:
        found = unwrapper(frame.data)  # raises V2xDecodeError, a V2xError
    except (ValueError, IndexError) as err:  # a bug of the heuristics: the frame fails alone
        raise V2xError(f"framing: {err}", reason="framing") from err
    if j2735 is not None:
        return _j2735_line(index, frame.where, found.payload, j2735, as_json)
    if as_json:
        kind, value = decode_json(found.payload)
        record = {
            "index": index,
            "where": frame.where,
            "kind": kind,
            "edition": EDITION,
            "layer": found.layer,
            "offset": found.offset,
            "frame": value,
        }
        return json.dumps(record, allow_nan=False, separators=(",", ":"))
    layer = f" [{found.layer} +{found.offset}]" if found.layer != "none" else ""
    kind, fields = decode_message_frame(found.payload)
    return f"#{index} {kind}{layer} {summary_text(kind, fields)}"


def _j2735_line(index: int, where: str, data: bytes, codec: J2735Codec, as_json: bool) -> str:
    """A J2735 frame's record (``edition`` ``J2735``, ``kind`` the message type) or line:
    the type, its ``messageId`` and the message's JSON form, cut at ``J2735_LINE`` chars."""
    kind, value = codec.decode_json(data)
    if as_json:
        record = {"index": index, "where": where, "kind": kind, "edition": "J2735"}
        record |= {"layer": "none", "offset": 0, "frame": value}
        return json.dumps(record, allow_nan=False, separators=(",", ":"))
    text = json.dumps(value["value"], allow_nan=False, separators=(",", ":"))
    cut = text if len(text) <= J2735_LINE else text[: J2735_LINE - 3] + "..."
    return f"#{index} {kind} messageId={value['messageId']} {cut}"


def summary_text(kind: str, fields: dict[str, Any]) -> str:
    """The readable part of one frame's line (``fields`` as ``decode_message_frame`` gives)."""
    if kind == "bsm":
        return (
            f"id={fields['station_id']:016x} lat={_num(fields['latitude_deg'], 7)} "
            f"lon={_num(fields['longitude_deg'], 7)} speed={_num(fields['speed_mps'], 2)} m/s "
            f"heading={math.degrees(fields['heading_rad']):.2f} deg msgCnt={fields['msg_cnt']}"
        )
    if kind == "spat":
        parts = []
        for item in fields["intersections"]:
            phases = " ".join(
                f"{p['signal_group']}:{p['light']}"
                + ("" if p["likely_end_s"] is None else f"({p['likely_end_s']:.1f}s)")
                for p in item["phases"]
            )
            parts.append(f"intersection={item['intersection_id']} phases {phases}")
        return "; ".join(parts) + f" msgCnt={fields['msg_cnt']}"
    if kind == "map":
        nodes = fields["nodes"]
        links = sum(len(node.get("inLinks", ())) for node in nodes)
        return f"nodes={len(nodes)} links={links} msgCnt={fields['msgCnt']}"
    if kind == "rsm":
        return (
            f"id={fields['id'].hex()} participants={len(fields['participants'])} "
            f"msgCnt={fields['msgCnt']}"
        )
    return (  # rsi
        f"id={fields['id'].hex()} events={len(fields.get('rtes', ()))} "
        f"signs={len(fields.get('rtss', ()))} msgCnt={fields['msgCnt']}"
    )


def _num(value: float | None, digits: int) -> str:
    return "unavailable" if value is None else f"{value:.{digits}f}"


def run_encode(
    source: str, out: BinaryIO, err: TextIO, *, hex_lines: bool, j2735: J2735Codec | None = None
) -> ToolSummary:
    """Encode the JSON lines of ``source`` (``decode --json`` records or bare frame values)
    onto ``out``: UPER bytes, or one hex line per frame. Blank and ``#`` lines are skipped.
    ``j2735``: the frames are ``{"messageId", "value"}`` of the user's J2735 modules."""
    summary = ToolSummary()
    with open_input(source) as stream:
        number = 0
        for batch in line_batches(stream):
            for raw in batch:
                number += 1
                text = raw.decode("utf-8", "replace").strip()
                if not text or text.startswith("#"):
                    continue
                index = summary.frames
                summary.frames += 1
                try:
                    data = _encode_one(text, j2735)
                except V2xError as error:
                    _reject(summary, err, index, f"line {number}", error.reason, str(error))
                    continue
                summary.done += 1
                out.write(data.hex().encode() + b"\n" if hex_lines else data)
                out.flush()
    return summary


def _encode_one(text: str, j2735: J2735Codec | None) -> bytes:
    try:
        record = json.loads(text)
    except ValueError as err:  # JSONDecodeError, and bad UTF-8 surrogates
        raise V2xError(f"not JSON: {err}", reason="bad_json") from err
    if isinstance(record, dict) and "frame" in record:
        record = record["frame"]
    return encode_json(record) if j2735 is None else j2735.encode_json(record)


def _reject(
    summary: ToolSummary, err: TextIO, index: int, where: str, reason: str, text: str
) -> None:
    summary.rejects[reason] += 1
    err.write(f"roadgate v2x: frame {index} ({where}): {reason}: {text}\n")
