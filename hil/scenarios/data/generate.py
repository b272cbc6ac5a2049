"""Rebuild the Toyota EEBL drive logs: ``python -m hil.scenarios.data.generate``.

One drive, three formats (candump ``.log``, Vector ``.asc``, Vector ``.blf``), so that scenarios
replay the same frames through each of python-can's readers.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from firmware_py.simulation import world
from hil.emulators.vehicle_log import write_vehicle_log
from hil.world import GroundTruth
from protocols.dbc import load_dbc

HERE = Path(__file__).resolve().parent
TOYOTA_DBC = HERE.parents[2] / "protocols" / "dbc" / "files" / "toyota_nodsu_pt_generated.dbc"
ACTOR = "ego"
DURATION_S = 20.0
START_UNIX = 1_700_000_000.0
STEM = "toyota-eebl"
SUFFIXES = (".log", ".asc", ".blf")


def eebl_drive() -> GroundTruth:
    """The demo's EEBL drive (``firmware_py.simulation.world.eebl_drive``), braking at 4 s."""
    ego = world.eebl_drive(ACTOR, cruise_before_s=4.0, cruise_after_s=10.0)
    return GroundTruth(origin=world.INTERSECTION, actors={ACTOR: ego})


def log_paths(directory: Path = HERE) -> list[Path]:
    """The three logs of the drive in ``directory``."""
    return [directory / f"{STEM}{suffix}" for suffix in SUFFIXES]


def generate(directory: Path = HERE) -> list[Path]:
    """Write the three logs into ``directory``; returns their paths."""
    db = load_dbc(TOYOTA_DBC).database
    truth = eebl_drive()
    paths = log_paths(directory)
    for path in paths:
        write_vehicle_log(truth, ACTOR, db, path, duration_s=DURATION_S, start_unix=START_UNIX)
    return paths


def main() -> None:
    # The ASC header carries a local date: write it in UTC so every machine writes the same.
    os.environ["TZ"] = "UTC"
    time.tzset()
    for path in generate():
        print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
