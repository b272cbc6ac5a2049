"""The machine a benchmark run measured on: CPU, cores, memory, kernel, Python, and the
versions of the peer libraries and the broker, for ``roadgate bench all``'s report.

Every figure is read from ``/proc``, ``platform`` and the installed packages' metadata; what
cannot be read is reported as ``"unknown"`` rather than failing the run.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PACKAGES = (
    "roadgate",
    "numpy",
    "cantools",
    "paho-mqtt",
    "python-can",
    "stonesoup",
    "asn1tools",
    "matplotlib",
)
"""Ours, numpy, the peers of the benchmarks and the plotting library, by distribution name."""
UNKNOWN = "unknown"


def machine_info() -> dict[str, object]:
    """``cpu``, ``cores`` (logical CPUs this process may use), ``ram_gib``, ``kernel``, ``os``,
    ``python`` and ``versions`` (``PACKAGES`` and ``mosquitto``) of this machine."""
    versions = {name: package_version(name) for name in PACKAGES}
    versions["mosquitto"] = mosquitto_version()
    return {
        "cpu": cpu_model(),
        "cores": len(os.sched_getaffinity(0)),
        "ram_gib": ram_gib(),
        "kernel": f"{platform.system()} {platform.release()}",
        "os": os_name(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "versions": versions,
    }


def package_version(name: str) -> str:
    """The installed version of distribution ``name``, or ``"not installed"``."""
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The first ``model name`` of ``cpuinfo`` (x86), else its ``Model`` line (Raspberry Pi),
    else ``platform.processor()``."""
    try:
        lines = cpuinfo.read_text().splitlines()
    except OSError:
        lines = []
    for key in ("model name", "Model"):
        for line in lines:
            name, _, value = line.partition(":")
            if name.strip() == key and value.strip():
                return value.strip()
    return platform.processor() or UNKNOWN


def ram_gib(meminfo: Path = Path("/proc/meminfo")) -> float | None:
    """``MemTotal`` of ``meminfo`` in GiB, one decimal (None when it cannot be read)."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except (OSError, ValueError, IndexError):
        return None
    return None


def os_name(os_release: Path = Path("/etc/os-release")) -> str:
    """``PRETTY_NAME`` of ``os_release``, else ``platform.platform()``."""
    try:
        for line in os_release.read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.partition("=")[2].strip().strip('"')
    except OSError:
        pass
    return platform.platform()


def mosquitto_version() -> str:
    """The version the ``mosquitto`` broker prints (``mosquitto -h``), or ``"not installed"``."""
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(binary).exists():
        return "not installed"
    try:
        # ``-h`` prints the version first and exits 3: the status says nothing here.
        done = subprocess.run([binary, "-h"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return UNKNOWN
    for line in (done.stdout + done.stderr).splitlines():
        if "version" in line:
            return line.rsplit("version", 1)[1].strip() or UNKNOWN
    return UNKNOWN
