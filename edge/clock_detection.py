"""What disciplines the box's clock, asked of the kernel and of chrony.

The kernel says whether a time daemon keeps the clock synchronised and how far off it may be
(``adjtimex(2)``, read-only: no privileges needed); chrony names its reference (a GNSS or PPS
reference clock, a PTP hardware clock, or an NTP server). Each reader returns None where it
cannot tell, and never raises.
"""

from __future__ import annotations

import ctypes
import functools
import ipaddress
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

from protocols.schema.v1 import roadgate_pb2 as pb

ClockSourceValue: TypeAlias = pb.ClockSource.ValueType


@dataclass(frozen=True)
class KernelClockState:
    """The kernel's view of the system clock (``adjtimex(2)``).

    ``synchronized``: a time daemon keeps the clock disciplined (``STA_UNSYNC`` clear, state
    not ``TIME_ERROR``). ``max_error_s``: the kernel's maximum error, which the daemon sets
    and the kernel grows by 500 ppm while the daemon is silent. ``pps``: the kernel itself
    disciplines the clock's phase to a PPS signal (``STA_PPSTIME``).
    """

    synchronized: bool
    max_error_s: float
    pps: bool


KernelClockReader = Callable[[], KernelClockState | None]

_TIME_ERROR = 5
_STA_PPSTIME = 0x0004
_STA_UNSYNC = 0x0040


class _Timex(ctypes.Structure):
    # The leading fields of struct timex; the rest is room for what the kernel writes.
    _fields_ = (
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),  # microseconds
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("rest", ctypes.c_byte * 512),
    )


@functools.cache
def _adjtimex() -> Any:
    """libc's ``adjtimex``, looked up once; None where there is none."""
    try:
        return ctypes.CDLL(None, use_errno=True).adjtimex
    except (OSError, AttributeError):
        return None


def read_kernel_clock() -> KernelClockState | None:
    """The kernel's clock state, or None where ``adjtimex(2)`` is unavailable (not Linux, a
    sandbox refusing it). Read-only (``modes = 0``): no privileges needed; never raises."""
    adjtimex = _adjtimex()
    if adjtimex is None:
        return None
    timex = _Timex()  # modes = 0: read only
    state = adjtimex(ctypes.byref(timex))
    if state < 0:
        return None
    return KernelClockState(
        synchronized=state != _TIME_ERROR and not timex.status & _STA_UNSYNC,
        max_error_s=max(timex.maxerror, 0) / 1e6,
        pps=bool(timex.status & _STA_PPSTIME),
    )


# chrony names a reference clock by its refid: the driver's name ("PPS0", "SHM0", "SOCK",
# "PHC0") unless the refclock line sets one ("GPS", "NMEA", "GNSS"...).
_GNSS_REFIDS = ("GPS", "GNS", "GAL", "GLO", "BDS", "NMEA", "PPS", "SHM", "SOC", "GPSD", "UBX")
_PTP_REFIDS = ("PHC", "PTP")


def source_of_chrony_reference(name: str) -> ClockSourceValue | None:
    """The source a chrony reference name (``chronyc -c tracking``'s second field) stands
    for: GNSS for a GNSS or PPS reference clock, PTP for a PTP hardware clock, NTP for a
    server (an address or host name); None when chrony has no reference or only its own
    ``local`` clock."""
    name = name.strip()
    if not name:
        return None
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        upper = name.upper()
        if upper.startswith(_PTP_REFIDS):
            return pb.CLOCK_SOURCE_PTP
        if upper.startswith(_GNSS_REFIDS):
            return pb.CLOCK_SOURCE_GNSS
        if upper in ("LOCL", "LOCAL"):
            return None
        return pb.CLOCK_SOURCE_NTP  # a server's host name
    # 127.127.1.1 is chrony's "local" reference: the clock runs free.
    return None if address.is_loopback and name.startswith("127.127.") else pb.CLOCK_SOURCE_NTP


def read_chrony_reference(timeout_s: float = 0.5) -> str | None:
    """chrony's current reference name (``chronyc -n -c tracking``), or None without chrony
    (not installed, not running, too slow). Never raises."""
    chronyc = shutil.which("chronyc")
    if chronyc is None:
        return None
    try:
        done = subprocess.run(
            [chronyc, "-n", "-c", "tracking"],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    fields = done.stdout.split(",")
    return fields[1] if done.returncode == 0 and len(fields) > 1 else None


def detect_source(
    kernel: KernelClockState | None,
    chrony_reference: Callable[[], str | None] = read_chrony_reference,
) -> ClockSourceValue:
    """What disciplines the clock, from the kernel's state and chrony's reference (asked only
    of a synchronised clock).

    An unsynchronised clock (or one the kernel cannot tell about) is SYSTEM; a kernel PPS
    discipline is GNSS; else chrony's reference decides, and a synchronised clock without
    chrony (systemd-timesyncd, ntpd) is NTP. A PTP daemon without chrony (phc2sys) reads as
    NTP: configure ``source = "ptp"`` there.
    """
    if kernel is None or not kernel.synchronized:
        return pb.CLOCK_SOURCE_SYSTEM
    if kernel.pps:
        return pb.CLOCK_SOURCE_GNSS
    reference = chrony_reference()
    if reference is not None:
        return source_of_chrony_reference(reference) or pb.CLOCK_SOURCE_SYSTEM
    return pb.CLOCK_SOURCE_NTP
