"""A car's powertrain bus driven live by an actor of the ground truth: its speed, acceleration,
brake, turn signals and hazard lights as the car's CAN frames, so that the box's own motion is
the scenario's (a replayed log's is not)."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from firmware_py.simulation.vehicle_can import FAST_PERIOD_S, SLOW_EVERY, VehicleCanSimulator
from hil.clock import ScenarioClock
from hil.emulators.base import ThreadedEmulator
from hil.emulators.can_sender import CanSender
from hil.emulators.gate import ChannelGate
from hil.world import GroundTruth

VEHICLE_MESSAGES = (
    "SPEED",
    "KINEMATICS",
    "BRAKE_MODULE",
    "STEER_ANGLE_SENSOR",
    "BLINKERS_STATE",
    "GEAR_PACKET",
)
"""The messages ``VehicleCanSimulator`` sends: a DBC for this emulator must define them."""


def missing_messages(db: Any) -> list[str]:
    """The ``VEHICLE_MESSAGES`` that the cantools database ``db`` does not define."""
    names = {message.name for message in db.messages}
    return [name for name in VEHICLE_MESSAGES if name not in names]


class VehicleCanEmulator(ThreadedEmulator):
    """Every 20 ms sends ``actor``'s state at that scenario time as the frames of ``db``
    (``VehicleCanSimulator.frames``: 50 Hz, blinkers and gear at 10 Hz) on ``channel``.

    Stats: ``ticks``, ``sent``, ``failed``, ``suppressed`` (bus-off), ``skipped`` (ticks missed
    after a stall: the next frames are the state now, never a burst of old ones).
    """

    def __init__(
        self,
        name: str,
        truth: GroundTruth,
        *,
        channel: str,
        actor: str,
        db: Any,
        interface: str = "socketcan",
        gate: ChannelGate | None = None,
    ) -> None:
        """Raises ``ValueError`` for an actor not in ``truth`` or a ``db`` lacking one of
        ``VEHICLE_MESSAGES``."""
        super().__init__(name)
        if actor not in truth.actors:
            raise ValueError(f"emulator {name!r}: no actor {actor!r} in the ground truth")
        missing = missing_messages(db)
        if missing:
            raise ValueError(f"emulator {name!r}: the DBC has no messages {missing}")
        self.channel = channel
        self.actor = actor
        self._truth = truth
        # Only frames() is used: the simulator's own bus is never opened.
        self._simulator = VehicleCanSimulator(
            truth.actors[actor], db, interface="virtual", channel="unused"
        )
        self._sender = CanSender(
            self._counts, name=name, channel=channel, interface=interface, gate=gate
        )
        for key in ("ticks", "sent", "failed", "suppressed", "skipped"):
            self._counts[key] = 0

    @property
    def delivered(self) -> Counter[int]:
        return self._sender.delivered

    def frames_at(self, tick: int) -> list[tuple[int, bytes]]:
        """The frames of tick ``tick`` (scenario time ``tick * 20 ms``)."""
        state = self._truth.state(self.actor, tick * FAST_PERIOD_S)
        return self._simulator.frames(state, slow=tick % SLOW_EVERY == 0)

    def _open(self) -> None:
        self._sender.open()

    def _close(self) -> None:
        self._sender.close()

    def _run(self, clock: ScenarioClock) -> None:
        tick = math.ceil(clock.now_s() / FAST_PERIOD_S)
        while not self._wait_until(tick * FAST_PERIOD_S):
            for frame_id, data in self.frames_at(tick):
                self._sender.send(frame_id, data)
            self._counts["ticks"] += 1
            # After a stall, go on from now: a car's ECUs send the present, not the past.
            now_tick = math.floor(clock.now_s() / FAST_PERIOD_S)
            self._counts["skipped"] += max(0, now_tick - tick - 1)
            tick = max(tick + 1, now_tick)
