"""The system clock: disciplined by a time daemon (chrony, systemd-timesyncd) or GNSS/PPS, as
the kernel and chrony report it (``edge.clock_detection``)."""

from __future__ import annotations

from collections.abc import Callable

from edge.clock_detection import KernelClockState, detect_source, read_chrony_reference
from firmware_py.doctor.findings import Finding, failed, passed
from protocols.schema.v1 import roadgate_pb2 as pb

_FIX = (
    "enable a time daemon: `sudo timedatectl set-ntp true` (systemd-timesyncd) or install "
    "chrony, with a GNSS/PPS refclock where there is no network time"
)


def check_clock(
    kernel: KernelClockState | None,
    chrony_reference: Callable[[], str | None] = read_chrony_reference,
    simulated: bool = False,
) -> Finding:
    """Whether the kernel's clock is synchronised, and by what."""
    if simulated:
        return passed("clock", "simulated world: the box runs on simulation time")
    if kernel is None:
        return failed("clock", "cannot read the kernel's clock state (adjtimex)", _FIX)
    if not kernel.synchronized:
        return failed(
            "clock",
            f"not synchronised (kernel max error {kernel.max_error_s:.3g} s)",
            _FIX,
        )
    source = pb.ClockSource.Name(detect_source(kernel, chrony_reference))
    name = source.removeprefix("CLOCK_SOURCE_")
    return passed("clock", f"synchronised ({name}), max error {kernel.max_error_s * 1000:.1f} ms")
