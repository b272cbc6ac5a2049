"""Split a serial byte stream into NMEA 0183 lines, dropping whatever is not one.

GNSS receivers share one UART between NMEA text and binary protocols (u-blox UBX, RTCM), start
up with half-sent sentences, and pick up noise on long cables. The framer keeps only lines that
look like NMEA: they start with ``$`` or ``!`` and contain printable ASCII only. Everything else
is dropped and counted, and framing resynchronises at the next ``$``, ``!``, CR or LF. It does no
I/O and does not check the ``*hh`` checksum: that is the NMEA parser's job.
"""

from __future__ import annotations

import re

NMEA_MAX_SENTENCE = 82
"""NMEA 0183's limit for one sentence, ``$`` to LF inclusive."""

DEFAULT_MAX_LINE = 2 * NMEA_MAX_SENTENCE
"""Receivers overstep the standard's limit (long proprietary sentences), so allow slack."""

# One token per match, so a chunk costs one regex scan plus a few operations per run of bytes.
# Group 1: a sentence start; 2: a line end; 3: a run of printable text other than the
# start characters; otherwise a run of bytes that cannot be in a sentence.
_TOKEN = re.compile(rb"([$!])|([\r\n])|([\x20\x22\x23\x25-\x7e]+)|[^\x20-\x7e\r\n]+")

_IDLE = 0  # between lines: bytes are garbage until a ``$`` or ``!``
_IN_LINE = 1  # collecting a line that started with ``$`` or ``!``
_DROPPING = 2  # the current line was rejected: bytes are garbage until a start or line end


class LineFramer:
    """Turn chunks of bytes into complete NMEA lines. Pure and incremental.

    A line is emitted only if it starts with ``$`` or ``!``, ends with CR or LF, holds only
    printable ASCII (0x20-0x7E) and is at most ``max_line`` bytes long (without CR/LF).

    * Bytes before a ``$``/``!`` count as ``garbage_bytes``. A ``$``/``!`` inside a line starts
      a new line (both are reserved characters that no sentence contains), so an unterminated
      fragment before it is garbage too.
    * A line with a non-printable byte counts once in ``binary_lines``; a line longer than
      ``max_line`` counts once in ``overlong_lines``. Both are dropped up to the next ``$``,
      ``!``, CR or LF, and their bytes count as ``garbage_bytes``.

    Every byte fed is accounted for: ``bytes == emitted line bytes + CR/LF bytes +
    garbage_bytes + pending``, where ``pending`` is the unfinished line held for the next chunk
    (at most ``max_line`` bytes).
    """

    def __init__(self, max_line: int = DEFAULT_MAX_LINE) -> None:
        """Raises ``ValueError`` if ``max_line`` < 1."""
        if max_line < 1:
            raise ValueError(f"max_line must be at least 1, got {max_line}")
        self._max_line = max_line
        self._line = bytearray()
        self._state = _IDLE
        self._bytes = 0
        self._lines = 0
        self._garbage_bytes = 0
        self._binary_lines = 0
        self._overlong_lines = 0

    @property
    def max_line(self) -> int:
        return self._max_line

    @property
    def pending(self) -> int:
        """Bytes of the unfinished line held until its CR/LF arrives."""
        return len(self._line)

    @property
    def counters(self) -> dict[str, int]:
        """``bytes``, ``lines``, ``garbage_bytes``, ``binary_lines``, ``overlong_lines``."""
        return {
            "bytes": self._bytes,
            "lines": self._lines,
            "garbage_bytes": self._garbage_bytes,
            "binary_lines": self._binary_lines,
            "overlong_lines": self._overlong_lines,
        }

    def reset(self) -> None:
        """Forget the unfinished line (e.g. after the device was reopened); counters stay.

        The dropped bytes count as garbage.
        """
        self._garbage_bytes += len(self._line)
        self._line.clear()
        self._state = _IDLE

    def feed(self, chunk: bytes) -> list[bytes]:
        """Take the next ``chunk`` of the stream; return the lines it completed, without CR/LF."""
        self._bytes += len(chunk)
        lines: list[bytes] = []
        line = self._line
        for match in _TOKEN.finditer(chunk):
            start, end, text = match.groups()
            if start is not None:
                # A start character always begins a new line, whatever came before.
                self._garbage_bytes += len(line)
                line[:] = start
                self._state = _IN_LINE
            elif end is not None:
                if self._state == _IN_LINE:
                    lines.append(bytes(line))
                    line.clear()
                self._state = _IDLE
            elif self._state != _IN_LINE:
                self._garbage_bytes += len(match[0])
            elif text is not None:
                line += text
                if len(line) > self._max_line:
                    self._overlong_lines += 1
                    self._drop_line()
            else:
                self._binary_lines += 1
                self._garbage_bytes += len(match[0])
                self._drop_line()
        self._lines += len(lines)
        return lines

    def _drop_line(self) -> None:
        self._garbage_bytes += len(self._line)
        self._line.clear()
        self._state = _DROPPING
