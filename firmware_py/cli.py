"""The ``roadgate`` command. Each subcommand imports what it needs only when it runs."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from firmware_py import __version__
from firmware_py.errors import FirmwareError


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``roadgate`` console script; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        status: int = args.handler(args)
        return status
    except FirmwareError as err:
        print(f"roadgate: error: {err}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="roadgate", description="Edge software for roadside units and vehicle gateways."
    )
    parser.add_argument("--version", action="version", version=f"roadgate {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo", help="run a simulated intersection end to end, with no broker or hardware"
    )
    demo.add_argument(
        "--duration",
        type=float,
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

    run = commands.add_parser("run", help="run one box (roadside unit or vehicle gateway)")
    run.add_argument("--config", type=Path, required=True, help="the box's TOML config")
    run.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds")
    run.set_defaults(handler=_run)

    bridge = commands.add_parser("bridge", help="run the cloud bridge")
    bridge.add_argument("--config", type=Path, required=True, help="the bridge's TOML config")
    bridge.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds")
    bridge.set_defaults(handler=_bridge)

    config = commands.add_parser("config", help="check config files")
    config_commands = config.add_subparsers(required=True, metavar="ACTION")
    check = config_commands.add_parser("check", help="validate a box or bridge config")
    check.add_argument("files", type=Path, nargs="+")
    check.add_argument("--bridge", action="store_true", help="the files are bridge configs")
    check.set_defaults(handler=_config_check)
    return parser


def _demo(args: argparse.Namespace) -> int:
    from firmware_py.demo.runner import run_demo

    asyncio.run(run_demo(args.duration or None, args.store))
    return 0


def _run(args: argparse.Namespace) -> int:
    from firmware_py.box import run_box
    from firmware_py.config.loader import load_box_config
    from firmware_py.lifecycle import run_until_stopped

    config = load_box_config(args.config)
    asyncio.run(run_until_stopped(run_box(config), args.duration or None))
    return 0


def _bridge(args: argparse.Namespace) -> int:
    from cloud_bridge.service import BridgeService
    from firmware_py.config.loader import load_bridge_config
    from firmware_py.lifecycle import run_until_stopped

    settings = load_bridge_config(args.config)
    logging.getLogger("firmware_py").info(
        "bridge: %s:%d -> %s", settings.mqtt.host, settings.mqtt.port, settings.store_path
    )
    asyncio.run(run_until_stopped(BridgeService(settings).run(), args.duration or None))
    return 0


def _config_check(args: argparse.Namespace) -> int:
    from firmware_py.config.loader import load_box_config, load_bridge_config

    for path in args.files:
        if args.bridge:
            load_bridge_config(path)
        else:
            load_box_config(path)
        print(f"{path}: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
