"""GNSS: the receiver's port is there and a fix arrives within a deadline, read the way the
box reads it (hal's serial port, the NMEA fix assembler)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from firmware_py.config.model import SIMULATED, GnssConfig
from firmware_py.doctor.findings import Finding, failed, passed
from hal.errors import HalError
from hal.serial.pyserial_port import PySerialLinePort
from protocols.nmea import NmeaFixAssembler
from protocols.nmea.fix import FixQuality


def check_gnss(
    gnss: GnssConfig | None,
    timeout_s: float,
    monotonic: Callable[[], float] = time.monotonic,
) -> Finding:
    """Wait up to ``timeout_s`` for a fix from ``gnss``'s port."""
    if gnss is None:
        return passed("gnss", "no [gnss] configured")
    if gnss.port == SIMULATED:
        return passed("gnss", "simulated receiver: nothing to check on the board")
    is_path = "://" not in gnss.port
    if is_path and not Path(gnss.port).exists():
        return failed(
            "gnss",
            f"no GNSS port {gnss.port}",
            "plug the receiver in and check `ls -l /dev/serial/by-id` (and the udev rule "
            "making the name), or correct [gnss] port",
        )
    port = PySerialLinePort("gnss", gnss.port, baudrate=gnss.baudrate)
    fixes = NmeaFixAssembler(allow_missing_checksum=gnss.allow_missing_checksum)
    lines = no_fix = 0
    try:
        with port:
            started = monotonic()
            while (waited := monotonic() - started) < timeout_s:
                for line in port.read_lines(timeout=min(0.2, timeout_s - waited)):
                    lines += 1
                    fix = fixes.feed(line)
                    if fix is None:
                        continue
                    if fix.quality is FixQuality.NONE or fix.latitude_deg is None:
                        no_fix += 1
                        continue
                    sats = "" if fix.satellites is None else f", {fix.satellites} satellites"
                    return passed(
                        "gnss",
                        f"{gnss.port}: fix ({fix.quality.name}{sats}) after "
                        f"{monotonic() - started:.1f} s",
                    )
    except HalError as err:
        return failed(
            "gnss",
            f"cannot open {gnss.port}: {err}",
            "add the service user to the dialout group and check that nothing else holds "
            "the port (gpsd?)",
        )
    if lines == 0:
        return failed(
            "gnss",
            f"no NMEA from {gnss.port} in {timeout_s:g} s",
            f"check [gnss] baudrate ({gnss.baudrate}) against the receiver's and that it "
            "outputs NMEA on this port",
        )
    if not no_fix and not sum(fixes.accepted.values()):
        return failed(
            "gnss",
            f"{lines} lines from {gnss.port} in {timeout_s:g} s but no NMEA sentence "
            f"({dict(fixes.rejects)})",
            f"check [gnss] baudrate ({gnss.baudrate}) and allow_missing_checksum",
        )
    return failed(
        "gnss",
        f"NMEA from {gnss.port} but no fix in {timeout_s:g} s",
        "give the antenna a clear view of the sky; a cold start can take a minute or more",
    )
