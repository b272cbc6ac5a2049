"""Expectations on object lists without a ground truth: a recorded radar capture replayed.

A capture of a real sensor has no actors to compare with, but its stable objects are known
(from the capture's documentation): each must be in most of the lists, in the sensor's frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hil.recording import Recording
from hil.scenario_engine.expectations import (
    Expectation,
    capture_s,
    device_messages,
    until_text,
    window_of,
)


@dataclass(frozen=True, kw_only=True)
class ExpectObjectsNear(Expectation):
    """Object lists of ``sensor`` captured in [after_s, until_s]: for each point (forward,
    left, in metres, sensor frame) at least ``min_fraction`` of the lists hold an object within
    ``tolerance_m`` of it."""

    sensor: str
    points: tuple[tuple[float, float], ...]
    after_s: float = 0.0
    until_s: float | None = None
    tolerance_m: float = 0.5
    min_fraction: float = 0.8

    def describe(self) -> str:
        where = ", ".join(f"({x:g}, {y:g})" for x, y in self.points)
        return (
            f"{self.sensor}: objects within {self.tolerance_m:g} m of {where} m from "
            f"{self.after_s:g} s to {until_text(self.until_s)} in {100 * self.min_fraction:g} % "
            "of lists"
        )

    def _check(self, recording: Recording) -> tuple[bool, str]:
        lo, hi = window_of(self.after_s, self.until_s, recording)
        lists = [
            m.envelope.object_list
            for m in device_messages(recording, "objects")
            if m.envelope.HasField("object_list")
            and m.envelope.object_list.sensor_id == self.sensor
            and lo <= capture_s(recording, m) <= hi
        ]
        if not lists:
            return False, f"no object list from {self.sensor} captured in {lo:g}-{hi:g} s"
        fractions = []
        for x, y in self.points:
            near = sum(
                any(math.hypot(o.x_m - x, o.y_m - y) <= self.tolerance_m for o in ol.objects)
                for ol in lists
            )
            fractions.append(near / len(lists))
        measured = f"{len(lists)} lists; " + ", ".join(
            f"({x:g}, {y:g}) in {100 * f:.1f} %"
            for (x, y), f in zip(self.points, fractions, strict=True)
        )
        return all(f >= self.min_fraction for f in fractions), measured
