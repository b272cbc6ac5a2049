"""``roadgate nmea``: print the fixes of an NMEA 0183 stream, one line per receiver epoch.

The printing is in ``nmea_printer``, imported when the command runs.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from firmware_py.cli.text_input import add_log_argument, format_rejects, until_broken_pipe


def register(commands: Any) -> None:
    """Add ``nmea`` to the top-level subparsers ``commands``."""
    nmea = commands.add_parser(
        "nmea",
        help="print the fixes of an NMEA 0183 stream",
        description="Print one line per GNSS fix of an NMEA 0183 stream, or JSON lines with "
        "--json. Reject counts by reason are printed on standard error at the end.",
    )
    nmea.add_argument(
        "--json",
        action="store_true",
        help='one JSON object per fix: {"time", "mode", "lat", "lon", "alt", "quality", '
        '"sats", "hdop", "speed", "course"}',
    )
    nmea.add_argument(
        "--allow-missing-checksum",
        action="store_true",
        help="accept sentences without a checksum (some receivers omit it)",
    )
    add_log_argument(nmea, "NMEA log")
    nmea.set_defaults(handler=_nmea)


def _nmea(args: argparse.Namespace) -> int:
    from firmware_py.cli.nmea_printer import run_nmea

    summary = until_broken_pipe(
        lambda: run_nmea(
            args.log,
            sys.stdout,
            as_json=args.json,
            allow_missing_checksum=args.allow_missing_checksum,
        )
    )
    if summary is not None:
        print(
            f"roadgate nmea: {summary.fixes} fixes; rejects: {format_rejects(summary.rejects)}",
            file=sys.stderr,
        )
    return 0
