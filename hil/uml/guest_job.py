"""What a user-mode-linux guest is told: its kernel command line and its job directory.

``guest_init.sh`` (the guest's init) reads the job from files in a directory on the host's
filesystem, which the guest sees through hostfs: the command's ``argv``, ``env``, ``cwd`` and
the ``vcan`` interfaces to create; it writes ``ready`` when the interfaces are up and
``status`` when the command has exited. This module writes those files, checks what goes into
them, and reads the results.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Required, TypedDict

from hil.uml.errors import VcanUnavailableError
from hil.uml.kernel import INSTALL_HINT, MODULES_PARAMETER, UML_MODULES

GUEST_INIT = Path(__file__).with_name("guest_init.sh")
# The guest's PATH is not inherited: these are where Debian puts what guest_init.sh runs.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
GUEST_TOOLS = ("insmod", "ip", "stty", "env", "sync")
# IFNAMSIZ is 16 with the NUL; whitespace and '/' are not valid in interface names.
INTERFACE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,15}")
# Lines the kernel prints on the console when guest_init.sh powers the guest off.
POWER_OFF_LINES = ("sysrq: Power Off", "reboot: Power down")


DEFAULT_VCAN = ("vcan0",)
"""The interfaces a job gets when it does not say."""


class VcanJob(TypedDict, total=False):
    """What ``run_in_guest``, ``run_natively`` and ``run_with_vcan`` run, as their keyword
    arguments: ``cwd`` (required) is where it runs, ``timeout_s`` (required) how long it may
    take in all; ``vcan`` the interfaces to create (default ``DEFAULT_VCAN``), ``env`` exactly
    the command's environment (default: this process's), ``output`` where its output is copied
    as it arrives (default: nowhere)."""

    vcan: Sequence[str]
    cwd: Required[Path]
    env: Mapping[str, str] | None
    timeout_s: Required[float]
    output: BinaryIO | None


_REQUIRED = frozenset(("cwd", "timeout_s"))
_KEYS = _REQUIRED | {"vcan", "env", "output"}


@dataclass(frozen=True)
class CheckedJob:
    """A ``VcanJob`` with its defaults filled in and its values checked (``check_job``)."""

    argv: Sequence[str]
    vcan: Sequence[str]
    cwd: Path
    env: dict[str, str]
    timeout_s: float
    output: BinaryIO | None


def check_job(argv: Sequence[str], job: VcanJob) -> CheckedJob:
    """``argv`` and ``job`` checked, with the defaults filled in. Raises ``TypeError`` for a
    missing or unknown keyword (as a signature would), ``ValueError`` naming the first bad
    value."""
    missing, unknown = _REQUIRED - job.keys(), job.keys() - _KEYS
    if missing or unknown:
        raise TypeError(f"missing arguments {sorted(missing)}, unknown ones {sorted(unknown)}")
    vcan, cwd, timeout_s = job.get("vcan", DEFAULT_VCAN), job["cwd"], job["timeout_s"]
    env = job.get("env")
    job_env = dict(os.environ if env is None else env)
    if not cwd.is_dir():
        raise ValueError(f"cwd must be an existing directory, got {cwd}")
    if isinstance(argv, str) or not argv:
        raise ValueError(f"argv must be a non-empty sequence of strings, got {argv!r}")
    if isinstance(vcan, str):
        raise ValueError(f"vcan must be a sequence of interface names, got {vcan!r}")
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be positive, got {timeout_s}")
    for name in vcan:
        if not INTERFACE_NAME.fullmatch(name):
            raise ValueError(f"invalid interface name {name!r}: 1-15 of A-Z a-z 0-9 _ . -")
    for key, value in job_env.items():
        if not key or "=" in key or "\0" in key + value:
            raise ValueError(f"invalid environment entry {key!r}={value!r}")
    for arg in argv:
        if "\0" in arg:
            raise ValueError(f"argv entries cannot contain NUL: {arg!r}")
    return CheckedJob(argv, vcan, cwd, job_env, timeout_s, job.get("output"))


def write_job(
    job: Path, argv: Sequence[str], *, vcan: Sequence[str], cwd: Path, env: Mapping[str, str]
) -> None:
    """Write the files guest_init.sh reads from the job directory ``job``.

    ``argv``, ``env`` (as ``NAME=VALUE``) and ``vcan`` go into NUL-separated files, so no
    quoting is involved; ``cwd`` is made absolute.
    """
    (job / "argv").write_bytes(nul_separated(argv))
    (job / "env").write_bytes(nul_separated(f"{key}={value}" for key, value in env.items()))
    (job / "vcan").write_bytes(nul_separated(vcan))
    (job / "cwd").write_text(str(cwd.resolve()))


def guest_cpu() -> int | None:
    """The host CPU a guest runs on (``uml_command``'s ``cpu``): the last this process may use;
    None when it may use only one, or ``taskset`` is missing."""
    allowed = os.sched_getaffinity(0)
    if len(allowed) < 2 or shutil.which("taskset", path=SYSTEM_PATH) is None:
        return None
    return max(allowed)


def uml_command(
    kernel: Path,
    job: Path,
    *,
    console_fd: int,
    memory_mb: int,
    modules: Path = UML_MODULES,
    cpu: int | None = None,
) -> list[str]:
    """The argv that boots ``kernel`` on hostfs with guest_init.sh running the job in ``job``,
    on host CPU ``cpu`` alone when given.

    The guest console (where the command's output goes) is written to ``console_fd``; the
    guest loads its modules from ``modules``/<release>/kernel.
    Raises ``ValueError`` when a path contains whitespace (the kernel command line splits on it).
    """
    for path in (job, GUEST_INIT, modules):
        if any(character.isspace() for character in str(path)):
            raise ValueError(f"user-mode-linux cannot pass a path with whitespace: {path!r}")
    # The guest has one virtual CPU, but its kernel and each process it runs are host
    # processes handing every guest system call to each other (ptrace): spread over host cores,
    # each hand-off is a wake-up on another core. bench e2e (10 s, alternating, quiet host):
    # pinned p50 11.3 and 9.5 ms, p99 86 and 61 ms; free 28 and 80 ms, 142 and 287 ms.
    pinned = [] if cpu is None else ["taskset", "--cpu-list", str(cpu)]
    return [
        *pinned,
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
        f"{MODULES_PARAMETER}{modules}",
        "init=/bin/bash",
        "--",  # the rest is init's argv: bash runs the script, whatever its file mode
        str(GUEST_INIT),
    ]


def check_guest_tools() -> None:
    """Raises ``VcanUnavailableError`` when a tool ``guest_init.sh`` runs is missing."""
    missing = [tool for tool in GUEST_TOOLS if shutil.which(tool, path=SYSTEM_PATH) is None]
    if missing or not Path("/bin/bash").exists():
        raise VcanUnavailableError(
            f"missing {', '.join(missing) or '/bin/bash'} for the user-mode-linux guest. "
            f"Install: {INSTALL_HINT}"
        )


@contextmanager
def job_directory() -> Iterator[Path]:
    """A new job directory, removed afterwards."""
    # The path goes on the kernel command line, which splits on whitespace.
    base = tempfile.gettempdir()
    if any(character.isspace() for character in base):
        base = "/tmp"
    job = Path(tempfile.mkdtemp(prefix="roadgate-uml-", dir=base))
    try:
        yield job
    finally:
        shutil.rmtree(job, ignore_errors=True)


def strip_power_off(text: str) -> str:
    """``text`` without the kernel's power-off lines at its end."""
    lines = text.splitlines(keepends=True)
    while lines and lines[-1].strip() in POWER_OFF_LINES:
        lines.pop()
    return "".join(lines)


def nul_separated(items: Iterable[str]) -> bytes:
    return b"".join(item.encode() + b"\0" for item in items)


def read_or_none(path: Path) -> str | None:
    """The text of ``path``; None when it cannot be read (not written)."""
    try:
        return path.read_text()
    except OSError:
        return None


def mtime_since(path: Path, started: float, fallback: float) -> float:
    """Seconds from ``started`` (monotonic) until ``path`` was last written, by the wall clock."""
    try:
        written = path.stat().st_mtime
    except OSError:
        return fallback
    return max(written - (time.time() - (time.monotonic() - started)), 0.0)
