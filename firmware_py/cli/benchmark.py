"""``roadgate benchmark`` (alias ``bench``): our speed against a peer library, in one run.

The measurements live in ``firmware_py/benchmarks/`` (and ``hil/can_benchmark.py``, which
``hil`` registers here through its entry point); not to be confused with the HIL bench
(``roadgate hil``), which runs scenarios against the real daemon.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from firmware_py.cli.arguments import positive_int
from firmware_py.errors import FirmwareError


def register(commands: Any) -> Any:
    """Add ``benchmark`` to the top-level subparsers ``commands``; returns its subparsers."""
    benchmark = commands.add_parser(
        "benchmark", aliases=["bench"], help="measure our speed against a peer library"
    )
    benchmarks = benchmark.add_subparsers(required=True, metavar="BENCHMARK")
    decode = benchmarks.add_parser(
        "decode", help="DBC decoding: our vectorised decoder against cantools"
    )
    decode.add_argument(
        "--dbc",
        type=Path,
        default=None,
        metavar="FILE",
        help="the DBC file (default: the shipped Toyota DBC; ARS408 for ars408-objects)",
    )
    decode.add_argument(
        "--mix",
        choices=("dbc", "ars408-objects"),
        default="dbc",
        help="the frames: the DBC's messages by cycle time, or ARS408 object lists "
        "(default: %(default)s)",
    )
    decode.add_argument(
        "--frames",
        type=positive_int,
        metavar="N",
        default=100_000,
        help="frames to decode (default: %(default)s)",
    )
    decode.add_argument(
        "--json", type=Path, default=None, metavar="PATH", help="write the result here as JSON"
    )
    decode.set_defaults(handler=_decode)
    uplink = benchmarks.add_parser(
        "uplink", help="durable uplink vs a bare paho-mqtt loop; publish-to-subscriber latency"
    )
    uplink.add_argument("--messages", type=int, default=20_000, help="QoS 1 messages")
    uplink.add_argument("--rate", type=int, default=1000, help="latency test rate, msg/s")
    uplink.add_argument("--seconds", type=float, default=10.0, help="latency test length")
    uplink.add_argument("--host", help="an existing broker (default: a private Mosquitto)")
    uplink.add_argument("--port", type=int, help="the existing broker's port")
    uplink.add_argument("--json", type=Path, dest="json_path", help="write results here")
    uplink.set_defaults(handler=_uplink)
    fusion = benchmarks.add_parser(
        "fusion",
        help="our tracker vs Stone Soup's multi-target tracker: accuracy and time per cycle",
    )
    fusion.add_argument(
        "--targets",
        type=positive_int,
        nargs="+",
        default=None,
        metavar="N",
        help="crowd sizes (default: 20 200 1000)",
    )
    fusion.add_argument(
        "--quick", action="store_true", help="3 s crowds rather than 10 s, a 2 s budget run"
    )
    fusion.add_argument(
        "--json", type=Path, default=None, metavar="PATH", help="write the result here as JSON"
    )
    fusion.add_argument(
        "--plot",
        type=Path,
        default=None,
        metavar="PNG",
        help="draw the smallest crowd's truth, detections and both trackers' tracks here",
    )
    fusion.set_defaults(handler=_fusion)
    v2x = benchmarks.add_parser(
        "v2x", help="T/CSAE 53 decode and encode per message kind against plain asn1tools"
    )
    v2x.add_argument(
        "--frames",
        type=positive_int,
        metavar="N",
        default=None,
        help="frames per kind (default: 2000; 100 with --quick)",
    )
    v2x.add_argument("--quick", action="store_true", help="fewer frames and repeats")
    v2x.add_argument(
        "--json", type=Path, default=None, metavar="PATH", help="write the result here as JSON"
    )
    v2x.set_defaults(handler=_v2x)
    memory = benchmarks.add_parser(
        "memory",
        help="RSS and CPU of a real roadside unit (4 radars) and vehicle gateway vs budgets",
    )
    memory.add_argument(
        "--seconds", type=float, default=30.0, help="run each box this long (default: 30)"
    )
    memory.add_argument("--host", help="an existing broker (default: a private Mosquitto)")
    memory.add_argument("--port", type=int, help="the existing broker's port")
    memory.add_argument(
        "--json", type=Path, default=None, metavar="PATH", help="write the result here as JSON"
    )
    memory.set_defaults(handler=_memory)
    bridge = benchmarks.add_parser(
        "bridge",
        help="bridge workers (1, 2 on a shared subscription) vs a bare paho-mqtt subscriber",
    )
    bridge.add_argument(
        "--devices", type=positive_int, default=1000, help="simulated devices (default: 1000)"
    )
    bridge.add_argument(
        "--rate-hz", type=float, default=10.0, help="messages a second per device (default: 10)"
    )
    bridge.add_argument(
        "--seconds", type=float, default=10.0, help="length of each live run (default: 10)"
    )
    bridge.add_argument(
        "--backlog",
        type=positive_int,
        default=100_000,
        help="messages drained in each capacity run (default: 100000)",
    )
    bridge.add_argument(
        "--store", default=None, metavar="DSN", help="a PostgreSQL URL (default: SQLite files)"
    )
    bridge.add_argument(
        "--worker-cpu",
        type=float,
        default=None,
        metavar="SHARE",
        help="also drain with 1 and 2 workers each held to this share of one CPU by a cgroup "
        "(a container's CPU limit; needs root): scale-out where the machine's cores are few",
    )
    bridge.add_argument(
        "--json", type=Path, default=None, metavar="PATH", help="write the result here as JSON"
    )
    bridge.set_defaults(handler=_bridge)
    record = benchmarks.add_parser(
        "record", help="CPU of the flight recorder at 4 full CAN buses (4,000 frames/s each)"
    )
    record.add_argument(
        "--seconds", type=float, default=20.0, help="seconds of traffic (default: 20)"
    )
    record.add_argument("--buses", type=positive_int, default=4, help="buses (default: 4)")
    record.add_argument(
        "--json", type=Path, default=None, metavar="PATH", help="write the result here as JSON"
    )
    record.set_defaults(handler=_record)
    e2e = benchmarks.add_parser(
        "e2e",
        help="the real roadside unit on 4 full vcan buses (or the vehicle gateway on its "
        "full powertrain bus) through the bridge's store (user-mode-linux where this kernel "
        "has no CAN)",
    )
    e2e.add_argument(
        "--box",
        choices=("roadside", "vehicle"),
        default="roadside",
        help="roadside: four ARS408 radar buses (default); vehicle: the vehicle gateway on a "
        "Toyota powertrain bus, its mapped signals at their real cycle among the DBC's other "
        "messages",
    )
    e2e.add_argument(
        "--uplink-period",
        type=float,
        default=0.0,
        metavar="S",
        help="the roadside unit's [perception] uplink_period_s: its fused list to the cloud at "
        "most once in S s of capture time (default: 0, after every radar list)",
    )
    e2e.add_argument("--seconds", type=float, default=20.0, help="traffic (default: 20)")
    e2e.add_argument(
        "--objects", type=positive_int, default=100, help="objects per radar list (default: 100)"
    )
    e2e.add_argument(
        "--json", type=Path, default=None, metavar="PATH", help="write the result here as JSON"
    )
    e2e.add_argument(
        "--board",
        action="store_true",
        help="the unit on a Raspberry Pi 4 core's share of the CPU (cgroup cpu.max), stepped "
        "up in load (--steps) to the highest it sustains",
    )
    e2e.add_argument(
        "--cpu-share",
        type=float,
        default=None,
        metavar="F",
        help="with --board: this share of one CPU instead of a Pi 4 core's (the board "
        "factor, measured)",
    )
    e2e.add_argument(
        "--steps",
        type=positive_int,
        nargs="+",
        default=None,
        metavar="N",
        help="with --board: objects per list of each step (default: 5 10 25 50 100)",
    )
    e2e.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="PATH",
        help="sample the unit with py-spy while it runs; its stacks here (collapsed, for "
        "speedscope or flamegraph.pl), the top functions printed",
    )
    e2e.add_argument(
        "--lists",
        type=Path,
        default=None,
        metavar="PATH",
        help="each stored object list's times here as CSV (newest frame, capture, published, "
        "received; latencies in ms), for plots and to find stalls",
    )
    e2e.add_argument(
        "--every-step",
        action="store_true",
        help="with --board: run every step, not only up to the first not sustained",
    )
    # hil sets vcan_launcher (user-mode-linux where needed); without it the buses must exist.
    e2e.set_defaults(handler=_e2e, vcan_launcher=None)
    everything = benchmarks.add_parser(
        "all",
        help="every benchmark in turn: one table with each peer and ratio, results.json, plots",
    )
    everything.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="write benchmarks.md, results.json and the plots here (default: docs/benchmarks.md, "
        "with results.json and the plots in docs/benchmarks/)",
    )
    everything.add_argument(
        "--quick",
        action="store_true",
        help="small sizes: checks that all run, figures not to quote",
    )
    everything.add_argument(
        "--only",
        nargs="+",
        default=None,
        metavar="NAME",
        help="only these benchmarks (can decode fusion v2x uplink bridge record memory e2e "
        "e2e-vehicle)",
    )
    everything.set_defaults(handler=_all)
    return benchmarks


def _decode(args: argparse.Namespace) -> int:
    from firmware_py.benchmarks.decode import format_result, run_decode_bench

    result = run_decode_bench(args.dbc, args.frames, mix=args.mix)
    print(format_result(result))
    _write_json(args.json, result.as_json())
    return 0


def _uplink(args: argparse.Namespace) -> int:
    from firmware_py.benchmarks.uplink import main as uplink_benchmark

    return uplink_benchmark(
        messages=args.messages,
        latency_rate=args.rate,
        latency_s=args.seconds,
        json_path=args.json_path,
        host=args.host,
        port=args.port,
    )


def _fusion(args: argparse.Namespace) -> int:
    import sys

    from firmware_py.benchmarks.fusion import DEFAULT_TARGETS, format_result, run_fusion_bench

    result = run_fusion_bench(
        args.targets or DEFAULT_TARGETS,
        quick=args.quick,
        plot=args.plot,
        progress=lambda line: print(f"bench fusion: {line}", file=sys.stderr, flush=True),
    )
    print(format_result(result))
    _write_json(args.json, result.as_json())
    return 0


def _v2x(args: argparse.Namespace) -> int:
    from firmware_py.benchmarks.v2x import (
        DEFAULT_FRAMES,
        QUICK_FRAMES,
        format_result,
        run_v2x_bench,
    )

    frames = args.frames or (QUICK_FRAMES if args.quick else DEFAULT_FRAMES)
    result = run_v2x_bench(frames, quick=args.quick)
    print(format_result(result))
    _write_json(args.json, result.as_json())
    return 0


def _memory(args: argparse.Namespace) -> int:
    import sys

    from firmware_py.benchmarks.memory import format_result, run_memory_bench
    from firmware_py.benchmarks.uplink import local_broker

    with local_broker(args.host, args.port) as (host, port):
        results = run_memory_bench(
            args.seconds,
            host,
            port,
            progress=lambda line: print(f"bench memory: {line}", file=sys.stderr, flush=True),
        )
    print(format_result(results))
    _write_json(args.json, [result.as_json() for result in results])
    return 0 if all(result.within_budget for result in results) else 1


def _bridge(args: argparse.Namespace) -> int:
    from firmware_py.benchmarks.bridge import BenchSizes, format_result, run_bridge_bench

    try:
        sizes = BenchSizes(
            args.devices, args.rate_hz, args.seconds, args.backlog, args.store, args.worker_cpu
        )
    except ValueError as err:
        raise FirmwareError(f"bench bridge: {err}") from err
    result = run_bridge_bench(sizes)
    print(format_result(result))
    _write_json(args.json, result.as_json())
    return 0 if result.lost == 0 and result.duplicated == 0 else 1


def _record(args: argparse.Namespace) -> int:
    from firmware_py.benchmarks.record import format_result, run_record_bench

    if not 0 < args.seconds < 3600:
        raise FirmwareError("--seconds must be in (0, 3600)")
    result = run_record_bench(args.seconds, args.buses)
    print(format_result(result))
    _write_json(args.json, result.as_json())
    return 0 if result.within_goal else 1


def _all(args: argparse.Namespace) -> int:
    import sys

    from firmware_py.benchmarks.suite import main as run_all

    return run_all(
        out=args.out,
        quick=args.quick,
        only=args.only,
        progress=lambda line: print(f"bench all: {line}", file=sys.stderr, flush=True),
    )


def _e2e(args: argparse.Namespace) -> int:
    import sys

    from firmware_py.benchmarks.e2e import format_result, native_launcher, run_e2e_bench

    if not 0 < args.seconds < 3600 or args.objects > 127:
        raise FirmwareError("--seconds must be in (0, 3600), --objects at most 127")
    if (args.profile is not None or args.lists is not None) and args.board:
        raise FirmwareError("--profile and --lists are of one run: not with --board")
    if args.box == "vehicle" and (args.board or args.uplink_period):
        raise FirmwareError(
            "--board and --uplink-period are the roadside unit's: not with --box vehicle"
        )
    if not 0 <= args.uplink_period <= 10:
        raise FirmwareError("--uplink-period must be in [0, 10] s")
    if args.board or args.cpu_share is not None or args.steps is not None or args.every_step:
        return _e2e_board(args)
    result = run_e2e_bench(
        args.seconds,
        args.objects,
        args.vcan_launcher or native_launcher,
        progress=lambda line: print(f"bench e2e: {line}", file=sys.stderr, flush=True),
        profile=args.profile,
        lists=args.lists,
        box=args.box,
        uplink_period_s=args.uplink_period,
    )
    print(format_result(result))
    _write_json(args.json, result.as_json())
    return 0 if result.within_goal else 1


def _e2e_board(args: argparse.Namespace) -> int:
    """``bench e2e --board``: exit status 0 when 4 full buses (the last step) are sustained."""
    import sys

    from firmware_py.benchmarks.e2e import E2eResult, native_launcher, run_e2e_bench
    from firmware_py.benchmarks.e2e_board import DEFAULT_STEPS, format_board, run_board_bench

    steps = tuple(args.steps or DEFAULT_STEPS)
    if not args.board or not (args.cpu_share is None or 0 < args.cpu_share <= 1):
        raise FirmwareError(
            "--cpu-share, --steps and --every-step go with --board; --cpu-share in (0, 1]"
        )
    if max(steps) > 127:
        raise FirmwareError("--steps: at most 127 objects per list")
    launch = args.vcan_launcher or native_launcher

    def progress(line: str) -> None:
        print(f"bench e2e --board: {line}", file=sys.stderr, flush=True)

    def run_step(objects: int, cpu_share: float | None) -> E2eResult:
        return run_e2e_bench(
            args.seconds,
            objects,
            launch,
            progress,
            board=True,
            cpu_share=cpu_share,
            uplink_period_s=args.uplink_period,
        )

    result = run_board_bench(steps, run_step, args.cpu_share, progress, args.every_step)
    print(format_board(result))
    _write_json(args.json, result.as_json())
    best = result.best
    return 0 if best is not None and best.objects == max(steps) else 1


def _write_json(path: Path | None, data: object) -> None:
    """Write a benchmark's ``--json`` report (nothing without ``--json``)."""
    if path is None:
        return
    try:
        path.write_text(json.dumps(data, indent=2) + "\n")
    except OSError as err:
        raise FirmwareError(f"cannot write {path}: {err.strerror or err}") from err
