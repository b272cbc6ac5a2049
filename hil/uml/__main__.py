"""``python -m hil.uml [--kernel PATH]``: boot the user-mode-linux kernel the runner would use
(or PATH) once, with the CAN modules and a vcan interface; exit status 0 when that worked.

``scripts/bootstrap.sh test`` uses it to decide whether the system's kernel can run here.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hil.uml.runner import VcanRunError, boot_check


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, boot once, print one line saying which kernel and how it went."""
    parser = argparse.ArgumentParser(prog="python -m hil.uml", description=__doc__)
    parser.add_argument("--kernel", type=Path, help="the linux.uml to boot (default: the runner's)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds (default 60)")
    parser.add_argument("--quiet", action="store_true", help="on failure, one line: why")
    args = parser.parse_args(argv)
    try:
        uml = boot_check(args.kernel, timeout_s=args.timeout)
    except VcanRunError as err:
        text = str(err)
        if args.quiet:
            # Why a kernel cannot run here is in its panic line, when it has one.
            lines = text.splitlines()
            text = next((line.strip() for line in lines if "Kernel panic" in line), lines[0])
        print(f"cannot boot: {text}", file=sys.stderr)
        return 1
    print(f"boots: {uml.describe()}, modules {uml.modules}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
