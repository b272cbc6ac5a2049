"""The ``roadgate`` command: one module of this package per subcommand, as cantools does.

Each module's ``register`` adds its parser; its handler imports what the command needs only when
it runs, so ``roadgate --help`` stays fast. Packages ``firmware_py`` must not import (``hil``)
add their subcommands through the ``roadgate.cli`` entry-point group (pyproject.toml).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points
from typing import Any

from cloud_bridge.errors import BridgeError
from edge.errors import EdgeError
from firmware_py import __version__
from firmware_py.cli import (
    benchmark,
    bridge,
    broker,
    config,
    decode,
    demo,
    doctor,
    export,
    hal,
    nmea,
    record,
    replay,
    run,
    v2x,
)
from firmware_py.cli import command as remote_command
from firmware_py.errors import FirmwareError
from firmware_py.logging_setup import configure_logging
from hal.errors import HalError
from protocols.errors import ProtocolError


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``roadgate`` console script; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    # Text until a command reads its config: `run` then switches to the box's [logging].
    configure_logging("text", logging.DEBUG if args.verbose else logging.INFO)
    try:
        status: int = args.handler(args)
        return status
    except (FirmwareError, HalError, ProtocolError, EdgeError, BridgeError) as err:
        # Every package's own error means "could not do what was asked", with a message that
        # says why: no traceback for those.
        print(f"roadgate: error: {err}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="roadgate", description="Edge software for roadside units and vehicle gateways."
    )
    parser.add_argument("--version", action="version", version=f"roadgate {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    for module in (demo, run, bridge, config, broker, decode, nmea, v2x, hal, doctor):
        module.register(commands)
    remote_command.register(commands)
    record.register(commands)
    export.register(commands)
    replay.register(commands)
    benchmarks = benchmark.register(commands)
    _load_plugins(commands, {"benchmark": benchmarks})
    return parser


def _load_plugins(commands: Any, groups: dict[str, Any]) -> None:
    """Subcommands of packages firmware_py must not import (``hil``), found by entry point.

    Each entry point is called with the top-level subparsers and ``groups``, the subparsers of
    commands a plugin may add to by name (``benchmark``).
    """
    for entry_point in entry_points(group="roadgate.cli"):
        entry_point.load()(commands, groups)
