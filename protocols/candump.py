"""Parse candump text logs (can-utils) into columnar frame arrays.

Both formats candump writes are understood, line by line:

* the log format (``candump -l`` / ``-L``)::

      (1593440133.123456) can0 123#DEADBEEF
      (1593440133.123456) can0 12345678#R            remote request, 29-bit id
      (1593440133.123456) can0 123##1DEADBEEF        CAN FD, flags nibble 1 (BRS)

  with can-utils' ``.`` byte separators, ``R{len}`` remote frames, the ``_{dlc}`` suffix of
  classic frames with a raw DLC above 8, and the optional trailing ``R``/``T`` direction;
* the screen format (candump's default), optionally with a ``-ta``/``-td``/``-tz`` timestamp,
  ``-x`` direction columns and ``-a`` ASCII column::

        can0  123   [4]  DE AD BE EF
        can0  12345678   [8]  remote request
       (1593440133.123456)  can0  123  [12]  00 11 22 33 44 55 66 77 88 99 AA BB

  A classic length is printed ``[8]``, a CAN FD length always with two digits (``[08]``).

Identifiers of 3 hex digits are 11-bit, of 8 digits 29-bit (can-utils' rule). The ``-tA``
date-time timestamp is not understood (it is local time of an unknown zone). A CAN FD frame
has 0-8, 12, 16, 20, 24, 32, 48 or 64 bytes (ISO 11898-1): a line with another length
(``##1`` and 10 bytes, ``[13]``) or a classic frame of more than 8 is rejected as
``bad_length``; a timestamp too large for a float is ``malformed``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

# The frame layout's one home (a leaf module protocols may import): payload room, the CAN FD
# lengths, id ranges, and the kernel's error-frame flag, visible in an 8-digit log id.
from hal.can.frames import (
    CAN_ERR_FLAG,
    CLASSIC_MAX_DATA,
    FD_DATA_LENGTHS,
    MAX_DATA,
    MAX_EXTENDED_ID,
    MAX_STANDARD_ID,
)
from protocols.errors import DecodeError

__all__ = ["FD_DATA_LENGTHS", "MAX_DATA", "CandumpFrames", "parse_candump"]

_HEX = "0-9A-Fa-f"
_TIMESTAMP = r"\((?P<ts>[0-9]+\.[0-9]+)\)\s+"
_LOG_LINE = re.compile(
    rf"\s*(?:{_TIMESTAMP})?(?P<chan>[^\s#()]+)\s+"
    rf"(?P<id>[{_HEX}]{{8}}|[{_HEX}]{{3}})(?P<body>#\S*)(?:\s+[RT])?\s*",
    re.ASCII,
)
_SCREEN_LINE = re.compile(
    rf"\s*(?:{_TIMESTAMP})?(?P<chan>[^\s#()]+)\s+(?:[RT]X\s+[B-]\s+[E-]\s+)?"
    rf"(?P<id>[{_HEX}]{{8}}|[{_HEX}]{{3}})\s+"
    rf"(?:\[(?P<len>[0-9]{{1,2}})\]|\{{(?P<len8>[{_HEX}])\}})(?P<rest>.*)",
    re.ASCII,
)
_CLASSIC_BODY = re.compile(
    rf"#(?:(?P<rtr>R)(?P<rlen>[0-8])?|(?P<data>[{_HEX}.]*))(?:_(?P<len8>[{_HEX}]))?",
    re.ASCII,
)
_FD_BODY = re.compile(rf"##(?P<flags>[{_HEX}])(?P<data>[{_HEX}.]*)", re.ASCII)
# The common case (a classic data frame in the log format) in one match, for speed.
_FAST_LOG_LINE = re.compile(
    rf"\((?P<ts>[0-9]+\.[0-9]+)\) (?P<chan>[^\s#()]+) (?P<id>[{_HEX}]{{8}}|[{_HEX}]{{3}})"
    rf"#(?P<data>(?:[{_HEX}]{{2}}){{0,8}})\s*",
    re.ASCII,
)
_HEX_BYTE = re.compile(rf"[{_HEX}]{{2}}", re.ASCII)


@dataclass(frozen=True)
class CandumpFrames:
    """The frames of a candump text, one row per frame, in input order.

    ``timestamp`` is seconds as written in the log (NaN for a screen line without one);
    ``dlc`` is the payload length in bytes (0-64, not the raw DLC code), the payload is
    left-aligned in ``data`` and zero-padded. ``fd_flags`` is the CAN FD flags nibble of the
    log format (0x1 bit-rate switch, 0x2 error state indicator). ``channel`` indexes
    ``channels`` (the interface names, in order of appearance). ``line`` is each frame's
    0-based position in the input lines. ``rejects`` counts lines that are not frames, by
    reason: ``malformed``, ``bad_length`` (a length no frame of its kind has) or
    ``error_frame`` (a kernel error frame: not a bus message).
    Blank lines are skipped without being counted.
    """

    timestamp: npt.NDArray[np.float64]
    arbitration_id: npt.NDArray[np.uint32]
    is_extended: npt.NDArray[np.bool_]
    is_fd: npt.NDArray[np.bool_]
    is_remote: npt.NDArray[np.bool_]
    fd_flags: npt.NDArray[np.uint8]
    dlc: npt.NDArray[np.uint8]
    data: npt.NDArray[np.uint8]
    channel: npt.NDArray[np.uint16]
    line: npt.NDArray[np.int64]
    channels: tuple[str, ...] = ()
    rejects: Counter[str] = field(default_factory=Counter)

    def __len__(self) -> int:
        return int(self.arbitration_id.shape[0])


_Frame = tuple[float, str, int, bool, bool, bool, int, bytes, int]
"""timestamp, channel, id, extended, fd, remote, fd flags, payload, length in bytes."""


class _RejectedLineError(DecodeError):
    """A line that is not a frame; ``reason`` is the counter label (caught in ``parse_candump``:
    never leaves this module)."""

    def __init__(self, reason: str = "malformed") -> None:
        super().__init__(reason, reason=reason)


def parse_candump(lines: Iterable[str]) -> CandumpFrames:
    """Parse candump text lines (log or screen format, mixed freely).

    Takes an iterable of lines, with or without their line ends. Returns the frames as
    columnar arrays; a line that is not a frame is counted in ``rejects`` and skipped. Never
    raises on the content of a line.
    """
    rows: list[_Frame] = []
    line_of: list[int] = []
    rejects: Counter[str] = Counter()
    for number, text in enumerate(lines):
        if not text or text.isspace():
            continue
        try:
            rows.append(_parse_line(text))
        except _RejectedLineError as reject:
            rejects[reject.reason] += 1
            continue
        line_of.append(number)
    return _columns(rows, line_of, rejects)


def _columns(rows: list[_Frame], line_of: list[int], rejects: Counter[str]) -> CandumpFrames:
    n = len(rows)
    channels: dict[str, int] = {}
    channel_of = [channels.setdefault(row[1], len(channels)) for row in rows]
    data = np.zeros((n, MAX_DATA), dtype=np.uint8)
    if n:
        padded = b"".join([row[7].ljust(MAX_DATA, b"\0") for row in rows])
        data[:] = np.frombuffer(padded, dtype=np.uint8).reshape(n, MAX_DATA)
    return CandumpFrames(
        timestamp=np.array([row[0] for row in rows], dtype=np.float64),
        arbitration_id=np.array([row[2] for row in rows], dtype=np.uint32),
        is_extended=np.array([row[3] for row in rows], dtype=np.bool_),
        is_fd=np.array([row[4] for row in rows], dtype=np.bool_),
        is_remote=np.array([row[5] for row in rows], dtype=np.bool_),
        fd_flags=np.array([row[6] for row in rows], dtype=np.uint8),
        dlc=np.array([row[8] for row in rows], dtype=np.uint8),
        data=data,
        channel=np.array(channel_of, dtype=np.uint16),
        line=np.array(line_of, dtype=np.int64),
        channels=tuple(channels),
        rejects=rejects,
    )


def _parse_line(text: str) -> _Frame:
    match = _FAST_LOG_LINE.fullmatch(text)
    if match is not None:
        arbitration_id, is_extended = _identifier(match.group("id"))
        payload = bytes.fromhex(match.group("data"))
        stamp = float(match.group("ts"))
        if stamp == math.inf:  # hundreds of digits: not a time
            raise _RejectedLineError()
        return (
            stamp,
            match.group("chan"),
            arbitration_id,
            is_extended,
            False,
            False,
            0,
            payload,
            len(payload),
        )
    match = _LOG_LINE.fullmatch(text)
    if match is not None:
        return _log_frame(match)
    match = _SCREEN_LINE.fullmatch(text)
    if match is not None:
        return _screen_frame(match)
    raise _RejectedLineError()


def _identifier(digits: str) -> tuple[int, bool]:
    value = int(digits, 16)
    if len(digits) == 3:
        if value > MAX_STANDARD_ID:
            raise _RejectedLineError()
        return value, False
    if value & CAN_ERR_FLAG:
        raise _RejectedLineError("error_frame")
    if value > MAX_EXTENDED_ID:
        raise _RejectedLineError()
    return value, True


def _timestamp(match: re.Match[str]) -> float:
    """The line's timestamp; NaN when it has none. Rejects one too large for a float."""
    stamp = match.group("ts")
    if stamp is None:
        return math.nan
    value = float(stamp)
    if value == math.inf:  # hundreds of digits: not a time
        raise _RejectedLineError()
    return value


