"""``roadgate bench e2e --box vehicle``: the real vehicle gateway on a full powertrain bus.

The traffic (written before the run as a candump log that ``e2e_player`` plays onto vcan0): a
car's drive (the EEBL drive of the demo and the HIL bench, repeated) as its Toyota powertrain
bus carries it, the signals the gateway maps (speed, kinematics, brake and steering every
``FAST_PERIOD_S`` (50 Hz), blinkers and gear every ``SLOW_EVERY``-th tick (10 Hz): their real
cycles, ``VehicleCanSimulator``'s frames, timed by a clock ``ECU_CLOCK_SKEW`` slow), and
every other message of the DBC with random payloads filling each tick up to ``FILL`` of the
500 kbit/s bus (nominal frame lengths, no stuff bits), back to back at the bit rate as on a
busy bus. A vehicle gateway reads one bus (``firmware_py.box.vehicle_gateway``) and asks the
kernel for its mapped messages only, so the filler costs it nothing but what the kernel's
filter does.

Latency of a stored vehicle state: the bridge's receive time minus the state's capture time,
which the gateway sets to the kernel timestamp of the newest motion frame its filter took
(``VehicleStateEstimator.capture_time_s``). The state is published every ``1 / STATE_RATE_HZ``
s: the configured period that stands for the roadside unit's fusion period in the goal. The
ECUs' clock is not the gateway's, so the newest frame is anything up to a cycle old when the
state's timer fires.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from firmware_py.benchmarks.e2e_traffic import BITRATE, frame_bits
from firmware_py.benchmarks.tick_accounting import ECU_CLOCK_SKEW
from firmware_py.simulation import world
from firmware_py.simulation.vehicle_can import FAST_PERIOD_S, SLOW_EVERY, VehicleCanSimulator
from protocols.dbc import load_dbc
from protocols.vss import load_mapping, shipped_mappings

DBC_NAME = "toyota_nodsu_pt_generated.dbc"
MAPPING = "toyota_nodsu_pt"
DBC_PATH = Path(__file__).resolve().parents[2] / "protocols" / "dbc" / "files" / DBC_NAME
CHANNEL = "vcan0"
FILL = 0.905
"""Share of each tick's bit times the frames take: as the radar buses' 100 objects (90.5 %
nominal, about 100 % with typical stuffing)."""
STATE_RATE_HZ = 10.0


@dataclass(frozen=True)
class VehicleTraffic:
    """What was written: ``frames`` in all on ``CHANNEL``, of which ``signal_frames`` are of
    the messages the gateway maps (what it reads), over ``seconds``."""

    path: Path
    frames: int
    signal_frames: int
    seconds: float
    bus_load: float

    @property
    def channels(self) -> tuple[str, ...]:
        return (CHANNEL,)

    def as_json(self) -> dict[str, Any]:
        """For ``from_json`` in the process that runs it."""
        return {**dataclasses.asdict(self), "path": str(self.path)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VehicleTraffic:
        """The ``VehicleTraffic`` ``as_json`` described. Raises ``KeyError``/``TypeError`` on
        another dict."""
        return cls(**{**data, "path": Path(data["path"])})


def mapped_messages() -> set[str]:
    """The Toyota DBC's messages the shipped mapping reads (the gateway's kernel filter is a
    subset: the ones its vehicle state needs)."""
    db = load_dbc(DBC_PATH).database
    return load_mapping(shipped_mappings()[MAPPING], db).messages()


def mapped_ids() -> set[int]:
    """The frame ids of ``mapped_messages``."""
    db = load_dbc(DBC_PATH).database
    return {db.get_message_by_name(name).frame_id for name in mapped_messages()}


def write_vehicle_traffic(path: Path, seconds: float, *, seed: int = 0) -> VehicleTraffic:
    """Write ``seconds`` of the powertrain bus (see the module) to the candump log ``path``
    (channel ``CHANNEL``, times from 0). Raises ``ValueError`` for ``seconds`` outside
    (0, 3600)."""
    if not 0 < seconds < 3600:
        raise ValueError(f"bad traffic: {seconds} s")
    db = load_dbc(DBC_PATH).database
    mapped = mapped_messages()
    filler = [m for m in db.messages if m.name not in mapped and not m.is_extended_frame]
    rng = np.random.default_rng(seed)
    drive = world.eebl_drive("ego", cruise_before_s=4.0, cruise_after_s=10.0)
    simulator = VehicleCanSimulator(drive, db, interface="virtual", channel="unused")
    tick_bits = FAST_PERIOD_S * BITRATE
    bit_s = 1.0 / BITRATE
    lines: list[str] = []
    signal_frames, bits_sent, next_filler = 0, 0, 0
    for tick in range(math.floor(seconds / FAST_PERIOD_S)):
        start = tick * FAST_PERIOD_S * ECU_CLOCK_SKEW
        at, used = start, 0
        for frame_id, data in simulator.frames(drive.state_at(start), slow=tick % SLOW_EVERY == 0):
            lines.append(f"({at:.6f}) {CHANNEL} {frame_id:03X}#{data.hex().upper()}")
            at += frame_bits(len(data)) * bit_s
            used += frame_bits(len(data))
            signal_frames += 1
        while True:
            message = filler[next_filler % len(filler)]
            bits = frame_bits(message.length)
            if used + bits > FILL * tick_bits:
                break
            data = rng.bytes(message.length)
            lines.append(f"({at:.6f}) {CHANNEL} {message.frame_id:03X}#{data.hex().upper()}")
            at += bits * bit_s
            used += bits
            next_filler += 1
        bits_sent += used
    path.write_text("\n".join(lines) + "\n")
    played_s = math.floor(seconds / FAST_PERIOD_S) * FAST_PERIOD_S * ECU_CLOCK_SKEW
    return VehicleTraffic(path, len(lines), signal_frames, played_s, bits_sent / played_s / BITRATE)
