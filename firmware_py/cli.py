"""The ``roadgate`` command. Each subcommand imports what it needs only when it runs."""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, TypeVar

from cloud_bridge.errors import BridgeError
from edge.errors import EdgeError
from firmware_py import __version__
from firmware_py.errors import FirmwareError
from hal.errors import HalError
from protocols.errors import ProtocolError

_T = TypeVar("_T")


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

    demo = commands.add_parser(
        "demo", help="run a simulated intersection end to end, with no broker or hardware"
    )
    demo.add_argument(
        "--duration",
        type=_duration,
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
    run.add_argument("--duration", type=_duration, default=0.0, help="stop after this many seconds")
    run.set_defaults(handler=_run)

    bridge = commands.add_parser("bridge", help="run the cloud bridge")
    bridge.add_argument("--config", type=Path, required=True, help="the bridge's TOML config")
    bridge.add_argument(
        "--duration", type=_duration, default=0.0, help="stop after this many seconds"
    )
    bridge.set_defaults(handler=_bridge)

    config = commands.add_parser("config", help="check config files")
    config_commands = config.add_subparsers(required=True, metavar="ACTION")
    check = config_commands.add_parser("check", help="validate a box or bridge config")
    check.add_argument("files", type=Path, nargs="+")
    check.add_argument("--bridge", action="store_true", help="the files are bridge configs")
    check.set_defaults(handler=_config_check)

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

    decode = commands.add_parser(
        "decode",
        help="decode a candump log with a DBC, like cantools decode",
        description="Decode a candump log (log or screen format) with a DBC file: one line "
        "per frame, as cantools decode -s prints it, or JSON lines with --json. "
        "Reject counts are printed on standard error at the end.",
    )
    decode.add_argument("--dbc", type=Path, required=True, metavar="FILE", help="the DBC file")
    decode.add_argument(
        "--encoding", metavar="ENC", help="text encoding of the DBC (default: utf-8, then cp1252)"
    )
    decode.add_argument(
        "--json",
        action="store_true",
        help='one JSON object per decoded frame: {"t", "id", "name", "signals"}',
    )
    decode.add_argument(
        "-c",
        "--no-decode-choices",
        action="store_true",
        help="print value-table signals as numbers, not as their names",
    )
    decode.add_argument(
        "log",
        nargs="?",
        default="-",
        metavar="LOG",
        help="the candump log, or - for standard input (default)",
    )
    decode.set_defaults(handler=_decode)

    nmea = commands.add_parser(
        "nmea",
        help="print the fixes of an NMEA 0183 stream",
        description="Print one line per GNSS fix of an NMEA 0183 stream, or JSON lines with "
        "--json. Reject counts by reason are printed on standard error at the end.",
    )
    nmea.add_argument(
        "--json",
        action="store_true",
        help='one JSON object per fix: {"time", "mode", "lat", "lon", "alt", "quality", '
        '"sats", "hdop", "speed", "course"}',
    )
    nmea.add_argument(
        "--allow-missing-checksum",
        action="store_true",
        help="accept sentences without a checksum (some receivers omit it)",
    )
    nmea.add_argument(
        "log",
        nargs="?",
        default="-",
        metavar="LOG",
        help="the NMEA log, or - for standard input (default)",
    )
    nmea.set_defaults(handler=_nmea)

    hal = commands.add_parser("hal", help="hardware: CAN interfaces and serial ports")
    hal_commands = hal.add_subparsers(required=True, metavar="ACTION")
    hal_probe = hal_commands.add_parser(
        "probe", help="list CAN interfaces (state, bitrate) and serial ports"
    )
    hal_probe.add_argument("--json", action="store_true", help="print the report as JSON")
    hal_probe.set_defaults(handler=_hal_probe)

    bench = commands.add_parser("bench", help="measure our speed against a peer library")
    bench_commands = bench.add_subparsers(required=True, metavar="BENCHMARK")
    bench_decode = bench_commands.add_parser(
        "decode", help="DBC decoding: our vectorised decoder against cantools"
    )
    bench_decode.add_argument(
        "--dbc",
        type=Path,
        default=None,
        metavar="FILE",
        help="the DBC file (default: the shipped Toyota DBC)",
    )
    bench_decode.add_argument(
        "--frames",
        type=_positive_int,
        metavar="N",
        default=100_000,
        help="frames to decode (default: %(default)s)",
    )
    bench_decode.add_argument(
        "--json", type=Path, default=None, metavar="PATH", help="write the result here as JSON"
    )
    bench_decode.set_defaults(handler=_bench_decode)
    bench_uplink = bench_commands.add_parser(
        "uplink", help="durable uplink vs a bare paho-mqtt loop; publish-to-subscriber latency"
    )
    bench_uplink.add_argument("--messages", type=int, default=20_000, help="QoS 1 messages")
    bench_uplink.add_argument("--rate", type=int, default=1000, help="latency test rate, msg/s")
    bench_uplink.add_argument("--seconds", type=float, default=10.0, help="latency test length")
    bench_uplink.add_argument("--host", help="an existing broker (default: a private Mosquitto)")
    bench_uplink.add_argument("--port", type=int, help="the existing broker's port")
    bench_uplink.add_argument("--json", type=Path, dest="json_path", help="write results here")
    bench_uplink.set_defaults(handler=_bench_uplink)
    _load_plugins(commands, {"bench": bench_commands})
    return parser


def _load_plugins(commands: Any, groups: dict[str, Any]) -> None:
    """Subcommands of packages firmware_py must not import (``hil``), found by entry point."""
    for entry_point in entry_points(group="roadgate.cli"):
        entry_point.load()(commands, groups)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _duration(text: str) -> float:
    """A ``--duration``: finite seconds, 0 for "until stopped" (nan would never end)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be finite seconds >= 0, got {text!r}")
    return value


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


def _config_check(args: argparse.Namespace) -> int:
    from firmware_py.config.loader import load_box_config, load_bridge_config

    for path in args.files:
        if args.bridge:
            load_bridge_config(path)
        else:
            load_box_config(path)
        print(f"{path}: ok")
    return 0


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


def _decode(args: argparse.Namespace) -> int:
    from firmware_py.tools import format_rejects
    from firmware_py.tools.decode_cmd import DecodeOptions, run_decode

    options = DecodeOptions(
        dbc=args.dbc,
        encoding=args.encoding,
        as_json=args.json,
        decode_choices=not args.no_decode_choices,
    )
    summary = _until_broken_pipe(lambda: run_decode(options, args.log, sys.stdout))
    if summary is not None:
        print(
            f"roadgate decode: {summary.frames} frames, {summary.decoded} decoded; "
            f"rejects: {format_rejects(summary.rejects)}",
            file=sys.stderr,
        )
    return 0


def _nmea(args: argparse.Namespace) -> int:
    from firmware_py.tools import format_rejects
    from firmware_py.tools.nmea_cmd import run_nmea

    summary = _until_broken_pipe(
        lambda: run_nmea(
            args.log,
            sys.stdout,
            as_json=args.json,
            allow_missing_checksum=args.allow_missing_checksum,
        )
    )
    if summary is not None:
        print(
            f"roadgate nmea: {summary.fixes} fixes; rejects: {format_rejects(summary.rejects)}",
            file=sys.stderr,
        )
    return 0


def _bench_uplink(args: argparse.Namespace) -> int:
    from firmware_py.bench.uplink_bench import main as bench_uplink

    return bench_uplink(
        messages=args.messages,
        latency_rate=args.rate,
        latency_s=args.seconds,
        json_path=args.json_path,
        host=args.host,
        port=args.port,
    )


def _hal_probe(args: argparse.Namespace) -> int:
    from firmware_py.hal_cmd import run_probe

    run_probe(sys.stdout, as_json=args.json)
    return 0


def _bench_decode(args: argparse.Namespace) -> int:
    import json

    from firmware_py.bench.decode_bench import DEFAULT_DBC, format_result, run_decode_bench

    result = run_decode_bench(args.dbc or DEFAULT_DBC, args.frames)
    print(format_result(result))
    if args.json is not None:
        try:
            args.json.write_text(json.dumps(result.as_json(), indent=2) + "\n")
        except OSError as err:
            raise FirmwareError(f"cannot write {args.json}: {err.strerror or err}") from err
    return 0


def _until_broken_pipe(run: Callable[[], _T]) -> _T | None:
    """Run a tool writing to stdout; a reader that went away (``| head``) ends it quietly."""
    try:
        return run()
    except BrokenPipeError:
        # Python would complain again when flushing stdout at exit: point it at /dev/null.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return None


if __name__ == "__main__":
    sys.exit(main())
