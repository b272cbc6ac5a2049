"""Speeding: a roadside unit reports road users above the speed limit it enforces."""

from __future__ import annotations

from protocols.schema.v1 import roadgate_pb2 as pb

ENFORCEMENT_TOLERANCE_MPS = 5 / 3.6
"""What enforcement practice (and radar speed error) forgives above the limit."""


class SpeedingDetector:
    """One event per object and episode above ``limit_mps + tolerance_mps``.

    An episode ends when the object slows below ``limit_mps - hysteresis_mps`` or its sensor
    stops reporting it. Object ids are per sensor: several radars' lists interleave, and one
    radar's list saying nothing of another's objects must not end their episodes. The tolerance
    mirrors enforcement practice (and radar speed error): 51 km/h in a 50 zone is not reported.
    """

    def __init__(
        self,
        device_id: str,
        limit_mps: float,
        hysteresis_mps: float = 1.0,
        tolerance_mps: float = 0.0,
    ) -> None:
        if limit_mps <= 0:
            raise ValueError(f"limit_mps must be positive, got {limit_mps}")
        if tolerance_mps < 0:
            raise ValueError(f"tolerance_mps must not be negative, got {tolerance_mps}")
        self._tolerance = tolerance_mps
        self._device_id = device_id
        self._limit = limit_mps
        self._hysteresis = hysteresis_mps
        self._speeding: dict[str, set[int]] = {}  # sensor id -> objects in an episode
        self._count = 0

    def evaluate(self, objects: pb.ObjectList) -> list[pb.TrafficEvent]:
        """The events to publish for this object list."""
        events = []
        seen = set()
        speeding = self._speeding.setdefault(objects.sensor_id, set())
        for obj in objects.objects:
            seen.add(obj.object_id)
            if obj.object_id in speeding:
                if obj.speed_mps < self._limit - self._hysteresis:
                    speeding.discard(obj.object_id)
                continue
            if obj.speed_mps > self._limit + self._tolerance:
                speeding.add(obj.object_id)
                self._count += 1
                events.append(
                    pb.TrafficEvent(
                        event_id=f"{self._device_id}-speeding-{self._count}",
                        type=pb.EVENT_TYPE_SPEEDING,
                        severity=pb.SEVERITY_WARNING,
                        position=obj.position,
                        radius_m=50.0,
                        object_ids=[obj.object_id],
                        description=(
                            f"object {obj.object_id} at {obj.speed_mps * 3.6:.0f} km/h "
                            f"(limit {self._limit * 3.6:.0f} km/h)"
                        ),
                    )
                )
        speeding &= seen  # forget objects this sensor no longer reports
        return events
