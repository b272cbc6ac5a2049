"""NMEA against gpsd: every capture of gpsd's regression suite, replayed through our assembler.

Each ``X.log`` in ``tests/data/gpsd`` is replayed line by line; gpsd's ``X.log.chk`` holds the
TPV (time-position-velocity) reports gpsd printed for the same stream. gpsd reports after
every sentence, so one epoch has several TPVs with the same ``time``, the later ones more
complete. Agreement is checked by time:

* every TPV with a ``time`` has a fix of ours with that time (no epoch is lost);
* in every such TPV, ``lat`` and ``lon`` agree within ``LAT_LON_DEG`` (1e-8 deg, about 1 mm;
  gpsd prints 9 decimals) and the altitude within ``ALT_M`` (1 mm; gpsd prints 4 decimals):
  ``altHAE`` when we report an ellipsoidal height, ``altMSL`` when the receiver gave no geoid
  separation (see ``test_gpsd_invents_a_geoid_separation_we_do_not``);
* the ``mode`` (1 no fix, 2 2D, 3 3D) of the *last* TPV of each time, gpsd's final word on the
  epoch, is ours.

Where gpsd differs on purpose (its quirks) the case is listed in ``Capture`` with the reason,
and the count of records that agree is pinned so that a regression shows as a number.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from protocols.nmea import AltitudeReference, FixMode, GnssFix, NmeaFixAssembler

GPSD = Path(__file__).resolve().parents[1] / "data" / "gpsd"
LAT_LON_DEG = 1e-8
ALT_M = 1e-3


@dataclass(frozen=True)
class Capture:
    """What we expect of one capture, and each way gpsd's report differs from ours (why)."""

    epochs: int  # distinct TPV times, all of which must be among our fixes
    records: int  # TPV records with a time, all of which must agree
    rejects: dict[str, int]
    # gpsd moves dates it thinks predate its build forward by whole GPS week rollovers.
    gpsd_date_shift: timedelta = timedelta(0)
    # time -> (our mode, gpsd's mode, why they differ)
    mode_differs: dict[str, tuple[FixMode, int, str]] = field(default_factory=dict)
    # time -> (our time, why the dates differ)
    date_differs: dict[str, tuple[str, str]] = field(default_factory=dict)
    allow_missing_checksum: bool = False


CAPTURES = {
    # Its 10 GNGNS are merged (into the epochs of its GNGGA, which wins); the 12 unsupported
    # are SiRF's $PSRF sentences.
    "beidou-bd.log": Capture(
        epochs=4, records=12, rejects={"malformed": 2, "unsupported": 12, "late": 2}
    ),
    # 23 GGAs have bad checksums (an empty quality field the receiver summed as a digit);
    # gpsd drops them too: its TPVs are 2D from RMC, without altitude.
    "firefly-II.log": Capture(epochs=23, records=23, rejects={"checksum": 23}),
    "gp-320fw-2019-04-07-coldboot.log": Capture(
        epochs=9,
        records=47,
        rejects={"checksum": 35, "malformed": 10, "no_checksum": 4, "late": 1},
        mode_differs={
            "2019-04-07T00:03:45.030Z": (
                FixMode.FIX_3D,
                1,
                "the receiver reboots after this epoch and its next timed sentences are "
                "garbled, so gpsd keeps this time on TPVs that carry the rebooted "
                "receiver's GSA (mode 1); the epoch's own GSA says 3D",
            )
        },
        date_differs={
            "2019-04-07T00:04:27.000Z": (
                "2010-09-26T00:04:27.000Z",
                "the rebooted receiver's dates are from a reset clock (2006, 2010, 1999); "
                "this epoch's ZDA comes after the epoch was returned, so we date it from "
                "the last RMC (2010-09-25 + midnight) and gpsd from its last good date",
            )
        },
    ),
    # The receiver sends GGA without time and with quality 0 while it has no fix (counted as
    # no_time), and at 2 Hz: VTG and HDT arrive twice per ZDA second (duplicates).
    "hemi.log": Capture(epochs=118, records=343, rejects={"no_time": 194, "duplicate": 195}),
    # No checksums at all: gpsd ignores every sentence (its .chk is empty), and so do we by
    # default; see test_checksum_less_receiver_when_configured.
    "hp58534a.log": Capture(epochs=0, records=0, rejects={"no_checksum": 13}),
    "mtk-3301.log": Capture(
        epochs=3,
        records=11,
        rejects={"unsupported": 12, "no_checksum": 3, "malformed": 12, "duplicate": 6},
        mode_differs={
            "2008-08-23T08:14:39.000Z": (
                FixMode.FIX_2D,
                3,
                "the epoch's GSA says 2D (3 satellites); gpsd reports 3D because GGA has an "
                "altitude; we report the receiver's own mode",
            )
        },
    ),
    "neo-m8n.log": Capture(
        epochs=22, records=22, rejects={}, gpsd_date_shift=timedelta(weeks=1024)
    ),
    "nmea-fuzzy-cases.log": Capture(epochs=14, records=14, rejects={}),
    "nmea-rtk.log": Capture(epochs=122, records=122, rejects={}),
    "quectelLC79D-1.log": Capture(epochs=29, records=288, rejects={"duplicate": 1}),
    # SiRFstarV sends a GPGGA and a GLGGA per epoch; the second is counted as a duplicate.
    "sirfstarv-nmea.log": Capture(epochs=59, records=59, rejects={"duplicate": 59}),
    "skytraq-PX1172RH_DS.log": Capture(
        epochs=9,
        records=13,
        rejects={"malformed": 3, "unsupported": 54},
    ),
    "skytraq-dgps.log": Capture(epochs=96, records=97, rejects={"unsupported": 96}),
    "triton400.log": Capture(
        epochs=5,
        records=14,
        rejects={"checksum": 1},
        mode_differs={
            "2013-04-01T03:01:30.000Z": (
                FixMode.FIX_2D,
                3,
                "this epoch's GGA is cut off by the next sentence (the capture's noted "
                "defect), so only its GLL is left: a position without altitude, 2D; gpsd "
                "keeps the previous epoch's 3D",
            )
        },
    ),
    "ublox-zed-f9p-nmea.log": Capture(epochs=29, records=35, rejects={}),
}


