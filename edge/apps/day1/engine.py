"""One cycle of the Day-1 applications, and warnings made of their findings.

Each cycle (the vehicle gateway's state rate, 10 Hz) places the ego vehicle in the picture of
what was heard, runs every application on it and keeps each finding's episode. A finding
found on ``confirm_cycles`` consecutive cycles starts an episode, which makes one
``pb.TrafficEvent`` for the events stream: a message that passed the reception filter but
was wrong (one corrupted or forged frame) moves the picture for one cycle only, so it never
becomes a warning. Every later cycle of an episode updates the HMI; an episode ends when its
finding has been absent for ``clear_after_s``, so a warning that flickers at a threshold is
still one warning.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from edge.apps.day1.ego import ego_of
from edge.apps.day1.findings import Day1App, Finding
from edge.apps.day1.heard_world import HeardWorld
from edge.apps.day1.picture import Picture
from protocols.schema.v1 import roadgate_pb2 as pb

log = logging.getLogger("edge.apps")


class WarningSink(Protocol):
    """Where warnings go besides the events stream (``edge.apps.day1.hmi.HmiOutput``):
    ``change`` is ``start``, ``update`` or ``end``."""

    def warning(self, change: str, event: pb.TrafficEvent, unix_s: float) -> None: ...


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """``confirm_cycles`` 2: a finding must persist over two cycles (100 ms at 10 Hz) before
    it warns; a single bad frame lasts one (engineering choice: the price is 100 ms of lead
    time, which the applications' thresholds include). ``clear_after_s`` 0.5: five cycles
    without the finding end a warning (engineering choice: it keeps one hazard one warning
    when a threshold is crossed back and forth)."""

    confirm_cycles: int = 2
    clear_after_s: float = 0.5

    def __post_init__(self) -> None:
        if self.confirm_cycles < 1:
            raise ValueError(f"confirm_cycles must be at least 1, got {self.confirm_cycles}")
        if not self.clear_after_s >= 0:
            raise ValueError(f"clear_after_s must not be negative, got {self.clear_after_s}")


@dataclass(slots=True)
class _Episode:
    event: pb.TrafficEvent
    last_seen_s: float


class Day1Engine:
    """Runs ``apps`` on ``world`` for each vehicle state. Counters: ``cycles``,
    ``<code>.warnings`` (episodes started), ``<code>.errors`` (an application that raised:
    logged and counted; the others still run)."""

    def __init__(
        self,
        device_id: str,
        world: HeardWorld,
        apps: Sequence[Day1App],
        *,
        sinks: Sequence[WarningSink] = (),
        settings: EngineSettings | None = None,
    ) -> None:
        self._device_id = device_id
        self._world = world
        self._apps = list(apps)
        self._sinks = list(sinks)
        self._settings = settings or EngineSettings()
        self._episodes: dict[tuple[str, str], _Episode] = {}
        self._candidates: dict[tuple[str, str], int] = {}  # found on this many cycles in a row
        self._count = 0
        self.counters: Counter[str] = Counter({"cycles": 0})
        for app in self._apps:
            self.counters[f"{app.code}.warnings"] = 0
            self.counters[f"{app.code}.errors"] = 0
        self.last_picture: Picture | None = None

    @property
    def codes(self) -> list[str]:
        return [app.code for app in self._apps]

    def cycle(self, state: pb.VehicleState, now_s: float) -> list[pb.TrafficEvent]:
        """Judge ``state`` at Unix ``now_s``: the warnings that start now (for the events
        stream). A state without a position (0, 0) is not judged."""
        p = state.position
        if (p.latitude_deg, p.longitude_deg) == (0.0, 0.0):
            self.counters["unplaced"] += 1
            return []
        self.counters["cycles"] += 1
        frame = self._world.centre_on(p.latitude_deg, p.longitude_deg, p.altitude_m)
        picture = self._world.picture(now_s)
        self.last_picture = picture
        ego = ego_of(state, frame, picture.lanes)
        findings: list[Finding] = []
        for app in self._apps:
            try:
                findings.extend(app.evaluate(ego, picture))
            except Exception:  # an application's bug must not silence the others
                if not self.counters[f"{app.code}.errors"]:
                    log.exception("Day-1 application %s failed", app.code)
                self.counters[f"{app.code}.errors"] += 1
        return self._episodes_after(findings, picture, now_s)

    def _episodes_after(
        self, findings: list[Finding], picture: Picture, now_s: float
    ) -> list[pb.TrafficEvent]:
        started = []
        candidates = {}
        places = _places(findings, picture)
        for finding, place in zip(findings, places, strict=True):
            key = (finding.app, finding.key)
            episode = self._episodes.get(key)
            if episode is None:
                seen = candidates[key] = self._candidates.get(key, 0) + 1
                if seen < self._settings.confirm_cycles:
                    continue
                episode = _Episode(self._event(finding, place), now_s)
                self._episodes[key] = episode
                self.counters[f"{finding.app}.warnings"] += 1
                # A copy: the episode's event is refreshed in place on later cycles.
                started.append(pb.TrafficEvent.FromString(episode.event.SerializeToString()))
                self._tell("start", episode.event, now_s)
                continue
            episode.last_seen_s = now_s
            _refresh(episode.event, finding, place)
            self._tell("update", episode.event, now_s)
        self._candidates = candidates
        for key, episode in list(self._episodes.items()):
            if now_s - episode.last_seen_s >= self._settings.clear_after_s:
                del self._episodes[key]
                self._tell("end", episode.event, now_s)
        return started

    def _event(self, finding: Finding, place: tuple[float, float, float]) -> pb.TrafficEvent:
        self._count += 1
        event = pb.TrafficEvent(
            event_id=f"{self._device_id}-{finding.app.lower()}-{self._count}",
            application=finding.app,
        )
        _refresh(event, finding, place)
        return event

    def _tell(self, change: str, event: pb.TrafficEvent, now_s: float) -> None:
        for sink in self._sinks:
            sink.warning(change, event, now_s)

    @property
    def active(self) -> list[pb.TrafficEvent]:
        """The warnings in progress."""
        return [episode.event for episode in self._episodes.values()]


def _places(findings: list[Finding], picture: Picture) -> list[tuple[float, float, float]]:
    """Every finding's (latitude, longitude, altitude), converted in one batch."""
    if not findings:
        return []
    east = np.array([f.east for f in findings])
    north = np.array([f.north for f in findings])
    lat, lon, alt = picture.frame.enu_to_geodetic(east, north, np.zeros(len(findings)))
    return list(zip(lat.tolist(), lon.tolist(), alt.tolist(), strict=True))


def _refresh(event: pb.TrafficEvent, finding: Finding, place: tuple[float, float, float]) -> None:
    event.type = finding.event_type
    event.severity = finding.severity
    event.description = finding.description
    event.position.latitude_deg, event.position.longitude_deg, event.position.altitude_m = place
    event.remote_id = finding.remote_id
    event.time_to_collision_s = finding.time_to_collision_s
    event.distance_m = finding.distance_m
    event.advised_speed_mps = finding.advised_speed_mps
    event.radius_m = finding.radius_m
