"""``roadgate config check``: validate box or bridge config files."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(commands: Any) -> None:
    """Add ``config`` and its actions to the top-level subparsers ``commands``."""
    config = commands.add_parser("config", help="check config files")
    config_commands = config.add_subparsers(required=True, metavar="ACTION")
    check = config_commands.add_parser("check", help="validate a box or bridge config")
    check.add_argument("files", type=Path, nargs="+")
    check.add_argument("--bridge", action="store_true", help="the files are bridge configs")
    check.set_defaults(handler=_config_check)


def _config_check(args: argparse.Namespace) -> int:
    from firmware_py.config.loader import load_box_config, load_bridge_config

    for path in args.files:
        if args.bridge:
            load_bridge_config(path)
        else:
            load_box_config(path)
        print(f"{path}: ok")
    return 0
