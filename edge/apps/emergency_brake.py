"""Emergency electronic brake light (EEBL): warn followers when this vehicle brakes hard."""

from __future__ import annotations

from protocols.schema.v1 import roadgate_pb2 as pb

HARD_BRAKING_MPS2 = -4.0
"""SAE J2945/1 flags hard braking at 0.4 g."""


class EmergencyBrakeDetector:
    """Raises one event per hard-braking episode.

    An episode starts when the brake is applied and deceleration passes ``threshold_mps2``; it
    ends when deceleration falls below half of it, so a noisy signal at the threshold does not
    fire a burst of events.
    """

    def __init__(self, device_id: str, threshold_mps2: float = HARD_BRAKING_MPS2) -> None:
        if threshold_mps2 >= 0:
            raise ValueError(f"threshold_mps2 must be negative, got {threshold_mps2}")
        self._device_id = device_id
        self._threshold = threshold_mps2
        self._active = False
        self._count = 0

    def evaluate(self, state: pb.VehicleState) -> pb.TrafficEvent | None:
        """The event to publish for this state, if an episode starts now."""
        accel = state.longitudinal_accel_mps2
        if self._active:
            if accel > self._threshold / 2:
                self._active = False
            return None
        if not (state.brake_applied and accel <= self._threshold):
            return None
        self._active = True
        self._count += 1
        return pb.TrafficEvent(
            event_id=f"{self._device_id}-eebl-{self._count}",
            type=pb.EVENT_TYPE_EMERGENCY_BRAKE,
            severity=pb.SEVERITY_CRITICAL,
            position=state.position,
            radius_m=150.0,
            description=f"hard braking at {accel:.1f} m/s² from {state.speed_mps * 3.6:.0f} km/h",
        )