def _row(
    match: re.Match[str],
    arbitration_id: int,
    is_extended: bool,
    is_fd: bool,
    is_remote: bool,
    flags: int,
    payload: bytes,
    dlc: int,
) -> _Frame:
    """A frame row from a log or screen line: its time and channel from ``match``, the rest."""
    return (
        _timestamp(match),
        match.group("chan"),
        arbitration_id,
        is_extended,
        is_fd,
        is_remote,
        flags,
        payload,
        dlc,
    )


def _log_frame(match: re.Match[str]) -> _Frame:
    arbitration_id, is_extended = _identifier(match.group("id"))
    body = match.group("body")
    is_fd = body.startswith("##")
    fd_match = _FD_BODY.fullmatch(body) if is_fd else None
    classic = None if is_fd else _CLASSIC_BODY.fullmatch(body)
    is_remote, flags = False, 0
    if fd_match is not None:
        flags = int(fd_match.group("flags"), 16)
        payload = _hex_payload(fd_match.group("data"), MAX_DATA)
        dlc = len(payload)
        if dlc not in FD_DATA_LENGTHS:
            raise _RejectedLineError("bad_length")
    elif classic is not None:
        is_remote = classic.group("rtr") is not None
        if is_remote:
            payload, dlc = b"", int(classic.group("rlen") or "0")
        else:
            payload = _hex_payload(classic.group("data"), CLASSIC_MAX_DATA)
            dlc = len(payload)
        # The raw-DLC suffix (9..F) is only meaningful on a full 8-byte frame.
        if classic.group("len8") is not None and (dlc != 8 or int(classic.group("len8"), 16) < 9):
            raise _RejectedLineError()
    else:
        raise _RejectedLineError()
    return _row(match, arbitration_id, is_extended, is_fd, is_remote, flags, payload, dlc)


