"""``roadgate hal probe``: print the CAN interfaces and serial ports this machine has."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import Any, TextIO

from hal.probe import ProbeReport, probe

NO_CAN = (
    "CAN: this kernel has no SocketCAN support (socket(AF_CAN) failed). Load it with "
    "'modprobe can_raw' (and 'modprobe vcan' for a virtual bus), or run the vcan tests "
    "through the user-mode-linux runner (hil/uml)."
)


def register(commands: Any) -> None:
    """Add ``hal`` and its actions to the top-level subparsers ``commands``."""
    hal = commands.add_parser("hal", help="hardware: CAN interfaces and serial ports")
    hal_commands = hal.add_subparsers(required=True, metavar="ACTION")
    probe_command = hal_commands.add_parser(
        "probe", help="list CAN interfaces (state, bitrate) and serial ports"
    )
    probe_command.add_argument("--json", action="store_true", help="print the report as JSON")
    probe_command.set_defaults(handler=_hal_probe)


def _hal_probe(args: argparse.Namespace) -> int:
    run_probe(sys.stdout, as_json=args.json)
    return 0


def run_probe(out: TextIO, *, as_json: bool = False) -> ProbeReport:
    """Probe the hardware and write the report to ``out``; returns it. Never raises for
    missing hardware: that is what the report says."""
    report = probe()
    if as_json:
        out.write(json.dumps(asdict(report), indent=2) + "\n")
    else:
        out.write(format_report(report))
    return report


def format_report(report: ProbeReport) -> str:
    """The human-readable report: a CAN section and a serial section."""
    lines = []
    if not report.can_supported:
        lines.append(NO_CAN)
    elif not report.can_interfaces:
        lines.append(
            "CAN: SocketCAN is available but there is no CAN interface (check the HAT's "
            "device-tree overlay, see hal/profiles, or add a vcan interface)."
        )
    else:
        lines.append("CAN interfaces:")
    for can in report.can_interfaces:
        rate = f"{can.bitrate} bit/s" if can.bitrate else "bitrate unknown"
        if can.data_bitrate:
            rate += f", data {can.data_bitrate} bit/s"
        state = f", {can.state}" if can.state else ""
        lines.append(f"  {can.name}: {can.kind or 'can'}, link {can.operstate}{state}, {rate}")
    if report.serial_ports:
        lines.append("Serial ports:")
        for port in report.serial_ports:
            target = f" -> {port.target}" if port.target else ""
            lines.append(f"  {port.path}{target}")
    else:
        lines.append("Serial ports: none found")
    return "\n".join(lines) + "\n"
