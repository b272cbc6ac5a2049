"""``replay_equal`` and ``replay_rerun_equal``: a replayed daemon publishes what the field
daemon published (issue 18, item 3).

With ``[replay]`` the bench plays the run's flight log into a fresh daemon with the same config
(``hil.replay_phase``). On a stream that its inputs drive, the fresh daemon must publish the
same envelopes, in the same order, as the log says the field daemon did, once the fields
that say when (or in which run) are cleared (``TIME_FIELDS``, ``OBJECT_TIME_FIELDS``):
``replay_equal``.

Only ``objects`` and ``events`` can be compared: ``health`` and ``status`` come from timers of
the box's clock (a replay shifts it, so they sample other moments and counts), a vehicle's
``state`` from a 10 Hz timer sampling its filter at whatever inputs came in by then, a fixed-time
plan's ``spat`` from a timer too, and a controller's ``spat`` is rate-limited by the box's
clock. An object list is published per radar cycle, stamped with the cycle's CAN receive time;
the replay's receive times differ from the field's by the player's shift plus both runs'
receive jitter, so capture times are compared after removing the shift, and the jitter is
reported. A radar's own list is its frames placed on the map: it comes again exactly. A
tracker's (fused) list, and an event raised on it, cannot: the tracker predicts over the time
between receive times, so its estimates, and with a large jitter its tracks, differ.
``replay_equal`` with ``position_tolerance_m`` compares them but for their kinematics (for a
quiet machine); ``replay_rerun_equal`` shows, whatever the jitter, that the receive times are
the only difference (``hil.replay_rerun``)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass

from google.protobuf import text_format

from hil.recording import Recording, ReplayOutcome
from hil.scenario_engine.expectations import EVENT_PREFIX, Expectation, unique
from protocols.schema.v1 import roadgate_pb2 as pb

REPLAY_STREAMS = ("objects", "events")
TIME_FIELDS = ("boot_id", "sequence", "capture_time_ns", "publish_time_ns", "clock_max_error_s")
"""The envelope's fields that say when it was made and in which run (the clock's error bound
grows with the time since the clock was last checked)."""
OBJECT_TIME_FIELDS = ("age_s",)
"""A fused track's age is the time since its birth: capture time minus capture time."""
OBJECT_KINEMATICS = (
    "x_m",
    "y_m",
    "vx_mps",
    "vy_mps",
    "position",
    "speed_mps",
    "heading_rad",
    "position_covariance",
    "velocity_covariance",
    "speed_accuracy_mps",
    "heading_accuracy_rad",
)
"""What a tracker predicts over the time between two lists' receive times (its motion model and
process noise), with ``position_tolerance_m``: compared within it (positions), or not at all."""
EVENT_KINEMATICS = ("position", "description")
"""An event's position is its track's; its description quotes the track's speed."""
METRES_PER_DEGREE = 111_195.0


def content(envelope: pb.Envelope, *, kinematics: bool = True) -> pb.Envelope:
    """``envelope`` without the fields that differ between runs fed the same inputs; without
    ``kinematics`` also without the tracker's predictions (``OBJECT_KINEMATICS``,
    ``EVENT_KINEMATICS``)."""
    copy = pb.Envelope()
    copy.CopyFrom(envelope)
    for name in TIME_FIELDS:
        copy.ClearField(name)  # type: ignore[arg-type]
    if copy.HasField("object_list"):
        cleared = OBJECT_TIME_FIELDS if kinematics else OBJECT_TIME_FIELDS + OBJECT_KINEMATICS
        for obj in copy.object_list.objects:
            for name in cleared:
                obj.ClearField(name)  # type: ignore[arg-type]
    if copy.HasField("event") and not kinematics:
        for name in EVENT_KINEMATICS:
            copy.event.ClearField(name)  # type: ignore[arg-type]
    return copy


def distances_m(a: pb.Envelope, b: pb.Envelope) -> list[float]:
    """How far apart the positions of ``a`` and ``b`` are, object by object (an object list's
    x_m/y_m) or for the event (its WGS84 position), in metres; ``a`` and ``b`` are equal but
    for their kinematics."""
    if a.HasField("object_list"):
        return [
            math.hypot(p.x_m - q.x_m, p.y_m - q.y_m)
            for p, q in zip(a.object_list.objects, b.object_list.objects, strict=True)
        ]
    if a.HasField("event"):
        p, q = a.event.position, b.event.position
        north = (p.latitude_deg - q.latitude_deg) * METRES_PER_DEGREE
        east = (
            (p.longitude_deg - q.longitude_deg)
            * METRES_PER_DEGREE
            * math.cos(math.radians(p.latitude_deg))
        )
        return [math.hypot(north, east)]
    return []


