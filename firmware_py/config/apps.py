"""``[apps]`` and ``[hmi]`` of a vehicle gateway's config: which Day-1 applications run, with
which thresholds, and where the HMI's JSON lines go.

```toml
[apps]
enabled = ["FCW", "ICW", "RLVW"]   # default: all of them
confirm_cycles = 2                 # found on this many cycles in a row, a finding warns
clear_after_s = 0.5                # absent this long, a warning ends

[apps.fcw]                         # any field of the application's settings, by name
ttc_s = 3.5

[hmi]
udp_host = "127.0.0.1"             # where the HMI listens; no [hmi]: no HMI output
udp_port = 47470
```
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from firmware_py.config.reader import Table

if TYPE_CHECKING:
    from edge.apps.day1.engine import EngineSettings

DEFAULT_HMI_PORT = 47470


@dataclass(frozen=True)
class AppsConfig:
    """The enabled applications' settings by code (registry order), and the engine's."""

    settings: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    engine: EngineSettings = field(default_factory=lambda: _engine_settings())


@dataclass(frozen=True)
class HmiConfig:
    udp_host: str
    udp_port: int


# The applications are imported when a config names them or a box runs them, not by every
# config read: with them comes the V2X codec (asn1tools, about 20 MiB), which a box without a
# radio never needs.


def _engine_settings(**values: Any) -> EngineSettings:
    from edge.apps.day1.engine import EngineSettings

    return EngineSettings(**values)


def default_apps() -> AppsConfig:
    """Every application with its documented defaults."""
    from edge.apps.day1.registry import app_specs

    specs = app_specs()
    return AppsConfig(
        MappingProxyType({code: spec.settings_type() for code, spec in specs.items()})
    )


def parse_apps(t: Table) -> AppsConfig:
    """``[apps]``; raises ``ConfigError`` naming the key for an unknown application or
    setting, or a value of the wrong type or sign."""
    from edge.apps.day1.registry import app_specs

    specs = app_specs()
    enabled = t.strings("enabled", tuple(specs))
    for code in enabled:
        if code not in specs:
            raise t.error("enabled", code, f"application codes among {sorted(specs)}")
    settings: dict[str, Any] = {}
    for code, spec in specs.items():
        table_key = code.lower()
        values = _settings(t.table(table_key), spec.settings_type) if t.has(table_key) else {}
        if code in enabled:
            try:
                settings[code] = spec.settings_type(**values)
            except ValueError as err:
                raise t.error(table_key, values, str(err)) from err
    engine = _engine_settings(
        confirm_cycles=t.integer("confirm_cycles", 2, low=1, high=50),
        clear_after_s=t.number("clear_after_s", 0.5, low=0.0, high=10.0),
    )
    t.reject_unknown()
    return AppsConfig(MappingProxyType(settings), engine)


def _settings(t: Table, settings_type: type[Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    defaults = settings_type()
    for item in dataclasses.fields(settings_type):
        if not t.has(item.name):
            continue
        default = getattr(defaults, item.name)
        if isinstance(default, bool):
            values[item.name] = t.boolean(item.name)
        elif isinstance(default, int):
            values[item.name] = t.integer(item.name, low=0 if default >= 0 else None)
        else:
            # A threshold keeps its sign: a deceleration stays negative, a time positive.
            value = t.number(item.name)
            if not math.isfinite(value) or (value < 0) != (default < 0):
                sign = "negative" if default < 0 else "not negative"
                raise t.error(item.name, value, f"a finite number, {sign}")
            values[item.name] = value
    t.reject_unknown()
    return values


def parse_hmi(t: Table) -> HmiConfig:
    """``[hmi]``: where the warnings' JSON lines go."""
    hmi = HmiConfig(
        udp_host=t.string("udp_host", "127.0.0.1"),
        udp_port=t.integer("udp_port", DEFAULT_HMI_PORT, low=1, high=65535),
    )
    t.reject_unknown()
    return hmi
