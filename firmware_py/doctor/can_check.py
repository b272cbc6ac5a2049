"""CAN: kernel support, and each configured SocketCAN bus present, up, at its bitrate, with
its controller state and error counters (``ip -details -statistics -json link show``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from firmware_py.config.model import CanBusConfig
from firmware_py.doctor.findings import Finding, failed, passed
from hal.probe import CanInterface, ProbeReport

IpDetails = Callable[[str], Mapping[str, Any]]
"""An interface's ``ip -details -statistics -json link show`` object ({} when unknown)."""

_NO_CAN_FIX = (
    "load the kernel's CAN modules (sudo modprobe can can_raw) and the controller's driver "
    "(the MCP2515 / MCP251xFD overlay in /boot/firmware/config.txt), then reboot"
)
_BAD_STATES = ("ERROR-PASSIVE", "BUS-OFF")


@dataclass(frozen=True)
class ErrorCounters:
    """What the kernel counts for one CAN controller (None where the driver does not say)."""

    tx_errors: int | None = None  # the controller's transmit error counter (TEC)
    rx_errors: int | None = None  # its receive error counter (REC)
    bus_off: int | None = None  # times it went bus-off
    error_passive: int | None = None
    restarts: int | None = None
    rx_dropped: int | None = None  # frames the kernel dropped

    def describe(self) -> str:
        parts = [
            f"{label} {value}"
            for label, value in (
                ("TEC", self.tx_errors),
                ("REC", self.rx_errors),
                ("bus-off", self.bus_off),
                ("error-passive", self.error_passive),
                ("restarts", self.restarts),
                ("rx dropped", self.rx_dropped),
            )
            if value is not None
        ]
        return ", ".join(parts) if parts else "no error counters"


def error_counters(details: Mapping[str, Any]) -> ErrorCounters:
    """The error counters in one ``ip -details -statistics -json`` link object; anything
    missing or of the wrong type is None (never raises)."""
    info = _dict(details.get("linkinfo"))
    data = _dict(info.get("info_data"))
    berr = _dict(data.get("berr_counter"))
    xstats = _dict(info.get("info_xstats"))
    rx = _dict(_dict(details.get("stats64")).get("rx"))
    return ErrorCounters(
        tx_errors=_count(berr.get("tx")),
        rx_errors=_count(berr.get("rx")),
        bus_off=_count(xstats.get("bus_off")),
        error_passive=_count(xstats.get("error_passive")),
        restarts=_count(xstats.get("restarts")),
        rx_dropped=_count(rx.get("dropped")),
    )


def check_can(
    buses: Sequence[CanBusConfig] | None, report: ProbeReport, details: IpDetails
) -> list[Finding]:
    """Findings for ``buses`` (None: no config, so every CAN interface the kernel has)."""
    socketcan = None if buses is None else [b for b in buses if b.interface == "socketcan"]
    needed = socketcan is None or bool(socketcan)
    if not report.can_supported:
        if needed:
            return [failed("can", "no CAN support in this kernel", _NO_CAN_FIX)]
        return [passed("can", "no CAN support in this kernel; no SocketCAN bus configured")]
    if socketcan is None:
        if not report.can_interfaces:
            return [
                failed(
                    "can",
                    "CAN support in the kernel but no CAN interface",
                    "check the CAN HAT's overlay in /boot/firmware/config.txt and "
                    "`dmesg | grep -i can`",
                )
            ]
        return [_interface(i.name, i, None, details) for i in report.can_interfaces]
    if not socketcan:
        return [passed("can", "kernel has CAN; no SocketCAN bus configured")]
    by_name = {i.name: i for i in report.can_interfaces}
    return [_interface(b.name, by_name.get(b.channel), b, details, b.channel) for b in socketcan]


def _interface(
    label: str,
    found: CanInterface | None,
    bus: CanBusConfig | None,
    details: IpDetails,
    channel: str | None = None,
) -> Finding:
    check = f"can.{label}"
    name = channel or label
    if found is None:
        return failed(
            check,
            f"no CAN interface {name!r}",
            "check the HAT's overlay in /boot/firmware/config.txt, `dmesg | grep -i can`, "
            "and [[can]] channel in the config (interfaces: `ip -br link`)",
        )
    bitrate = None if bus is None else bus.bitrate
    set_up = (
        f"sudo ip link set {name} down; sudo ip link set {name} type can"
        + (f" bitrate {bitrate}" if bitrate else "")
        + f"; sudo ip link set {name} up (or a systemd-networkd .network file)"
    )
    if found.operstate.lower() not in ("up", "unknown"):
        return failed(check, f"{name} is {found.operstate}", set_up)
    counters = error_counters(details(name))
    if bitrate is not None and found.kind == "can" and found.bitrate != bitrate:
        return failed(
            check, f"{name} runs at {found.bitrate} bit/s, the config says {bitrate}", set_up
        )
    state = (found.state or "").upper()
    if state in _BAD_STATES:
        return failed(
            check,
            f"{name} is {state} ({counters.describe()})",
            "check the bus wiring and its 120 ohm termination at both ends, and that every "
            f"node runs at {found.bitrate or bitrate} bit/s; `sudo ip link set {name} type can "
            "restart-ms 100` recovers from bus-off by itself",
        )
    rate = f" at {found.bitrate} bit/s" if found.bitrate else ""
    kind = found.kind or "can"
    return passed(check, f"{name} ({kind}) up{rate}, {state or 'state n/a'}; {counters.describe()}")


def _dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
