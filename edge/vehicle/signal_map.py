"""Which DBC signal feeds which vehicle-state field, and how to convert it to SI.

A car's DBC names are the manufacturer's; the mapping (from the box config) names the DBC
message and signal for each canonical field, with the factor that turns the DBC's physical unit
into SI (km/h to m/s: 1/3.6; deg/s to rad/s: pi/180) and, for enumerations, the raw values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

NUMERIC_FIELDS = (
    "speed_mps",
    "yaw_rate_rad_s",
    "longitudinal_accel_mps2",
    "lateral_accel_mps2",
    "steering_wheel_angle_rad",
    "brake_pressure_pa",
    "brake_applied",
    "hazard_lights",
)
ENUM_FIELDS = ("turn_signal", "gear")
TURN_SIGNAL_NAMES = ("off", "left", "right", "hazard")
GEAR_NAMES = ("park", "reverse", "neutral", "drive")


@dataclass(frozen=True)
class SignalRef:
    """One DBC signal and the linear conversion ``si = physical * scale + offset``."""

    message: str
    signal: str
    scale: float = 1.0
    offset: float = 0.0


@dataclass(frozen=True)
class EnumSignalRef:
    """One DBC signal whose raw values name states (e.g. ``{1: "left", 2: "right"}``)."""

    message: str
    signal: str
    values: Mapping[int, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class VehicleSignalMap:
    """The mapping of one car model (its DBC) to canonical vehicle-state fields."""

    numeric: Mapping[str, SignalRef] = field(default_factory=lambda: MappingProxyType({}))
    enums: Mapping[str, EnumSignalRef] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        for name in self.numeric:
            if name not in NUMERIC_FIELDS:
                raise ValueError(f"unknown vehicle signal {name!r}; valid: {NUMERIC_FIELDS}")
        for name, ref in self.enums.items():
            if name not in ENUM_FIELDS:
                raise ValueError(f"unknown vehicle enum {name!r}; valid: {ENUM_FIELDS}")
            allowed = TURN_SIGNAL_NAMES if name == "turn_signal" else GEAR_NAMES
            for state in ref.values.values():
                if state not in allowed:
                    raise ValueError(f"{name}: unknown state {state!r}; valid: {allowed}")

    def messages(self) -> set[str]:
        """The DBC messages this mapping reads."""
        return {r.message for r in self.numeric.values()} | {r.message for r in self.enums.values()}
