"""What ``roadgate nmea`` prints: the fixes of an NMEA 0183 stream, one line per receiver epoch.

Plain output is one human-readable line per fix; ``--json`` prints one JSON object per fix
with gpsd-like keys: ``time`` (ISO 8601 UTC), ``mode`` (gpsd's: 1 no fix, 2 2D, 3 3D),
``lat``, ``lon`` (degrees), ``alt`` (metres, ``alt_ref`` says ellipsoid or MSL), ``quality``
(the GGA code), ``sats``, ``hdop``, ``speed`` (m/s) and ``course`` (degrees); a field the
receiver did not send is null. No input makes it fail: sentences it cannot use are counted by
reason (the summary on stderr), and a fix with a value that is not finite (which the parser
never lets through) would be counted as ``non_finite`` and not printed.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TextIO

from firmware_py.cli.text_input import (
    line_batches,
    open_input,
)
from protocols.nmea import FixQuality, GnssFix, NmeaFixAssembler

NO_FIX, FIX_2D, FIX_3D = 1, 2, 3
"""gpsd's TPV ``mode`` values."""


@dataclass
class NmeaSummary:
    """Counts of one run: fixes printed and the assembler's rejects by reason."""

    fixes: int = 0
    rejects: Counter[str] = field(default_factory=Counter)


def fix_mode(fix: GnssFix) -> int:
    """gpsd's mode of ``fix``: the receiver's own (GSA) when it sent one, else inferred as
    gpsd does: no position or quality NONE is no fix, an altitude makes it 3D, else 2D."""
    if fix.mode is not None:
        return int(fix.mode)
    if fix.latitude_deg is None or fix.longitude_deg is None or fix.quality == FixQuality.NONE:
        return NO_FIX
    return FIX_3D if fix.altitude_m is not None else FIX_2D


def fix_record(fix: GnssFix) -> dict[str, object]:
    """The JSON object of one fix (the keys of the module docstring)."""
    return {
        "time": _iso_time(fix),
        "mode": fix_mode(fix),
        "lat": fix.latitude_deg,
        "lon": fix.longitude_deg,
        "alt": fix.altitude_m,
        "alt_ref": fix.altitude_reference.value if fix.altitude_reference else None,
        "quality": int(fix.quality),
        "sats": fix.satellites,
        "hdop": fix.hdop,
        "speed": fix.speed_mps,
        "course": fix.course_deg,
    }


def fix_text(fix: GnssFix) -> str:
    """One human-readable line: time, mode, position, altitude and the rest."""
    mode = {NO_FIX: "no-fix", FIX_2D: "2D", FIX_3D: "3D"}.get(fix_mode(fix), "?")
    parts = [_iso_time(fix) or "-", mode]
    if fix.latitude_deg is not None and fix.longitude_deg is not None:
        parts.append(f"{fix.latitude_deg:.7f} {fix.longitude_deg:.7f}")
    if fix.altitude_m is not None:
        reference = fix.altitude_reference.value if fix.altitude_reference else ""
        parts.append(f"alt={fix.altitude_m:.2f}m {reference}".rstrip())
    parts.append(f"quality={fix.quality.name}")
    if fix.satellites is not None:
        parts.append(f"sats={fix.satellites}")
    if fix.hdop is not None:
        parts.append(f"hdop={fix.hdop:g}")
    if fix.speed_mps is not None:
        parts.append(f"speed={fix.speed_mps:.3f}m/s")
    if fix.course_deg is not None:
        parts.append(f"course={fix.course_deg:g}deg")
    return " ".join(parts)


def iter_fixes(assembler: NmeaFixAssembler, batches: Iterator[list[bytes]]) -> Iterator[GnssFix]:
    """Feed every line of ``batches`` to ``assembler``; yield the fixes, the last one flushed."""
    for batch in batches:
        for line in batch:
            if line.strip():
                fix = assembler.feed(line)
                if fix is not None:
                    yield fix
    last = assembler.flush()
    if last is not None:
        yield last


def run_nmea(
    source: str, out: TextIO, *, as_json: bool = False, allow_missing_checksum: bool = False
) -> NmeaSummary:
    """Print the fixes of the NMEA stream ``source`` (a path or ``-``) to ``out``.

    Returns the counts of the run. Raises ``FirmwareError`` when the file cannot be read.
    """
    assembler = NmeaFixAssembler(allow_missing_checksum=allow_missing_checksum)
    summary = NmeaSummary(rejects=assembler.rejects)
    with open_input(source) as stream:
        for fix in iter_fixes(assembler, line_batches(stream)):
            record = fix_record(fix)
            if any(isinstance(v, float) and not math.isfinite(v) for v in record.values()):
                summary.rejects["non_finite"] += 1
                continue
            summary.fixes += 1
            text = json.dumps(record, allow_nan=False) if as_json else fix_text(fix)
            out.write(text + "\n")
    out.flush()
    return summary


def _iso_time(fix: GnssFix) -> str | None:
    if fix.time is None:
        return None
    # gpsd's format: milliseconds and a Z.
    return fix.time.strftime("%Y-%m-%dT%H:%M:%S.") + f"{fix.time.microsecond // 1000:03d}Z"
