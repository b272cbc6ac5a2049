"""``roadgate run``: one box (roadside unit or vehicle gateway) from its config."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from firmware_py.cli.arguments import duration


def register(commands: Any) -> None:
    """Add ``run`` to the top-level subparsers ``commands``."""
    run = commands.add_parser("run", help="run one box (roadside unit or vehicle gateway)")
    run.add_argument("--config", type=Path, required=True, help="the box's TOML config")
    run.add_argument("--duration", type=duration, default=0.0, help="stop after this many seconds")
    run.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from firmware_py.box import run_box
    from firmware_py.box.config_change import begin_config_trial
    from firmware_py.box.process_restart import PROCESS_RESTART
    from firmware_py.config.loader import load_box_config
    from firmware_py.lifecycle import run_until_stopped
    from firmware_py.logging_setup import configure_logging

    # A config changed by a remote set_config: this start tries it, or it is rolled back.
    begin_config_trial(args.config)
    config = load_box_config(args.config)
    log_config = config.observability.logging
    configure_logging(
        log_config.format,
        "debug" if args.verbose else log_config.level,
        device=config.device.device_id,
    )
    asyncio.run(run_until_stopped(run_box(config), args.duration or None))
    PROCESS_RESTART.exec_if_requested()  # asked by a command (set_config, its rollback)
    return 0
