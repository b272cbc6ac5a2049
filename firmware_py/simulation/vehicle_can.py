"""A simulated car's powertrain bus: its actor's motion as Toyota CAN frames on a real bus.

Frames go out through a ``CanPort`` (python-can's virtual bus in the demo, vcan or a real
adapter on a bench) at the rates the car's ECUs use, so the gateway under test reads them
exactly as it would read the car.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import cantools.database

from firmware_py.simulation.world import Actor, ActorState
from hal.can.registry import SEND_ONLY, create_can_port

TURN_SIGNAL_RAW = {"left": 1, "right": 2, "off": 3}
GEAR_DRIVE_RAW = 0
FAST_PERIOD_S = 0.02  # 50 Hz: speed, kinematics, brake, steering
SLOW_EVERY = 5  # every 5th tick (10 Hz): blinkers, gear


class VehicleCanSimulator:
    """Sends ``actor``'s state as frames of ``db`` on ``interface``/``channel``."""

    def __init__(
        self, actor: Actor, db: Any, *, interface: str, channel: str, epoch_s: float = 0.0
    ) -> None:
        self._actor = actor
        self._db: cantools.database.can.Database = db
        self._interface = interface
        self._channel = channel
        self._epoch = epoch_s
        self.frames_sent = 0

    def frames(self, state: ActorState, slow: bool) -> list[tuple[int, bytes]]:
        """The frames describing ``state``; the 10 Hz ones too when ``slow``."""
        values: dict[str, dict[str, float]] = {
            "SPEED": {"SPEED": state.speed_mps * 3.6},
            "KINEMATICS": {
                "YAW_RATE": math.degrees(state.yaw_rate_rad_s),
                "ACCEL_X": state.accel_mps2,
                "ACCEL_Y": 0.0,
            },
            "BRAKE_MODULE": {"BRAKE_PRESSED": int(state.brake)},
            "STEER_ANGLE_SENSOR": {"STEER_ANGLE": 0.0},
        }
        if slow:
            values["BLINKERS_STATE"] = {
                "TURN_SIGNALS": TURN_SIGNAL_RAW[state.turn_signal],
                "HAZARD_LIGHT": int(state.hazard),
            }
            values["GEAR_PACKET"] = {"GEAR": GEAR_DRIVE_RAW}
        out = []
        for name, signals in values.items():
            message = self._db.get_message_by_name(name)
            data: dict[str, float] = {s.name: 0.0 for s in message.signals}
            data.update(signals)
            out.append((message.frame_id, message.encode(data, strict=False)))
        return out

    async def run(self) -> None:
        """Send frames until cancelled. Raises ``PortOpenError`` when the bus cannot be opened,
        ``TransmitError`` when a frame cannot be sent."""
        port = create_can_port("vehicle-sim", self._interface, self._channel, wanted=SEND_ONLY)
        with port:
            loop = asyncio.get_running_loop()
            next_tick, tick = loop.time(), 0
            while True:
                state = self._actor.state_at(time.time() - self._epoch)
                for frame_id, data in self.frames(state, slow=tick % SLOW_EVERY == 0):
                    port.send(frame_id, data)
                    self.frames_sent += 1
                tick += 1
                next_tick += FAST_PERIOD_S
                await asyncio.sleep(max(0.0, next_tick - loop.time()))
