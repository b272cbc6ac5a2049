"""Run one command where SocketCAN vcan interfaces exist: natively, or in a user-mode-linux guest.

Kernels without CAN support (CI machines, containers) cannot create vcan interfaces. Debian's
``user-mode-linux`` package runs a Linux kernel as an ordinary process and ships the CAN
modules, so ``run_in_guest`` boots it with the host's filesystem as its root (hostfs: the guest
runs the host's venv and sees the caller's files), creates the interfaces inside and runs the
command there. ``run_natively`` does the same on a kernel that has CAN, and ``run_with_vcan``
picks one of the two.

Which kernel boots (``find_kernel``): an explicit ``kernel`` argument, else
``$ROADGATE_UML_KERNEL``, else the one ``scripts/bootstrap.sh test`` fetched into the venv
(``<venv>/uml``: Debian 12's kernel cannot restore the FPU state on CPUs with large XSAVE areas,
such as AMX, and panics at once), else ``linux.uml`` on the PATH. Its modules are the ones
installed beside it (``<kernel>/../../lib/uml/modules``, else ``/usr/lib/uml/modules``); the
guest is told where.

Errors::

    VcanRunError              a command could not be run with vcan interfaces
    +-- VcanUnavailableError  linux.uml, its CAN modules or a tool is missing, or no root for
    |                         ``ip link``: the message says what to install or do
    +-- VcanSetupError        the guest or the interfaces could not be set up, or the guest
    |                         stopped without reporting the command's exit status
    +-- VcanTimeoutError      the command ran past its timeout; every process it started was killed
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import BinaryIO

INSTALL_HINT = "apt-get install user-mode-linux kmod can-utils iproute2"
"""The Debian packages ``run_in_guest`` needs on the host."""

UML_MODULES = Path("/usr/lib/uml/modules")
"""Where Debian's user-mode-linux package puts the modules of /usr/bin/linux.uml."""
KERNEL_ENV = "ROADGATE_UML_KERNEL"
"""The environment variable naming the kernel to boot (a path), ahead of any other."""
LOCAL_UML = Path(sys.prefix) / "uml"
"""Where ``scripts/bootstrap.sh test`` unpacks a newer kernel when the system's cannot boot."""
LOCAL_KERNEL = LOCAL_UML / "root" / "usr" / "bin" / "linux.uml"
BOOTSTRAP_HINT = (
    "scripts/bootstrap.sh test checks that the kernel boots and fetches a newer one where "
    "it does not"
)
GUEST_INIT = Path(__file__).with_name("guest_init.sh")
# The guest's PATH is not inherited: these are where Debian puts what guest_init.sh runs.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
GUEST_TOOLS = ("insmod", "ip", "stty", "env", "sync")
# The modules guest_init.sh loads, in its order; the host checks that the last one exists.
CAN_MODULES = (
    "net/can/can",
    "net/can/can-raw",
    "net/can/can-bcm",
    "drivers/net/can/dev/can-dev",
    "drivers/net/can/vcan",
)
# IFNAMSIZ is 16 with the NUL; whitespace and '/' are not valid in interface names.
_INTERFACE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,15}")
# The kernel command-line parameter (init's environment variable) that names the modules root.
_MODULES_PARAMETER = "rg_modules="
# Lines the kernel prints on the console when guest_init.sh powers the guest off.
_POWER_OFF_LINES = ("sysrq: Power Off", "reboot: Power down")


class VcanRunError(Exception):
    """Base of every error raised by ``hil.uml``."""


class VcanUnavailableError(VcanRunError):
    """Something the run needs is not installed or not permitted; the message says what."""


class VcanSetupError(VcanRunError):
    """The guest or its interfaces could not be set up, or the guest died without a status."""


class VcanTimeoutError(VcanRunError):
    """The command ran past its timeout; its whole process tree was killed."""


@dataclass(frozen=True)
class UmlKernel:
    """The user-mode-linux kernel a guest boots: ``modules`` holds ``<release>/kernel/...``,
    ``source`` says why this one (argument, environment variable, venv, PATH)."""

    path: Path
    modules: Path
    source: str

    def describe(self) -> str:
        """``PATH (SOURCE)``, for messages."""
        return f"{self.path} ({self.source})"


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


