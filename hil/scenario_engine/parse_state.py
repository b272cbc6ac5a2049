"""What a scenario file's sections parsed so far hold, for the sections after them, and the
bounds every section keeps to.

The loader reads the sections in order (``[scenario]``, ``[world]``, ``[[emulator]]``,
``[[fault]]``, ``[[expect]]``); later ones are checked against earlier ones: a GNSS emulator
follows a known actor, a fault targets a known emulator, an expectation names a known fault.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from firmware_py.simulation.world import Actor
from hil.scenario_engine.model import (
    EmulatorSpec,
    FaultSpec,
    ReplaySpec,
    SignalControllerSpec,
)
from hil.world import GroundTruth

# Bounds keep the actors' 100 Hz motion tables small and every number physical.
MAX_DURATION_S = 3600.0
MAX_SETTLE_S = 600.0
MAX_OFFSET_M = 100_000.0


@dataclass
class ParseState:
    """One file's parse so far: where it is, its times, and the sections read."""

    path: Path
    duration_s: float = 0.0
    end_s: float = 0.0  # duration + settle: the last moment an expectation may look at
    actors: dict[str, Actor] = field(default_factory=dict)
    truth: GroundTruth | None = None  # once [world] is read
    emulators: list[EmulatorSpec] = field(default_factory=list)
    faults: list[FaultSpec] = field(default_factory=list)
    replay: ReplaySpec | None = None  # once [replay] is read, when the file has one

    @property
    def base_dir(self) -> Path:
        """The folder relative paths in the file resolve against."""
        return self.path.parent

    def controllers(self) -> dict[str, SignalControllerSpec]:
        """The signal controller emulators, by name."""
        return {e.name: e for e in self.emulators if isinstance(e, SignalControllerSpec)}
