"""Reading logs for the command-line tools (``roadgate decode``, ``roadgate nmea``).

The helpers here read a log file or standard input in batches of whole lines, as soon as the
bytes are available: a tool fed by a live ``candump -L can0 |`` pipe prints each frame without
waiting for a full buffer, and a large file is still read in big batches.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, TypeVar

from firmware_py.errors import FirmwareError

_T = TypeVar("_T")

STDIN = "-"
_CHUNK = 1 << 16
_MAX_LINE = 1 << 20
"""A 'line' longer than this (binary garbage without LF) is cut, to bound memory."""


@contextmanager
def open_input(source: str) -> Iterator[BinaryIO]:
    """Open ``source`` for reading bytes: a file path, or ``-`` for standard input.

    Standard input is not closed on exit. Raises ``FirmwareError`` when the file cannot be
    opened.
    """
    if source == STDIN:
        yield sys.stdin.buffer
        return
    try:
        stream = Path(source).open("rb")  # noqa: SIM115 (closed below, after the yield)
    except OSError as err:
        raise FirmwareError(f"cannot read {source}: {err.strerror or err}") from err
    with stream:
        yield stream


def line_batches(stream: BinaryIO) -> Iterator[list[bytes]]:
    """Yield the lines of ``stream`` (without their LF) in batches, one per read.

    Each batch holds the complete lines of one read of at most 64 KiB (``read1``: it returns
    what is available instead of waiting for a full buffer). The last line is yielded even
    without a final line end; a line longer than 1 MiB is yielded in pieces.
    """
    read = getattr(stream, "read1", stream.read)
    carry = b""
    while True:
        chunk: bytes = read(_CHUNK)
        if not chunk:
            break
        lines = (carry + chunk).split(b"\n")
        carry = lines.pop()
        if len(carry) > _MAX_LINE:
            lines.append(carry)
            carry = b""
        if lines:
            yield lines
    if carry:
        yield [carry]


def add_log_argument(parser: argparse.ArgumentParser, what: str) -> None:
    """Add a command's optional positional ``log``: the ``what`` file, or ``-`` (the default)."""
    parser.add_argument(
        "log",
        nargs="?",
        default=STDIN,
        metavar="LOG",
        help=f"the {what}, or - for standard input (default)",
    )


def format_rejects(rejects: Counter[str]) -> str:
    """``reason=count`` pairs sorted by reason, or ``none``."""
    items = sorted((reason, count) for reason, count in rejects.items() if count)
    return ", ".join(f"{reason}={count}" for reason, count in items) or "none"


def until_broken_pipe(run: Callable[[], _T]) -> _T | None:
    """Run a tool writing to stdout; returns its result, or None when the reader went away
    (``| head``), which ends it quietly."""
    try:
        return run()
    except BrokenPipeError:
        # Python would complain again when flushing stdout at exit: point it at /dev/null.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return None
