"""What a scenario run observed: the daemon's MQTT output, the faults as executed, and what
the emulated hardware delivered. Expectations are checked against a ``Recording`` only."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hil.clock import ScenarioClock
from hil.world import GroundTruth
from protocols.schema.v1 import roadgate_pb2 as pb


@dataclass(frozen=True)
class Received:
    """One MQTT message from the daemon, as the bench's subscriber received it."""

    t_s: float  # receive time, scenario seconds
    topic: str
    stream: str  # last topic segment: state, objects, spat, events, health, status
    device_id: str
    retained: bool
    envelope: pb.Envelope


@dataclass(frozen=True)
class FaultWindow:
    """A fault as it was executed: ``start_s`` to ``end_s`` in scenario seconds."""

    kind: str
    target: str
    start_s: float
    end_s: float


@dataclass
class ReplayOutcome:
    """A scenario's ``[replay]``: its flight log played into a fresh daemon with the same
    config. ``recorded``: (MQTT topic, envelope) of everything the log says the daemon
    published, in the order it did; ``messages``: what the fresh daemon published, as the
    bench's subscriber received it (``t_s`` on the replay's own clock)."""

    recorded: list[tuple[str, pb.Envelope]]
    messages: list[Received]
    shift_s: float  # played time minus recorded time (the player's, at speed 1)
    speed: float
    sent: int  # items the player sent
    failed: int  # items it could not send
    skipped: int  # items of channels with no target
    # The re-runs (``hil.replay_rerun``; a roadside unit's object lists): why the replayed
    # daemon's CAN reads are not the recorded frames (None: the same frames in the same
    # order), the lists a fresh pipeline publishes fed those reads at the replayed daemon's
    # receive times, and at the recorded ones (None: not re-run, see ``rerun_error``).
    inputs_difference: str | None = None
    rerun_own_times: list[pb.Envelope] | None = None
    rerun_recorded_times: list[pb.Envelope] | None = None
    rerun_error: str | None = None


@dataclass
class Recording:
    """Everything one scenario run observed."""

    scenario: str
    device_id: str  # the daemon's device id
    clock: ScenarioClock
    truth: GroundTruth
    duration_s: float
    messages: list[Received] = field(default_factory=list)
    faults: list[FaultWindow] = field(default_factory=list)
    # Per CAN channel: arbitration id -> data frames the emulated hardware put on the bus
    # (sends that succeeded while the bus was up and not bus-off).
    can_delivered: dict[str, Counter[int]] = field(default_factory=dict)
    # Per CAN channel: the ids the daemon reads there (its kernel filter), None for every id.
    can_wanted: dict[str, frozenset[int] | None] = field(default_factory=dict)
    # Per GNSS emulator: epochs written while a reader had the port open.
    gnss_delivered: dict[str, int] = field(default_factory=dict)
    # Per C-V2X radio emulator: (arrival in scenario seconds, kind, decoded fields) of every
    # message the daemon handed the radio to broadcast.
    v2x_sent: dict[str, list[tuple[float, str, dict[str, Any]]]] = field(default_factory=dict)
    # Per HMI emulator: (arrival in scenario seconds, the decoded JSON line) of every warning
    # change the daemon sent its HMI.
    hmi_lines: dict[str, list[tuple[float, dict[str, Any]]]] = field(default_factory=dict)
    # Every emulator's own counters, for the report.
    emulator_stats: dict[str, dict[str, int]] = field(default_factory=dict)
    daemon_starts: list[float] = field(default_factory=list)  # scenario seconds
    # (boot id, sequence) of every message seen waiting in the daemon's outbox (polled, and
    # read just before every fault), and how many were still there after the run.
    outbox_seen: set[tuple[str, int]] = field(default_factory=set)
    outbox_left: int = 0
    # Which messages were left after the clean stop (empty when unknown): a message the
    # subscriber received whose acknowledgement came too late to delete it is not lost.
    outbox_left_keys: set[tuple[str, int]] = field(default_factory=set)
    replay: ReplayOutcome | None = None  # with [replay]: the flight log played back

    def stream(self, stream: str, device_id: str | None = None) -> list[Received]:
        """Messages of ``stream`` (from ``device_id`` when given), in arrival order."""
        return [
            m
            for m in self.messages
            if m.stream == stream and (device_id is None or m.device_id == device_id)
        ]