def kernel_has_can() -> bool:
    """True when this kernel can open a raw CAN socket (SocketCAN is built in or loadable)."""
    try:
        with socket.socket(socket.AF_CAN, socket.SOCK_RAW, socket.CAN_RAW):
            return True
    except (OSError, AttributeError):  # AttributeError: a Python built without AF_CAN
        return False


def run_with_vcan(
    argv: Sequence[str],
    *,
    vcan: Sequence[str] = ("vcan0",),
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout_s: float,
    output: BinaryIO | None = None,
) -> GuestResult:
    """``run_natively`` where this kernel has CAN, else ``run_in_guest``; same arguments."""
    run = run_natively if kernel_has_can() else run_in_guest
    return run(argv, vcan=vcan, cwd=cwd, env=env, timeout_s=timeout_s, output=output)


def run_in_guest(
    argv: Sequence[str],
    *,
    vcan: Sequence[str] = ("vcan0",),
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout_s: float,
    output: BinaryIO | None = None,
    kernel: Path | None = None,
    memory_mb: int = 512,
) -> GuestResult:
    """Boot a user-mode-linux guest, create the ``vcan`` interfaces in it, run ``argv`` there.

    ``argv`` runs in ``cwd`` with exactly ``env`` (default: this process's environment); the
    guest sees the host's files, so a venv's python and paths work unchanged. Its output
    (stdout and stderr, merged) is returned and, when ``output`` is given, copied there as it
    arrives (that copy ends with the kernel's power-off lines). ``timeout_s`` covers boot, the
    command and power-off. ``kernel`` defaults to what ``find_kernel`` finds.

    Returns the command's exit status; a non-zero status is not an error. Raises ``ValueError``
    for bad arguments, ``VcanUnavailableError`` when linux.uml, its CAN modules or a tool is
    missing, ``VcanSetupError`` when the guest could not set up or stopped without a status,
    ``VcanTimeoutError`` after killing everything on a timeout. A SIGTERM meanwhile (main
    thread) kills everything too, then raises ``SystemExit(143)``.
    """
    job_env = dict(os.environ if env is None else env)
    _check_arguments(argv, vcan, cwd, job_env, timeout_s)
    uml = find_kernel(kernel)
    _check_guest_tools()
    started = time.monotonic()
    with _job_directory() as job, (job / "linux.uml.log").open("wb") as uml_log:
        write_job(job, argv, vcan=vcan, cwd=cwd, env=job_env)
        status, console = _run_process(
            lambda console_fd: uml_command(
                uml.path, job, console_fd=console_fd, memory_mb=memory_mb, modules=uml.modules
            ),
            cwd=None,
            env=None,
            uml_log=uml_log,
            output=output,
            deadline=started + timeout_s,
            what=f"user-mode-linux guest running {argv[0]}",
        )
        total_s = time.monotonic() - started
        text = _strip_power_off(console)
        status_text = _read(job / "status")
        ready_s = _mtime_since(job / "ready", started, total_s)
        command_s = _mtime_since(job / "status", started, total_s) - ready_s
        if status_text is None or not status_text.strip().lstrip("-").isdigit():
            log = _read(job / "linux.uml.log") or ""
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


