"""Run one command where SocketCAN vcan interfaces exist: natively, or in a user-mode-linux guest.

Kernels without CAN support (CI machines, containers) cannot create vcan interfaces. Debian's
``user-mode-linux`` package runs a Linux kernel as an ordinary process and ships the CAN
modules, so ``run_in_guest`` boots it with the host's filesystem as its root (hostfs: the guest
runs the host's venv and sees the caller's files), creates the interfaces inside and runs the
command there. ``run_natively`` does the same on a kernel that has CAN, and ``run_with_vcan``
picks one of the two.

The parts, each in its own module beside this one: ``kernel`` (which kernel boots, and its
modules), ``guest_job`` (the guest's command line and the job files its init reads),
``supervision`` (running a process tree to a deadline and killing all of it), ``errors``.

Errors::

    VcanRunError              a command could not be run with vcan interfaces
    +-- VcanUnavailableError  linux.uml, its CAN modules or a tool is missing, or no root for
    |                         ``ip link``: the message says what to install or do
    +-- VcanSetupError        the guest or the interfaces could not be set up, or the guest
    |                         stopped without reporting the command's exit status
    +-- VcanTimeoutError      the command ran past its timeout; every process it started was killed
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Unpack

from hal.probe import kernel_has_can
from hil.uml.errors import VcanRunError, VcanSetupError, VcanTimeoutError, VcanUnavailableError
from hil.uml.guest_job import (
    DEFAULT_VCAN,
    GUEST_INIT,
    VcanJob,
    check_guest_tools,
    check_job,
    guest_cpu,
    job_directory,
    mtime_since,
    read_or_none,
    strip_power_off,
    uml_command,
    write_job,
)
from hil.uml.kernel import (
    BOOTSTRAP_HINT,
    INSTALL_HINT,
    KERNEL_ENV,
    LOCAL_KERNEL,
    UML_MODULES,
    UmlKernel,
    find_kernel,
    guest_modules,
    modules_of,
)
from hil.uml.supervision import run_process

GUEST_MEMORY_MB = 512
"""A guest's RAM unless its caller asks for more (``bench e2e`` keeps its bridge's store in the
guest's memory)."""

__all__ = [
    "DEFAULT_VCAN",
    "GUEST_INIT",
    "GUEST_MEMORY_MB",
    "INSTALL_HINT",
    "KERNEL_ENV",
    "LOCAL_KERNEL",
    "UML_MODULES",
    "GuestResult",
    "UmlKernel",
    "VcanJob",
    "VcanRunError",
    "VcanSetupError",
    "VcanTimeoutError",
    "VcanUnavailableError",
    "boot_check",
    "find_kernel",
    "guest_modules",
    "kernel_has_can",
    "modules_of",
    "run_in_guest",
    "run_natively",
    "run_with_vcan",
    "uml_command",
    "write_job",
]


@dataclass(frozen=True)
class GuestResult:
    """What a command run with vcan interfaces did.

    ``setup_s`` is the time from start until the command started (boot, modules, interfaces),
    ``command_s`` the command's own run time, ``total_s`` everything including power-off.
    """

    exit_status: int
    output_text: str
    in_guest: bool
    setup_s: float
    command_s: float
    total_s: float
    kernel: UmlKernel | None = None
    """The guest's kernel; None when the command ran natively."""


def run_with_vcan(
    argv: Sequence[str], *, memory_mb: int = GUEST_MEMORY_MB, **job: Unpack[VcanJob]
) -> GuestResult:
    """``run_natively`` where this kernel has CAN, else ``run_in_guest`` (with ``memory_mb``
    of RAM); same arguments."""
    if kernel_has_can():
        return run_natively(argv, **job)
    return run_in_guest(argv, memory_mb=memory_mb, **job)


