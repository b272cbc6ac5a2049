"""``roadgate doctor``: check that this board can run its box; one line per check saying what
holds, or what is wrong and how to fix it. Exit status 0 only when every check holds."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from firmware_py.cli.arguments import duration


def register(commands: Any) -> None:
    """Add ``doctor`` to the top-level subparsers ``commands``."""
    doctor = commands.add_parser(
        "doctor",
        help="check the board: CAN, GNSS, broker, clock, disk, instance lock",
        description="Without --config only the board's CAN interfaces and clock are checked.",
    )
    doctor.add_argument("--config", type=Path, metavar="FILE", help="the box's config")
    doctor.add_argument("--json", action="store_true", help="print the findings as JSON")
    doctor.add_argument(
        "--gnss-timeout",
        type=duration,
        default=10.0,
        metavar="SECONDS",
        help="how long to wait for a GNSS fix (default: %(default)s)",
    )
    doctor.add_argument(
        "--broker-timeout",
        type=duration,
        default=5.0,
        metavar="SECONDS",
        help="how long to wait for the broker (default: %(default)s)",
    )
    doctor.set_defaults(handler=_doctor)


def _doctor(args: argparse.Namespace) -> int:
    from firmware_py.config.loader import load_box_config
    from firmware_py.doctor.checks import DoctorSettings, run_checks

    config = None if args.config is None else load_box_config(args.config)
    findings = run_checks(config, DoctorSettings(args.gnss_timeout, args.broker_timeout))
    healthy = all(finding.ok for finding in findings)
    if args.json:
        print(json.dumps({"ok": healthy, "findings": [f.as_json() for f in findings]}, indent=2))
    else:
        for finding in findings:
            print(finding.line())
    return 0 if healthy else 1