def first_difference(a: pb.Envelope, b: pb.Envelope) -> str:
    """The first line on which the text forms of ``a`` and ``b`` differ, as ``a | b``."""
    lines_a = text_format.MessageToString(a).splitlines()
    lines_b = text_format.MessageToString(b).splitlines()
    for line_a, line_b in zip(lines_a, lines_b, strict=False):
        if line_a != line_b:
            return f"{line_a.strip()} | {line_b.strip()}"
    return f"{len(lines_a)} lines | {len(lines_b)} lines"


@dataclass(frozen=True, kw_only=True)
class ExpectReplayEqual(Expectation):
    """Every envelope of ``stream`` (of ``sensor``'s lists only, when given) that the flight
    log says the field daemon published, the replayed daemon published too, in the same order,
    equal in content (``content``), and nothing else on that stream.

    With ``position_tolerance_m``, for what a tracker made (fused lists, the events it
    raises): equal but for the kinematics (``OBJECT_KINEMATICS``, ``EVENT_KINEMATICS``), and
    every position within that distance of the recorded one. A tracker predicts its tracks
    over the time between two lists' receive times, which the kernel stamps; replayed, those
    differ from the field's by the receive jitter of both runs (reported), so its estimates
    do too."""

    stream: str
    sensor: str | None = None
    event_type: str | None = None  # EventType name without EVENT_TYPE_
    position_tolerance_m: float | None = None

    def describe(self) -> str:
        of = f" of {self.sensor or self.event_type}" if self.sensor or self.event_type else ""
        but = "time fields"
        if self.position_tolerance_m is not None:
            but += f", positions within {self.position_tolerance_m:g} m"
        return f"replayed, the recorded {self.stream}{of} come again, equal but for {but}"

    def _check(self, recording: Recording) -> tuple[bool, str]:
        replay = recording.replay
        if replay is None:
            return False, "the run was not replayed (the scenario has no [replay])"
        recorded = self._selected(
            envelope for topic, envelope in replay.recorded if topic.endswith(f"/{self.stream}")
        )
        replayed = self._selected(
            m.envelope
            for m in unique(
                m
                for m in replay.messages
                if m.stream == self.stream and m.device_id == recording.device_id
            )[0]
        )
        if not recorded:
            return False, f"nothing to compare: the log holds no {self.stream} envelope"
        counts = f"{len(recorded)} recorded, {len(replayed)} replayed"
        pairs = list(zip(recorded, replayed, strict=False))
        exact = self.position_tolerance_m is None
        same = [content(a, kinematics=exact) == content(b, kinematics=exact) for a, b in pairs]
        differ = [i for i, equal in enumerate(same) if not equal]
        measured = f"{counts}, {sum(same)} equal"
        passed = not differ and len(recorded) == len(replayed)
        if not exact:
            far = max(
                (
                    d
                    for (a, b), equal in zip(pairs, same, strict=True)
                    if equal
                    for d in distances_m(a, b)
                ),
                default=0.0,
            )
            measured += f" but for kinematics, positions at most {far:.3g} m apart"
            passed = passed and far <= (self.position_tolerance_m or 0.0)
        measured += f"; {_player(replay)}; {_lateness(pairs, replay)}"
        if differ:
            a, b = pairs[differ[0]]
            measured += (
                f"; first difference at #{differ[0]}: "
                f"{first_difference(content(a, kinematics=exact), content(b, kinematics=exact))}"
            )
        return passed, measured

    def _selected(self, envelopes: Iterable[pb.Envelope]) -> list[pb.Envelope]:
        return selected(envelopes, self.sensor, self.event_type)


def selected(
    envelopes: Iterable[pb.Envelope], sensor: str | None, event_type: str | None
) -> list[pb.Envelope]:
    """Of ``sensor`` or ``event_type`` when given, each (boot, sequence) once, in publishing
    order."""
    seen: dict[tuple[str, int], pb.Envelope] = {}
    wanted = None if event_type is None else pb.EventType.Value(EVENT_PREFIX + event_type)
    for e in envelopes:
        if (sensor is None or e.object_list.sensor_id == sensor) and (
            wanted is None or e.event.type == wanted
        ):
            seen.setdefault((e.boot_id, e.sequence), e)
    # One boot each (no faults with [replay]): the sequence is the publishing order.
    return [seen[key] for key in sorted(seen)]


def _player(replay: ReplayOutcome) -> str:
    text = f"player sent {replay.sent} items at speed {replay.speed:g}"
    if replay.failed:
        text += f", {replay.failed} NOT sent"
    return text


