"""What CAN and serial hardware this machine has, as the kernel reports it (``roadgate hal probe``).

Reads ``/sys/class/net``, ``/dev`` and, for CAN state and bitrate, ``ip -details -json link``.
Nothing is opened for writing and nothing is configured.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ARPHRD_CAN = 280  # <linux/if_arp.h>: the link type of every CAN interface (can, vcan, slcan)
SERIAL_PATTERNS = (
    "serial/by-id/*",
    "gnss[0-9]*",
    "ttyUSB[0-9]*",
    "ttyACM[0-9]*",
    "ttyAMA[0-9]*",
    "serial[0-9]*",
    "pts/[0-9]*",
)
"""Where serial devices appear under /dev: udev names first, then kernel names and ptys."""


@dataclass(frozen=True)
class CanInterface:
    """One CAN network interface. ``kind`` is the driver kind ``ip`` reports (``vcan``,
    ``can`` ...), ``state`` the controller state (``ERROR-ACTIVE`` ...) or link state, and
    ``bitrate`` / ``data_bitrate`` are ``None`` where the kernel does not say."""

    name: str
    kind: str | None
    operstate: str
    state: str | None = None
    bitrate: int | None = None
    data_bitrate: int | None = None
    mtu: int | None = None


@dataclass(frozen=True)
class SerialPort:
    """A serial device node; ``target`` is what a udev symlink points to."""

    path: str
    target: str | None = None


@dataclass(frozen=True)
class ProbeReport:
    """Everything ``probe`` found."""

    can_supported: bool
    can_interfaces: tuple[CanInterface, ...]
    serial_ports: tuple[SerialPort, ...]


def kernel_has_can() -> bool:
    """True when this kernel can open a raw CAN socket."""
    try:
        with socket.socket(socket.AF_CAN, socket.SOCK_RAW, socket.CAN_RAW):
            return True
    except (OSError, AttributeError):  # AttributeError: a Python built without AF_CAN
        return False


def probe(sys_net: Path = Path("/sys/class/net"), dev: Path = Path("/dev")) -> ProbeReport:
    """Probe CAN support, CAN interfaces under ``sys_net`` and serial devices under ``dev``.

    Never raises for missing directories or tools: what cannot be read is left out or
    ``None``.
    """
    return ProbeReport(
        can_supported=kernel_has_can(),
        can_interfaces=tuple(list_can_interfaces(sys_net)),
        serial_ports=tuple(list_serial_ports(dev)),
    )


def list_can_interfaces(sys_net: Path = Path("/sys/class/net")) -> list[CanInterface]:
    """The CAN interfaces (link type ``ARPHRD_CAN``) under ``sys_net``, sorted by name."""
    found = []
    try:
        entries = sorted(sys_net.iterdir())
    except OSError:
        return []
    for entry in entries:
        if _read(entry / "type") != str(ARPHRD_CAN):
            continue
        info = ip_link_details(entry.name).get("linkinfo") or {}
        data = info.get("info_data") or {}
        found.append(
            CanInterface(
                name=entry.name,
                kind=info.get("info_kind"),
                operstate=_read(entry / "operstate") or "unknown",
                state=data.get("state"),
                bitrate=(data.get("bittiming") or {}).get("bitrate"),
                data_bitrate=(data.get("data_bittiming") or {}).get("bitrate"),
                mtu=_int(_read(entry / "mtu")),
            )
        )
    return found


def list_serial_ports(dev: Path = Path("/dev")) -> list[SerialPort]:
    """Serial device nodes under ``dev`` (udev names, USB/UART ttys, ptys), without repeats."""
    seen: set[str] = set()
    ports = []
    for pattern in SERIAL_PATTERNS:
        for path in sorted(dev.glob(pattern)):
            if str(path) in seen or path.name == "ptmx":
                continue
            seen.add(str(path))
            target = str(path.resolve()) if path.is_symlink() else None
            ports.append(SerialPort(str(path), target))
    return ports


def ip_link_details(name: str) -> dict[str, Any]:
    """``ip -details -statistics -json link show dev name``'s object (kind, CAN bit timing
    and state, error counters); {} without ``ip`` or when it fails (never raises)."""
    ip = shutil.which("ip") or next(
        (p for p in ("/usr/sbin/ip", "/sbin/ip", "/bin/ip") if Path(p).exists()), None
    )
    if ip is None:
        return {}
    try:
        done = subprocess.run(
            [ip, "-details", "-statistics", "-json", "link", "show", "dev", name],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        parsed = json.loads(done.stdout) if done.returncode == 0 else []
    except (OSError, subprocess.TimeoutExpired, json.JSONDecodeError):
        return {}
    if isinstance(parsed, list) and parsed and isinstance(parsed[0], dict):
        return parsed[0]
    return {}


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _int(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() else None
