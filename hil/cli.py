"""The ``roadgate`` subcommands that ``hil`` contributes, registered through an entry point.

``firmware_py`` builds the command line but must not import ``hil`` (dependencies point one
way), so ``hil`` registers its commands under the ``roadgate.cli`` entry-point group, which the
CLI loads by name, the way python-can finds its interfaces.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(commands: Any, groups: dict[str, Any]) -> None:
    """Add ``bench can`` (and later the ``hil`` commands) to the parsers given."""
    bench_can = groups["bench"].add_parser(
        "can", help="fast SocketCAN reader vs plain python-can on the same vcan traffic"
    )
    bench_can.add_argument("--frames", type=int, default=20_000, help="frames per bus")
    bench_can.add_argument("--buses", type=int, default=1, help="vcan buses, one cangen each")
    bench_can.add_argument("--json", type=Path, dest="json_path", help="write results here")
    bench_can.set_defaults(handler=_bench_can)


def _bench_can(args: argparse.Namespace) -> int:
    from hil.bench_can import main

    return main(frames=args.frames, buses=args.buses, json_path=args.json_path)
