"""The warnings an HMI (a dashboard display, a buzzer) reads: one JSON object per datagram
(a JSON line) on a ``DatagramLink``, usually UDP to a port on the same board.

Each line is ``{"v": 1, "change": "start"|"update"|"end", "id", "app", "type", "severity",
"time", "description", "remote_id", "ttc_s", "distance_m", "advised_speed_kph",
"latitude_deg", "longitude_deg"}``; ``ttc_s``, ``distance_m`` and ``advised_speed_kph`` are
null where they do not apply. A send the kernel refuses is counted, never raised: the HMI is
a display, the events stream is the record.
"""

from __future__ import annotations

import json
from collections import Counter

from hal.errors import HalError
from hal.net.port import DatagramLink
from protocols.schema.v1 import roadgate_pb2 as pb

HMI_FORMAT_VERSION = 1


def hmi_line(change: str, event: pb.TrafficEvent, unix_s: float) -> bytes:
    """The JSON line (UTF-8, newline-terminated) of a warning's ``change``."""

    def figure(value: float, scale: float = 1.0) -> float | None:
        return round(value * scale, 2) if value > 0 else None

    body = {
        "v": HMI_FORMAT_VERSION,
        "change": change,
        "id": event.event_id,
        "app": event.application,
        "type": pb.EventType.Name(event.type).removeprefix("EVENT_TYPE_"),
        "severity": pb.Severity.Name(event.severity).removeprefix("SEVERITY_").lower(),
        "time": round(unix_s, 3),
        "description": event.description,
        "remote_id": event.remote_id,
        "ttc_s": figure(event.time_to_collision_s),
        "distance_m": figure(event.distance_m),
        "advised_speed_kph": figure(event.advised_speed_mps, 3.6),
        "latitude_deg": round(event.position.latitude_deg, 7),
        "longitude_deg": round(event.position.longitude_deg, 7),
    }
    return (json.dumps(body, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


class HmiOutput:
    """Sends each warning change on ``link``. Counters: ``sent``, ``errors``."""

    def __init__(self, link: DatagramLink) -> None:
        self._link = link
        self.counters: Counter[str] = Counter({"sent": 0, "errors": 0})

    @property
    def link(self) -> DatagramLink:
        return self._link

    def warning(self, change: str, event: pb.TrafficEvent, unix_s: float) -> None:
        try:
            self._link.send(hmi_line(change, event, unix_s))
        except HalError:  # refused by the kernel, or the link is closed
            self.counters["errors"] += 1
            return
        self.counters["sent"] += 1
