"""Record a ground-truth drive as the car's powertrain CAN log, for ``CanLogReplayer``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from firmware_py.simulation.vehicle_can import (
    FAST_PERIOD_S,
    SLOW_EVERY,
    VehicleCanSimulator,
)
from hal.can.frames import make_batch
from hal.can.log_files import write_can_log
from hil.world import GroundTruth

FRAME_SPACING_S = 0.00025
"""Gap between the frames of one tick: about one 8-byte frame's time at 500 kbit/s, so the
log looks like a bus (no two frames at one instant)."""


def write_vehicle_log(
    truth: GroundTruth,
    actor: str,
    db: Any,
    path: Path,
    *,
    duration_s: float,
    start_unix: float = 1_700_000_000.0,
) -> int:
    """Write the frames ``VehicleCanSimulator`` sends for ``actor`` (50 Hz, 10 Hz slow frames)
    over ``duration_s`` to ``path``; the format follows the suffix (``.log`` candump, ``.asc``,
    ``.blf``). Scenario time ``t`` is logged at Unix time ``start_unix + t``. Returns the
    number of frames written.

    Raises ``KeyError`` for an unknown actor, ``ValueError`` for a suffix python-can cannot
    write or a duration <= 0, ``hal.errors.LogFileError`` when the file cannot be written.
    """
    if not duration_s > 0:
        raise ValueError(f"duration must be positive, got {duration_s}")
    vehicle = truth.actors[actor]
    # Only frames() is used: the bus arguments are never opened.
    simulator = VehicleCanSimulator(vehicle, db, interface="virtual", channel="unused")
    ticks = round(duration_s / FAST_PERIOD_S)
    rows: list[tuple[float, int, bytes, int]] = []
    for tick in range(ticks):
        t_s = tick * FAST_PERIOD_S
        frames = simulator.frames(truth.state(actor, t_s), slow=tick % SLOW_EVERY == 0)
        rows += [
            (start_unix + t_s + i * FRAME_SPACING_S, frame_id, data, 0)  # 11-bit ids
            for i, (frame_id, data) in enumerate(frames)
        ]
    return write_can_log(path, make_batch(rows))