def run_natively(
    argv: Sequence[str],
    *,
    vcan: Sequence[str] = ("vcan0",),
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout_s: float,
    output: BinaryIO | None = None,
) -> GuestResult:
    """Create the missing ``vcan`` interfaces on this kernel, run ``argv``, delete them again.

    Same arguments and result as ``run_in_guest``. Interfaces that already exist are used as
    they are and left in place. Creating one needs root (CAP_NET_ADMIN) and the vcan module.
    Raises ``ValueError`` for bad arguments, ``VcanUnavailableError`` when ``ip`` is missing or
    an interface cannot be created, ``VcanTimeoutError`` after killing the command's process
    tree on a timeout.
    """
    job_env = dict(os.environ if env is None else env)
    _check_arguments(argv, vcan, cwd, job_env, timeout_s)
    started = time.monotonic()
    created: list[str] = []
    try:
        for name in vcan:
            if not Path("/sys/class/net", name).exists():
                _create_native_vcan(name)
                created.append(name)
        setup_s = time.monotonic() - started
        status, text = _run_process(
            lambda _: list(argv),
            cwd=cwd,
            env=job_env,
            uml_log=None,
            output=output,
            deadline=started + timeout_s,
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


def write_job(
    job: Path, argv: Sequence[str], *, vcan: Sequence[str], cwd: Path, env: Mapping[str, str]
) -> None:
    """Write the files guest_init.sh reads from the job directory ``job``.

    ``argv``, ``env`` (as ``NAME=VALUE``) and ``vcan`` go into NUL-separated files, so no
    quoting is involved; ``cwd`` is made absolute.
    """
    (job / "argv").write_bytes(_nul_separated(argv))
    (job / "env").write_bytes(_nul_separated(f"{key}={value}" for key, value in env.items()))
    (job / "vcan").write_bytes(_nul_separated(vcan))
    (job / "cwd").write_text(str(cwd.resolve()))


def uml_command(
    kernel: Path, job: Path, *, console_fd: int, memory_mb: int, modules: Path = UML_MODULES
) -> list[str]:
    """The argv that boots ``kernel`` on hostfs with guest_init.sh running the job in ``job``.

    The guest console (where the command's output goes) is written to ``console_fd``; the
    guest loads its modules from ``modules``/<release>/kernel.
    Raises ``ValueError`` when a path contains whitespace (the kernel command line splits on it).
    """
    for path in (job, GUEST_INIT, modules):
        if any(character.isspace() for character in str(path)):
            raise ValueError(f"user-mode-linux cannot pass a path with whitespace: {path!r}")
    return [
        str(kernel),
        f"mem={memory_mb}M",
        "rootfstype=hostfs",
        "rw",
        # Kernel messages below "emergency" would interleave with the command's output.
        "loglevel=1",
        "con=null",
        "ssl=null",
        f"con0=null,fd:{console_fd}",
        # Unknown name=value parameters become init's environment.
        f"rg_job={job}",
        f"{_MODULES_PARAMETER}{modules}",
        "init=/bin/bash",
        "--",  # the rest is init's argv: bash runs the script, whatever its file mode
        str(GUEST_INIT),
    ]


def _check_arguments(
    argv: Sequence[str], vcan: Sequence[str], cwd: Path, env: Mapping[str, str], timeout_s: float
) -> None:
    if not cwd.is_dir():
        raise ValueError(f"cwd must be an existing directory, got {cwd}")
    if isinstance(argv, str) or not argv:
        raise ValueError(f"argv must be a non-empty sequence of strings, got {argv!r}")
    if isinstance(vcan, str):
        raise ValueError(f"vcan must be a sequence of interface names, got {vcan!r}")
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be positive, got {timeout_s}")
    for name in vcan:
        if not _INTERFACE_NAME.fullmatch(name):
            raise ValueError(f"invalid interface name {name!r}: 1-15 of A-Z a-z 0-9 _ . -")
    for key, value in env.items():
        if not key or "=" in key or "\0" in key + value:
            raise ValueError(f"invalid environment entry {key!r}={value!r}")
    for arg in argv:
        if "\0" in arg:
            raise ValueError(f"argv entries cannot contain NUL: {arg!r}")


def find_kernel(kernel: Path | None = None) -> UmlKernel:
    """The kernel a guest boots, and its modules: ``kernel`` when given, else
    ``$ROADGATE_UML_KERNEL``, else the venv's (``LOCAL_KERNEL``), else ``linux.uml`` on the PATH.

    Raises ``VcanUnavailableError`` when that kernel or its CAN modules are missing.
    """
    named = os.environ.get(KERNEL_ENV)
    found: str | None
    if kernel is not None:
        found, source = str(kernel), "kernel argument"
    elif named:
        found, source = named, f"${KERNEL_ENV}"
    elif os.access(LOCAL_KERNEL, os.X_OK):
        found, source = str(LOCAL_KERNEL), "fetched by scripts/bootstrap.sh"
    else:
        found, source = shutil.which("linux.uml"), "linux.uml on the PATH"
    if found is None or not os.access(found, os.X_OK):
        raise VcanUnavailableError(
            f"no user-mode-linux kernel ({found or source}): this kernel has no CAN support, "
            f"so vcan runs happen in a user-mode-linux guest. Install: {INSTALL_HINT} "
            f"({BOOTSTRAP_HINT})"
        )
    modules = modules_of(Path(found))
    if not any(modules.glob(f"*/kernel/{CAN_MODULES[-1]}.ko")):
        raise VcanUnavailableError(
            f"the CAN modules of the user-mode-linux kernel {found} are missing ({modules}/"
            f"<version>/kernel/{CAN_MODULES[-1]}.ko). Install: {INSTALL_HINT}"
        )
    return UmlKernel(Path(found), modules, source)


def modules_of(kernel: Path) -> Path:
    """Where the modules of ``kernel`` are: ``lib/uml/modules`` beside the ``bin`` it is in
    (/usr/bin/linux.uml: /usr/lib/uml/modules), else ``UML_MODULES``."""
    beside = kernel.resolve().parent.parent / "lib" / "uml" / "modules"
    return beside if beside.is_dir() else UML_MODULES


def guest_modules() -> Path:
    """Inside a guest: the running kernel's module directory (``<modules>/<release>``, which
    holds ``kernel/net/...``), from the kernel command line; ``UML_MODULES``/<release> when the
    command line does not say (not started by ``run_in_guest``)."""
    try:
        parameters = Path("/proc/cmdline").read_text().split()
    except OSError:
        parameters = []
    root = next(
        (
            Path(p.removeprefix(_MODULES_PARAMETER))
            for p in parameters
            if p.startswith(_MODULES_PARAMETER)
        ),
        UML_MODULES,
    )
    return root / os.uname().release


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


def _check_guest_tools() -> None:
    missing = [tool for tool in GUEST_TOOLS if shutil.which(tool, path=SYSTEM_PATH) is None]
    if missing or not Path("/bin/bash").exists():
        raise VcanUnavailableError(
            f"missing {', '.join(missing) or '/bin/bash'} for the user-mode-linux guest. "
            f"Install: {INSTALL_HINT}"
        )


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


@contextmanager
def _job_directory() -> Iterator[Path]:
    # The path goes on the kernel command line, which splits on whitespace.
    base = tempfile.gettempdir()
    if any(character.isspace() for character in base):
        base = "/tmp"
    job = Path(tempfile.mkdtemp(prefix="roadgate-uml-", dir=base))
    try:
        yield job
    finally:
        shutil.rmtree(job, ignore_errors=True)


class _OutputPump:
    """Drains a pipe on a thread (so the child never blocks on a full pipe), tees to ``copy``."""

    def __init__(self, fd: int, copy: BinaryIO | None) -> None:
        self._fd = fd
        self._copy = copy
        self._chunks: list[bytes] = []
        self._thread = threading.Thread(target=self._run, name="uml-output", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while chunk := os.read(self._fd, 65536):
                self._chunks.append(chunk)
                if self._copy is not None:
                    self._copy.write(chunk)
                    self._copy.flush()
        except OSError:  # closed by finish() after a leftover process kept the pipe open
            pass

    def finish(self) -> None:
        """Wait briefly for EOF, then stop reading; harmless to call twice."""
        self._thread.join(timeout=2.0)
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self._thread.join(timeout=1.0)

    def text(self) -> str:
        return b"".join(self._chunks).decode(errors="replace")


def _run_process(
    make_command: Callable[[int], list[str]],
    *,
    cwd: Path | None,
    env: Mapping[str, str] | None,
    uml_log: BinaryIO | None,
    output: BinaryIO | None,
    deadline: float,
    what: str,
) -> tuple[int, str]:
    """Run ``make_command(fd)`` in a new session until it exits; returns (status, output).

    The child writes its output to ``fd``: its stdout and stderr, or, when ``uml_log`` is given
    (which then takes stdout and stderr), a passed descriptor that the guest console uses.
    Whatever happens (timeout, SIGTERM, an exception), the whole process tree is killed.
    """
    read_fd, write_fd = os.pipe()
    process: subprocess.Popen[bytes] | None = None
    pump: _OutputPump | None = None
    status: int | None = None
    # Noted, not raised at once: raised inside Popen it would orphan the child.
    with _sigterm_noted() as terminated:
        try:
            try:
                process = subprocess.Popen(
                    make_command(write_fd),
                    cwd=cwd,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=write_fd if uml_log is None else uml_log,
                    stderr=subprocess.STDOUT,
                    pass_fds=() if uml_log is None else (write_fd,),
                    start_new_session=True,  # one process group to kill, whatever it forks
                )
            finally:
                os.close(write_fd)  # the pump sees EOF once every writer is gone
            pump = _OutputPump(read_fd, output)
            while not terminated and (left := deadline - time.monotonic()) > 0:
                with suppress(subprocess.TimeoutExpired):
                    status = process.wait(timeout=min(left, 0.1))
                    break
        finally:
            # Also after a normal exit: linux.uml's helpers may outlive it; none may outlive us.
            if process is not None:
                _kill_tree(process)
            if pump is not None:
                pump.finish()
            else:
                os.close(read_fd)
    assert pump is not None  # set, or an exception left above
    if terminated:
        raise SystemExit(128 + signal.SIGTERM)
    if status is None:
        raise VcanTimeoutError(
            f"{what} did not finish in time; killed it and every process it started. "
            f"Output so far:\n{pump.text()[-4000:]}"
        )
    return status, pump.text()


def _kill_tree(process: subprocess.Popen[bytes], grace_s: float = 3.0) -> None:
    tree: dict[int, str] = {}
    if process.returncode is None:
        # Listed while the root is alive (orphans are reparented away), before SIGTERM.
        tree = _descendants(process.pid)
        # linux.uml halts the guest and reaps its helpers on SIGTERM; SIGKILL would orphan them.
        with suppress(ProcessLookupError):
            process.terminate()
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace_s)
        if process.poll() is None:
            tree |= _descendants(process.pid)
            with suppress(ProcessLookupError):
                process.kill()
    for pid, started in tree.items():
        # A helper may have left the process group; the start time proves the pid is not reused.
        if _start_time(pid) == started:
            with suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    # The group outlives its leader while any member lives, so its id cannot have been reused.
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _stat_fields(pid: int | str) -> list[str] | None:
    """Fields 3.. of /proc/PID/stat (after the command name, which may contain anything)."""
    try:
        return Path("/proc", str(pid), "stat").read_text().rpartition(")")[2].split()
    except OSError:  # gone
        return None


def _start_time(pid: int) -> str | None:
    fields = _stat_fields(pid)
    return None if fields is None else fields[19]  # field 22: start time in clock ticks


def _descendants(root: int) -> dict[int, str]:
    """Every live descendant of ``root`` with its start time, from /proc."""
    children: dict[int, list[tuple[int, str]]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat_fields(entry.name)) is not None:
            children.setdefault(int(fields[1]), []).append((int(entry.name), fields[19]))
    found: dict[int, str] = {}
    pending = [root]
    while pending:
        for child, started in children.get(pending.pop(), []):
            found[child] = started
            pending.append(child)
    return found


@contextmanager
def _sigterm_noted() -> Iterator[list[int]]:
    """Meanwhile, SIGTERM is appended to the yielded list instead of ending the process.

    Only in the main thread (where Python runs signal handlers) and only when nobody else
    handles SIGTERM; otherwise the list stays empty.
    """
    received: list[int] = []
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield received
        return

    def note(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    signal.signal(signal.SIGTERM, note)
    try:
        yield received
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _strip_power_off(text: str) -> str:
    lines = text.splitlines(keepends=True)
    while lines and lines[-1].strip() in _POWER_OFF_LINES:
        lines.pop()
    return "".join(lines)


def _nul_separated(items: Iterable[str]) -> bytes:
    return b"".join(item.encode() + b"\0" for item in items)


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _mtime_since(path: Path, started: float, fallback: float) -> float:
    """Seconds from ``started`` (monotonic) until ``path`` was last written, by the wall clock."""
    try:
        written = path.stat().st_mtime
    except OSError:
        return fallback
    return max(written - (time.time() - (time.monotonic() - started)), 0.0)