def run_in_guest(
    argv: Sequence[str],
    *,
    kernel: Path | None = None,
    memory_mb: int = GUEST_MEMORY_MB,
    **job: Unpack[VcanJob],
) -> GuestResult:
    """Boot a user-mode-linux guest, create the ``vcan`` interfaces in it, run ``argv`` there.

    ``argv`` runs in ``cwd`` with exactly ``env`` (default: this process's environment; see
    ``VcanJob`` for every keyword argument but ``kernel`` and ``memory_mb``); the guest sees
    the host's files, so a venv's python and paths work unchanged. Its output (stdout and
    stderr, merged) is returned and, when ``output`` is given, copied there as it arrives
    (that copy ends with the kernel's power-off lines). ``timeout_s`` covers boot, the command
    and power-off. ``kernel`` defaults to what ``find_kernel`` finds.

    Returns the command's exit status; a non-zero status is not an error. Raises ``ValueError``
    for bad arguments, ``VcanUnavailableError`` when linux.uml, its CAN modules or a tool is
    missing, ``VcanSetupError`` when the guest could not set up or stopped without a status,
    ``VcanTimeoutError`` after killing everything on a timeout. A SIGTERM meanwhile (main
    thread) kills everything too, then raises ``SystemExit(143)``.
    """
    checked = check_job(argv, job)
    uml = find_kernel(kernel)
    check_guest_tools()
    started = time.monotonic()
    with job_directory() as job_dir, (job_dir / "linux.uml.log").open("wb") as uml_log:
        write_job(job_dir, argv, vcan=checked.vcan, cwd=checked.cwd, env=checked.env)
        status, console = run_process(
            lambda console_fd: uml_command(
                uml.path,
                job_dir,
                console_fd=console_fd,
                memory_mb=memory_mb,
                modules=uml.modules,
                cpu=guest_cpu(),
            ),
            cwd=None,
            env=None,
            uml_log=uml_log,
            output=checked.output,
            deadline=started + checked.timeout_s,
            what=f"user-mode-linux guest running {argv[0]}",
        )
        total_s = time.monotonic() - started
        text = strip_power_off(console)
        status_text = read_or_none(job_dir / "status")
        ready_s = mtime_since(job_dir / "ready", started, total_s)
        command_s = mtime_since(job_dir / "status", started, total_s) - ready_s
        if status_text is None or not status_text.strip().lstrip("-").isdigit():
            log = read_or_none(job_dir / "linux.uml.log") or ""
            reason = status_text.strip() if status_text else "no exit status was written"
            # A kernel that cannot run here panics as soon as init starts.
            hint = f" ({BOOTSTRAP_HINT})" if "Kernel panic" in text + log else ""
            raise VcanSetupError(
                f"user-mode-linux guest ({uml.describe()}) exited with {status} and "
                f"{reason}{hint}.\n"
                f"--- guest console ---\n{text[-4000:]}\n--- linux.uml ---\n{log[-2000:]}"
            )
    return GuestResult(
        exit_status=int(status_text),
        output_text=text,
        in_guest=True,
        setup_s=ready_s,
        command_s=max(command_s, 0.0),
        total_s=total_s,
        kernel=uml,
    )


def run_natively(argv: Sequence[str], **job: Unpack[VcanJob]) -> GuestResult:
    """Create the missing ``vcan`` interfaces on this kernel, run ``argv``, delete them again.

    Same arguments and result as ``run_in_guest``. Interfaces that already exist are used as
    they are and left in place. Creating one needs root (CAP_NET_ADMIN) and the vcan module.
    Raises ``ValueError`` for bad arguments, ``VcanUnavailableError`` when ``ip`` is missing or
    an interface cannot be created, ``VcanTimeoutError`` after killing the command's process
    tree on a timeout.
    """
    checked = check_job(argv, job)
    started = time.monotonic()
    created: list[str] = []
    try:
        for name in checked.vcan:
            if not Path("/sys/class/net", name).exists():
                _create_native_vcan(name)
                created.append(name)
        setup_s = time.monotonic() - started
        status, text = run_process(
            lambda _: list(argv),
            cwd=checked.cwd,
            env=checked.env,
            uml_log=None,
            output=checked.output,
            deadline=started + checked.timeout_s,
            what=argv[0],
        )
        total_s = time.monotonic() - started
        return GuestResult(
            exit_status=status,
            output_text=text,
            in_guest=False,
            setup_s=setup_s,
            command_s=total_s - setup_s,
            total_s=total_s,
        )
    finally:
        for name in created:
            subprocess.run(["ip", "link", "delete", "dev", name], check=False, capture_output=True)


def boot_check(kernel: Path | None = None, *, timeout_s: float = 60.0) -> UmlKernel:
    """Boot ``kernel`` (default: ``find_kernel``'s) once with a vcan interface and run ``true``.

    Returns the kernel that booted; raises ``VcanRunError`` (why, with the console) otherwise.
    """
    with tempfile.TemporaryDirectory() as tmp:
        result = run_in_guest(["true"], cwd=Path(tmp), timeout_s=timeout_s, kernel=kernel)
    assert result.kernel is not None  # always set by run_in_guest
    if result.exit_status != 0:
        raise VcanSetupError(
            f"`true` exited with {result.exit_status} in {result.kernel.describe()}'s guest"
        )
    return result.kernel


def _create_native_vcan(name: str) -> None:
    if shutil.which("ip") is None:
        raise VcanUnavailableError(f"'ip' is missing; install: {INSTALL_HINT}")
    for command in (
        ["ip", "link", "add", "dev", name, "type", "vcan"],
        ["ip", "link", "set", "dev", name, "mtu", "72", "txqueuelen", "10000", "up"],
    ):
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode:
            subprocess.run(["ip", "link", "delete", "dev", name], check=False, capture_output=True)
            raise VcanUnavailableError(
                f"'{' '.join(command)}' failed: {done.stderr.strip()}. Creating vcan interfaces "
                "needs root (CAP_NET_ADMIN) and the vcan module (modprobe vcan)."
            )
