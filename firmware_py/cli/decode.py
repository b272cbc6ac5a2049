"""``roadgate decode``: decode a candump log with a DBC, like ``cantools decode -s``.

The decoding is in ``candump_decoder``, imported when the command runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from firmware_py.cli.text_input import add_log_argument, format_rejects, until_broken_pipe


def register(commands: Any) -> None:
    """Add ``decode`` to the top-level subparsers ``commands``."""
    decode = commands.add_parser(
        "decode",
        help="decode a candump log with a DBC, like cantools decode",
        description="Decode a candump log (log or screen format) with a DBC file: one line "
        "per frame, as cantools decode -s prints it, or JSON lines with --json. "
        "Reject counts are printed on standard error at the end.",
    )
    decode.add_argument("--dbc", type=Path, required=True, metavar="FILE", help="the DBC file")
    decode.add_argument(
        "--encoding", metavar="ENC", help="text encoding of the DBC (default: utf-8, then cp1252)"
    )
    decode.add_argument(
        "--json",
        action="store_true",
        help='one JSON object per decoded frame: {"t", "id", "name", "signals"}',
    )
    decode.add_argument(
        "-c",
        "--no-decode-choices",
        action="store_true",
        help="print value-table signals as numbers, not as their names",
    )
    add_log_argument(decode, "candump log")
    decode.set_defaults(handler=_decode)


def _decode(args: argparse.Namespace) -> int:
    from firmware_py.cli.candump_decoder import DecodeOptions, run_decode

    options = DecodeOptions(
        dbc=args.dbc,
        encoding=args.encoding,
        as_json=args.json,
        decode_choices=not args.no_decode_choices,
    )
    summary = until_broken_pipe(lambda: run_decode(options, args.log, sys.stdout))
    if summary is not None:
        print(
            f"roadgate decode: {summary.frames} frames, {summary.decoded} decoded; "
            f"rejects: {format_rejects(summary.rejects)}",
            file=sys.stderr,
        )
    return 0