def _hex_payload(digits: str, limit: int) -> bytes:
    # can-utils allows a '.' between bytes, never inside one.
    parts = digits.split(".") if digits else []
    if any(len(part) == 0 or len(part) % 2 for part in parts):
        raise _RejectedLineError()
    payload = bytes.fromhex("".join(parts))
    if len(payload) > limit:
        raise _RejectedLineError("bad_length")
    return payload


def _screen_frame(match: re.Match[str]) -> _Frame:
    arbitration_id, is_extended = _identifier(match.group("id"))
    length_text = match.group("len")
    if length_text is None:  # "{F}": a classic 8-byte frame with a raw DLC above 8
        if int(match.group("len8"), 16) < 9:
            raise _RejectedLineError()
        length_text = "8"
    is_fd = len(length_text) == 2
    dlc = int(length_text)
    if dlc not in FD_DATA_LENGTHS or (not is_fd and dlc > CLASSIC_MAX_DATA):
        raise _RejectedLineError("bad_length")
    rest = match.group("rest").strip()
    is_remote = not is_fd and rest == "remote request"
    if is_remote:
        payload = b""
    else:
        # After the bytes, "-a" prints the payload as ASCII between quotes.
        hex_part = rest.partition("'")[0]
        tokens = hex_part.split()
        if len(tokens) != dlc or not all(_HEX_BYTE.fullmatch(token) for token in tokens):
            raise _RejectedLineError()
        payload = bytes.fromhex("".join(tokens))
    return _row(match, arbitration_id, is_extended, is_fd, is_remote, 0, payload, dlc)
