"""``roadgate config check``: validate box or bridge config files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(commands: Any) -> None:
    """Add ``config`` and its actions to the top-level subparsers ``commands``."""
    config = commands.add_parser("config", help="check config files")
    config_commands = config.add_subparsers(required=True, metavar="ACTION")
    check = config_commands.add_parser(
        "check",
        help="validate box and bridge configs (told apart by a [device] or [bridge] table)",
    )
    check.add_argument("files", type=Path, nargs="+")
    check.add_argument("--bridge", action="store_true", help="read every file as a bridge config")
    check.set_defaults(handler=_config_check)


_KIND_NAMES = {
    "box": "box config",
    "bridge": "bridge config",
    "intersection": "intersection description",
}


def _config_check(args: argparse.Namespace) -> int:
    """One line per file: ``ok`` or ``template`` on stdout, ``roadgate: error: ...`` on stderr;
    status 2 (the CLI's status for a package's error) when any file failed."""
    from firmware_py.config.file_kind import ConfigKind, config_kind, placeholders
    from firmware_py.config.loader import load_box_config, load_bridge_config
    from firmware_py.errors import FirmwareError
    from protocols.errors import ProtocolError
    from protocols.v2x.intersection_file import read_intersection_file

    failed = templates = 0
    for path in args.files:
        try:
            kind = ConfigKind.BRIDGE if args.bridge else config_kind(path)
            if kind is ConfigKind.TEMPLATE:
                text = path.read_bytes().decode("utf-8", errors="replace")
                names = ", ".join(f"${name}" for name in placeholders(text))
                print(f"{path}: template with placeholders {names}: fill them in to check it")
                templates += 1
                continue
            if kind is ConfigKind.BRIDGE:
                load_bridge_config(path)
            elif kind is ConfigKind.INTERSECTION:
                read_intersection_file(path)
            else:
                load_box_config(path)
        except (FirmwareError, ProtocolError, OSError) as err:
            failed += 1
            # As every command reports its package's errors (firmware_py.cli.main).
            print(f"roadgate: error: {err}", file=sys.stderr)
            continue
        print(f"{path}: ok ({_KIND_NAMES[kind]})")
    if len(args.files) > 1:
        total = len(args.files)
        unchecked = f", {templates} templates not checked" if templates else ""
        print(f"{total - failed - templates} of {total} files passed{unchecked}")
    return 2 if failed else 0