def _lateness(pairs: list[tuple[pb.Envelope, pb.Envelope]], replay: ReplayOutcome) -> str:
    """Replayed capture time minus recorded capture time minus the player's shift (at speed
    1; the shift moves every item alike): the kernel's receive jitter, both runs'."""
    if not pairs or replay.speed != 1.0:
        return "capture times not compared"
    shift_ns = round(replay.shift_s * 1e9)
    late_ms = [(b.capture_time_ns - a.capture_time_ns - shift_ns) / 1e6 for a, b in pairs]
    return (
        f"capture time minus the recorded one minus the shift ({replay.shift_s:.2f} s): median "
        f"{statistics.median(late_ms):.2f} ms, {min(late_ms):.2f} to {max(late_ms):.2f} ms"
    )


RERUN_FIELDS = ("boot_id", "sequence", "publish_time_ns", "clock_max_error_s")
"""What a re-run cannot give again: which run, and when the uplink sent it."""


def rerun_content(envelope: pb.Envelope) -> pb.Envelope:
    """``envelope`` without ``RERUN_FIELDS``; its capture time and every track's age stay."""
    copy = pb.Envelope()
    copy.CopyFrom(envelope)
    for name in RERUN_FIELDS:
        copy.ClearField(name)  # type: ignore[arg-type]
    return copy


@dataclass(frozen=True, kw_only=True)
class ExpectReplayRerunEqual(Expectation):
    """For what depends on receive times (a tracker's lists, the events raised on them): the
    replayed daemon read the recorded frames, the same in the same order on every bus; fed
    those reads, a fresh pipeline built from the same config publishes exactly the envelopes
    of ``stream`` (of ``sensor`` or ``event_type`` when given) that the replayed daemon
    published, capture times and ages included; and fed them at the receive times the field
    daemon recorded, exactly the recorded ones. So a replayed envelope differs from its
    recorded one through the receive times alone, which the kernel stamps and a replay
    cannot give again. (The re-run is fed CAN only: events of the box's ports and clock,
    SENSOR_FAULT and CLOCK_FAULT, are not its to give.)"""

    stream: str
    sensor: str | None = None
    event_type: str | None = None

    def _selected(self, envelopes: Iterable[pb.Envelope]) -> list[pb.Envelope]:
        return selected(envelopes, self.sensor, self.event_type)

    def describe(self) -> str:
        of = f" of {self.sensor or self.event_type}" if self.sensor or self.event_type else ""
        return (
            f"replayed, the daemon reads the recorded frames, and its {self.stream}{of} are "
            "the pipeline's on them: at its receive times as it published, at the recorded "
            "ones as recorded"
        )

    def _check(self, recording: Recording) -> tuple[bool, str]:
        replay = recording.replay
        if replay is None:
            return False, "the run was not replayed (the scenario has no [replay])"
        if replay.rerun_error is not None:
            return False, f"re-run failed: {replay.rerun_error}"
        if replay.inputs_difference is not None:
            return False, f"the replayed daemon read other frames: {replay.inputs_difference}"
        if replay.rerun_own_times is None or replay.rerun_recorded_times is None:
            return False, "not re-run (not a roadside unit)"
        published = self._selected(
            m.envelope
            for m in unique(
                m
                for m in replay.messages
                if m.stream == self.stream and m.device_id == recording.device_id
            )[0]
        )
        recorded = self._selected(
            e for topic, e in replay.recorded if topic.endswith(f"/{self.stream}")
        )
        if not recorded:
            return False, f"nothing to compare: the log holds no {self.stream} envelope"
        body = "object_list" if self.stream == "objects" else "event"
        own = _agreement(self._selected(_rerun(replay.rerun_own_times, body)), published)
        field = _agreement(self._selected(_rerun(replay.rerun_recorded_times, body)), recorded)
        measured = (
            "the same frames in the same order; re-run at its receive times: "
            f"{own[1]}; at the recorded ones: {field[1]}"
        )
        return own[0] and field[0], measured


def _rerun(envelopes: list[pb.Envelope], body: str) -> list[pb.Envelope]:
    """A re-run's envelopes of one body, numbered in the order it queued them (its outbox
    numbers them so already)."""
    return [e for e in envelopes if e.WhichOneof("body") == body]


def _agreement(rerun: list[pb.Envelope], published: list[pb.Envelope]) -> tuple[bool, str]:
    """(all equal, what was seen) for a re-run's lists against published ones."""
    pairs = list(zip(rerun, published, strict=False))
    differ = [i for i, (a, b) in enumerate(pairs) if rerun_content(a) != rerun_content(b)]
    text = f"{len(pairs) - len(differ)} of {len(published)} equal ({len(rerun)} re-run)"
    if differ:
        a, b = (rerun_content(e) for e in pairs[differ[0]])
        text += f", first difference at #{differ[0]}: {first_difference(a, b)}"
    return not differ and len(rerun) == len(published), text
