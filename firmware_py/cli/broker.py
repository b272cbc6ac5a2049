"""``roadgate broker acl``: files for the MQTT broker (Mosquitto), from the fleet registry."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(commands: Any) -> None:
    """Add ``broker`` and its actions to the top-level subparsers ``commands``."""
    broker = commands.add_parser("broker", help="files for the MQTT broker (Mosquitto)")
    broker_commands = broker.add_subparsers(required=True, metavar="ACTION")
    acl = broker_commands.add_parser(
        "acl",
        help="write the broker's ACL file from the fleet registry",
        description="Write Mosquitto's ACL file from a registry of devices (id = certificate "
        "CN, region): each device may write only its own topics in its own region; the bridge "
        "and command identities get rules of their own.",
    )
    acl.add_argument(
        "--devices", type=Path, required=True, metavar="FILE", help="the fleet registry (TOML)"
    )
    acl.add_argument(
        "-o", "--output", type=Path, metavar="FILE", help="write here (default: standard output)"
    )
    acl.set_defaults(handler=_broker_acl)


def _broker_acl(args: argparse.Namespace) -> int:
    from firmware_py.broker_acl import load_registry, render_acl, write_acl

    registry = load_registry(args.devices)
    text = render_acl(registry)
    if args.output is None:
        sys.stdout.write(text)
    else:
        write_acl(text, args.output)
        print(f"{args.output}: {len(registry.devices)} devices", file=sys.stderr)
    return 0
