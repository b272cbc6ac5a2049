"""The demo's live terminal summary: devices, message rates per stream, objects, events."""

from __future__ import annotations

import time

from rich.console import Group
from rich.table import Table
from rich.text import Text

from cloud_bridge.stats import StatsSnapshot
from firmware_py.demo.monitor import IntersectionView

STREAM_ORDER = ("state", "objects", "spat", "events", "health", "status")


def render(view: IntersectionView, stats: StatsSnapshot, elapsed_s: float) -> Group:
    """A rich renderable of the whole picture."""
    devices = Table(title="Devices", expand=False)
    for column in ("device", "role", "status", "objects seen", "speed km/h", "last heard"):
        devices.add_column(column)
    now = time.time()
    for device in sorted(view.devices.values(), key=lambda d: d.device_id):
        devices.add_row(
            device.device_id,
            device.role.lower(),
            device.liveness.lower(),
            str(device.objects) if device.role == "ROADSIDE_UNIT" else "",
            f"{device.speed_mps * 3.6:.0f}" if device.speed_mps is not None else "",
            f"{now - device.last_seen:.1f} s ago",
        )
    rates = Table(title=f"Stored by the bridge (msg/s over {stats.window_s:.0f} s)")
    for stream in STREAM_ORDER:
        rates.add_column(stream, justify="right")
    rates.add_row(*(f"{stats.rates.get(s, 0.0):.1f}" for s in STREAM_ORDER))
    rejected = ", ".join(f"{k}={v}" for k, v in sorted(stats.rejected.items())) or "none"
    header = Text(
        f"RoadGate demo - {elapsed_s:.0f} s - stored {stats.stored} messages, "
        f"{stats.duplicates} duplicates, rejected: {rejected}",
        style="bold",
    )
    tracks = Table(title="Fused tracks at the intersection (m east/north of its reference)")
    for column in ("id", "class", "east", "north", "km/h", "± m", "sensors", "vehicle"):
        tracks.add_column(column)
    for track in view.tracks:
        tracks.add_row(
            str(track.object_id),
            track.object_class,
            f"{track.east_m:.1f}",
            f"{track.north_m:.1f}",
            f"{track.speed_mps * 3.6:.0f}",
            f"{track.accuracy_m:.1f}",
            ",".join(track.sources),
            track.cooperative_id,
        )
    events = Text("\n".join(view.events) or "(none yet)")
    return Group(
        header,
        devices,
        rates,
        tracks,
        Text(f"Signal: {view.spat}"),
        Text(f"Last events ({view.event_count} in all):", style="bold"),
        events,
    )


def one_line(view: IntersectionView, stats: StatsSnapshot, elapsed_s: float) -> str:
    """The same picture as one log line, for terminals that are not interactive."""
    rates = " ".join(f"{s}={stats.rates.get(s, 0.0):.1f}/s" for s in STREAM_ORDER)
    online = sum(1 for d in view.devices.values() if d.liveness == "ONLINE")
    objects = sum(d.objects for d in view.devices.values())
    tracks = "; ".join(track.describe() for track in view.tracks) or "none"
    return (
        f"[{elapsed_s:5.0f} s] devices online {online}/{len(view.devices)}, "
        f"objects {objects}, stored {stats.stored}, events {view.event_count} | {rates}\n"
        f"        tracks: {tracks}"
        + "".join(f"\n        event: {line}" for line in list(view.events)[:3])
    )
