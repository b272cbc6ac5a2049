"""SPaT from a fixed-time signal plan.

Where the signal controller is not (yet) connected, many deployed RSUs publish SPaT from the
controller's known fixed-time plan. Each signal group is green, then amber, then red, repeating
every cycle; the offsets say where in the cycle its green starts.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocols.schema.v1 import roadgate_pb2 as pb


@dataclass(frozen=True)
class SignalGroupPlan:
    signal_group: int
    green_start_s: float
    green_s: float
    amber_s: float = 3.0


@dataclass(frozen=True)
class FixedTimePlan:
    """A fixed-time plan: ``cycle_s`` long, anchored at Unix time ``epoch_s``."""

    intersection_id: int
    cycle_s: float
    groups: tuple[SignalGroupPlan, ...]
    epoch_s: float = 0.0

    def __post_init__(self) -> None:
        if self.cycle_s <= 0:
            raise ValueError(f"cycle_s must be positive, got {self.cycle_s}")
        for group in self.groups:
            if group.green_s + group.amber_s >= self.cycle_s:
                raise ValueError(
                    f"signal group {group.signal_group}: green {group.green_s} s + amber "
                    f"{group.amber_s} s must be shorter than the {self.cycle_s} s cycle"
                )

    def spat(self, now_s: float) -> pb.SignalPhaseTiming:
        """The phase and timing of every group at Unix time ``now_s``."""
        elapsed = now_s - self.epoch_s
        spat = pb.SignalPhaseTiming(
            intersection_id=self.intersection_id,
            cycle_counter=int(elapsed // self.cycle_s) % 2**32,
        )
        for group in self.groups:
            t = (elapsed - group.green_start_s) % self.cycle_s
            if t < group.green_s:
                state, remaining = pb.SIGNAL_STATE_GREEN, group.green_s - t
            elif t < group.green_s + group.amber_s:
                state, remaining = pb.SIGNAL_STATE_AMBER, group.green_s + group.amber_s - t
            else:
                state, remaining = pb.SIGNAL_STATE_RED, self.cycle_s - t
            spat.phases.append(
                pb.PhaseState(
                    signal_group=group.signal_group,
                    state=state,
                    min_end_s=remaining,
                    max_end_s=remaining,
                    likely_end_s=remaining,
                )
            )
        return spat
