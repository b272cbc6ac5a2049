"""``roadgate bridge``: the cloud bridge from its config."""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path
from typing import Any

from firmware_py.cli.arguments import duration


def register(commands: Any) -> None:
    """Add ``bridge`` to the top-level subparsers ``commands``."""
    bridge = commands.add_parser("bridge", help="run the cloud bridge")
    bridge.add_argument("--config", type=Path, required=True, help="the bridge's TOML config")
    bridge.add_argument(
        "--duration", type=duration, default=0.0, help="stop after this many seconds"
    )
    bridge.set_defaults(handler=_bridge)


def _bridge(args: argparse.Namespace) -> int:
    from cloud_bridge.service import BridgeService
    from firmware_py.broker_security import warn_if_plaintext
    from firmware_py.config.loader import load_bridge_config
    from firmware_py.lifecycle import run_until_stopped

    settings = load_bridge_config(args.config)
    mqtt = settings.mqtt
    warn_if_plaintext(mqtt.host, mqtt.port, tls=mqtt.tls is not None, source=str(args.config))
    logging.getLogger("firmware_py").info(
        "bridge: %s:%d -> %s", settings.mqtt.host, settings.mqtt.port, settings.store_path
    )
    asyncio.run(run_until_stopped(BridgeService(settings).run(), args.duration or None))
    return 0
