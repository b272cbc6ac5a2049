"""Unit conversion between DBC units and the units the VSS catalogue uses.

Every unit here is linear (no offset): a value converts by one factor. Names are VSS's own
(``km/h``, ``m/s^2``, ``degrees``, ``degrees/s``, ``kPa``, ``percent``) plus the spellings DBC
files use for them (``kph``, ``deg``, ``deg/s``, ``bar``, ``%``, ...).
"""

from __future__ import annotations

import math

# unit -> (dimension, factor to that dimension's base unit)
_UNITS: dict[str, tuple[str, float]] = {
    "km/h": ("speed", 1 / 3.6),
    "m/s": ("speed", 1.0),
    "mph": ("speed", 0.44704),
    "m/s^2": ("acceleration", 1.0),
    "g": ("acceleration", 9.80665),
    "degrees": ("angle", 1.0),
    "rad": ("angle", 180 / math.pi),
    "degrees/s": ("angular rate", 1.0),
    "rad/s": ("angular rate", 180 / math.pi),
    "Pa": ("pressure", 1.0),
    "hPa": ("pressure", 100.0),
    "kPa": ("pressure", 1000.0),
    "MPa": ("pressure", 1e6),
    "mbar": ("pressure", 100.0),
    "bar": ("pressure", 1e5),
    "psi": ("pressure", 6894.757293168361),
    "percent": ("ratio", 1.0),
    "ratio": ("ratio", 100.0),
    "N": ("force", 1.0),
    "kN": ("force", 1000.0),
    "Nm": ("torque", 1.0),
    "rpm": ("rotational speed", 1.0),
    "celsius": ("temperature", 1.0),
}

_ALIASES = {
    "kph": "km/h",
    "kmh": "km/h",
    "km/hr": "km/h",
    "m/s2": "m/s^2",
    "m/s/s": "m/s^2",
    "m/s²": "m/s^2",
    "deg": "degrees",
    "degs": "degrees",
    "degree": "degrees",
    "°": "degrees",
    "deg/s": "degrees/s",
    "degs/s": "degrees/s",
    "°/s": "degrees/s",
    "rad/sec": "rad/s",
    "%": "percent",
    "pct": "percent",
    "kpa": "kPa",
    "mpa": "MPa",
    "hpa": "hPa",
    "pa": "Pa",
    "n": "N",
    "nm": "Nm",
    "degc": "celsius",
    "°c": "celsius",
}


def canonical_unit(name: str) -> str | None:
    """VSS's spelling of unit ``name`` (``"kph"`` -> ``"km/h"``), or None if unknown."""
    text = name.strip()
    if text in _UNITS:
        return text
    return _ALIASES.get(text.lower(), text if text in _UNITS else None)


def known_units() -> list[str]:
    """Every unit name (VSS spelling) a conversion can use."""
    return sorted(_UNITS)


def conversion_factor(source: str, target: str) -> float:
    """The factor turning a value in ``source`` into ``target`` (both any known spelling).

    Raises ``ValueError`` when either unit is unknown or they measure different things.
    """
    src, dst = canonical_unit(source), canonical_unit(target)
    if src is None or dst is None:
        unknown = source if src is None else target
        raise ValueError(f"unknown unit {unknown!r} (known: {', '.join(known_units())})")
    (src_dim, src_factor), (dst_dim, dst_factor) = _UNITS[src], _UNITS[dst]
    if src_dim != dst_dim:
        same = [u for u, (dim, _) in _UNITS.items() if dim == dst_dim]
        raise ValueError(
            f"cannot convert {source!r} ({src_dim}) to {target!r} ({dst_dim}); "
            f"convertible to {target!r}: {', '.join(same)}"
        )
    return src_factor / dst_factor
