"""``roadgate demo``: a simulated intersection end to end, with no broker or hardware."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from firmware_py.cli.arguments import duration


def register(commands: Any) -> None:
    """Add ``demo`` to the top-level subparsers ``commands``."""
    demo = commands.add_parser(
        "demo", help="run a simulated intersection end to end, with no broker or hardware"
    )
    demo.add_argument(
        "--duration",
        type=duration,
        default=0.0,
        help="stop after this many seconds (default: run until Ctrl-C)",
    )
    demo.add_argument(
        "--store",
        type=Path,
        default=Path("roadgate-demo.sqlite3"),
        help="SQLite file the bridge stores into (default: %(default)s)",
    )
    demo.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    from firmware_py.demo.runner import run_demo

    asyncio.run(run_demo(args.duration or None, args.store))
    return 0
