"""The ``roadgate`` subcommands that ``hil`` contributes, registered through an entry point.

``firmware_py`` builds the command line but must not import ``hil`` (dependencies point one
way), so ``hil`` registers its commands under the ``roadgate.cli`` entry-point group, which the
CLI loads by name, the way python-can finds its interfaces.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hil.uml.runner import GuestResult


def register(commands: Any, groups: dict[str, Any]) -> None:
    """Add ``benchmark can`` and the ``hil`` commands to the parsers given."""
    bench_can = groups["benchmark"].add_parser(
        "can", help="fast SocketCAN reader vs plain python-can on the same vcan traffic"
    )
    bench_can.add_argument("--frames", type=int, default=20_000, help="frames per bus")
    bench_can.add_argument("--buses", type=int, default=1, help="vcan buses, one cangen each")
    bench_can.add_argument("--json", type=Path, dest="json_path", help="write results here")
    bench_can.set_defaults(handler=_bench_can)
    # bench e2e lives in firmware_py, which may not import hil: hil lends it the guest.
    groups["benchmark"].choices["e2e"].set_defaults(vcan_launcher=_run_with_vcan)

    hil = commands.add_parser(
        "hil", help="hardware-in-the-loop bench: scenarios against the real daemon on vcan"
    )
    actions = hil.add_subparsers(required=True, metavar="ACTION")
    for name, helptext, handler in (
        ("up", "create the vcan interfaces the scenarios need", _up),
        ("down", "delete the vcan interfaces the scenarios use", _down),
        ("list", "list the scenarios and what they check", _list),
    ):
        action = actions.add_parser(name, help=helptext)
        _scenario_arguments(action)
        action.set_defaults(handler=handler)
    run = actions.add_parser(
        "run",
        help="run scenarios (inside user-mode-linux where this kernel has no CAN)",
    )
    _scenario_arguments(run)
    run.add_argument("--json", type=Path, dest="json_path", help="write the report here")
    run.add_argument(
        "--workdir", type=Path, help="keep each run's files here (default: a temporary dir)"
    )
    run.add_argument(
        "--here",
        action="store_true",
        help="run in this kernel with the interfaces that exist (no guest, no ip link)",
    )
    run.set_defaults(handler=_run)


def _scenario_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "scenarios",
        nargs="*",
        metavar="SCENARIO",
        help="scenario files or names in hil/scenarios (default with --all: every one)",
    )
    parser.add_argument("--all", action="store_true", help="every scenario in hil/scenarios")


def _run_with_vcan(
    argv: Sequence[str], *, vcan: Sequence[str], cwd: Path, timeout_s: float, memory_mb: int
) -> GuestResult:
    """``hil.uml.runner.run_with_vcan``, imported when used (the CLI starts without it)."""
    from hil.uml.runner import run_with_vcan

    return run_with_vcan(argv, vcan=vcan, cwd=cwd, timeout_s=timeout_s, memory_mb=memory_mb)


def _bench_can(args: argparse.Namespace) -> int:
    from hil.can_benchmark import main

    return main(frames=args.frames, buses=args.buses, json_path=args.json_path)


def _up(args: argparse.Namespace) -> int:
    from hil import commands

    return _reporting_errors(lambda: commands.up(args.scenarios, args.all))


def _down(args: argparse.Namespace) -> int:
    from hil import commands

    return _reporting_errors(lambda: commands.down(args.scenarios, args.all))


def _list(args: argparse.Namespace) -> int:
    from hil import commands

    return _reporting_errors(lambda: commands.list_scenarios(args.scenarios, args.all))


def _run(args: argparse.Namespace) -> int:
    from hil import commands

    return _reporting_errors(
        lambda: commands.run(
            args.scenarios,
            args.all,
            json_path=args.json_path,
            workdir=args.workdir,
            here=args.here,
        )
    )


def _reporting_errors(action: Callable[[], int]) -> int:
    """Run ``action``; a ``HilError`` is a message for the user, not a traceback (status 2)."""
    from hil.errors import HilError

    try:
        return action()
    except HilError as err:
        print(f"roadgate: error: {err}", file=sys.stderr)
        return 2