def replay(
    name: str, *, allow_missing_checksum: bool = False
) -> tuple[list[GnssFix], Counter[str]]:
    """Our fixes for a capture (its ``#`` comment lines skipped) and the rejects."""
    assembler = NmeaFixAssembler(allow_missing_checksum=allow_missing_checksum)
    fixes = []
    lines = [line for line in (GPSD / name).read_bytes().splitlines() if not line.startswith(b"#")]
    for line in lines:
        if (fix := assembler.feed(line)) is not None:
            fixes.append(fix)
    if (last := assembler.flush()) is not None:
        fixes.append(last)
    # Every line is used exactly once: merged into a fix or counted as a reject.
    assert sum(fix.sentences for fix in fixes) + assembler.rejects.total() == len(lines)
    assert sum(assembler.accepted.values()) == sum(fix.sentences for fix in fixes)
    return fixes, assembler.rejects


def tpv_by_time(name: str) -> dict[str, list[dict[str, Any]]]:
    records: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in (GPSD / f"{name}.chk").read_text().splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record["class"] == "TPV" and "time" in record:
                records[record["time"]].append(record)
    return records


def _iso(when: str) -> datetime:
    return datetime.fromisoformat(when.replace("Z", "+00:00"))


def _disagreements(fix: GnssFix, record: dict[str, Any]) -> list[str]:
    wrong = []
    for key, ours in (("lat", fix.latitude_deg), ("lon", fix.longitude_deg)):
        if key in record and (ours is None or abs(ours - record[key]) > LAT_LON_DEG):
            wrong.append(f"{key} {ours} != {record[key]}")
    if "altHAE" in record:
        gpsd_alt = record[
            "altHAE" if fix.altitude_reference is AltitudeReference.ELLIPSOID else "altMSL"
        ]
        if fix.altitude_m is None or abs(fix.altitude_m - gpsd_alt) > ALT_M:
            wrong.append(f"alt {fix.altitude_m} ({fix.altitude_reference}) != {gpsd_alt}")
    return wrong


@pytest.mark.parametrize("name", sorted(CAPTURES))
def test_fixes_agree_with_gpsd(name: str) -> None:
    capture = CAPTURES[name]
    fixes, rejects = replay(name, allow_missing_checksum=capture.allow_missing_checksum)
    assert dict(rejects) == capture.rejects
    ours = {fix.time: fix for fix in fixes if fix.time is not None}
    assert len(ours) == sum(1 for fix in fixes if fix.time is not None), "a time twice"
    by_time = tpv_by_time(name)
    matched_records = 0
    for when, records in by_time.items():
        our_time = capture.date_differs.get(when, (when, ""))[0]
        fix = ours.get(_iso(our_time) - capture.gpsd_date_shift)
        assert fix is not None, f"gpsd has an epoch at {when}, we do not"
        for record in records:
            assert _disagreements(fix, record) == [], (when, record)
            matched_records += 1
        expected_mode: FixMode | int = records[-1]["mode"]
        if when in capture.mode_differs:
            ours_mode, gpsd_mode, _why = capture.mode_differs[when]
            assert gpsd_mode == expected_mode  # the documented quirk is still gpsd's answer
            expected_mode = ours_mode
        assert fix.mode == expected_mode, when
    assert (len(by_time), matched_records) == (capture.epochs, capture.records)


def test_every_capture_is_checked() -> None:
    assert sorted(CAPTURES) == sorted(path.name for path in GPSD.glob("*.log"))
