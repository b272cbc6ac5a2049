"""The end-to-end benchmark's configs: the box under test (the roadside unit, or the vehicle
gateway of ``--box vehicle``) and the bridge behind it."""

from __future__ import annotations

from pathlib import Path

from firmware_py.benchmarks.e2e_traffic import REFERENCE, Traffic, mount_pose
from firmware_py.benchmarks.e2e_vehicle import CHANNEL, DBC_NAME, MAPPING, STATE_RATE_HZ
from firmware_py.benchmarks.tick_accounting import BENCH_READ_WINDOW_S

DEVICE_ID = "e2e-box"
HEALTH_PERIOD_S = 0.5

_UNIT = """\
# The roadside unit of `roadgate bench e2e`: one ARS408 per bus (vcan0..vcan3) around the
# crowd's square, fused into one track list about the reference point; each radar list runs
# one tracker cycle as it completes, and the fused list goes through the applications and the
# durable outbox to the broker. The buses are read on a 9.3 ms grid, not the default 10 ms:
# user-mode-linux charges CPU by its 10 ms tick (firmware_py/benchmarks/tick_accounting.py).

[device]
id = "{device}"
region = "bench"
role = "roadside_unit"

[mqtt]
host = "{host}"
port = {port}
keepalive_s = 10

[mqtt.qos]
objects = 1

[outbox]
path = "{outbox}"

[roadside]
speed_limit_kph = 50

[perception]
intersection_id = 101
reference = {{ latitude_deg = {lat}, longitude_deg = {lon}, altitude_m = {alt} }}
uplink_period_s = {uplink_period}
read_window_s = {read_window}

[health]
period_s = {health}
"""

_RADAR = """
[[can]]
name = "radar{k}"
interface = "socketcan"
channel = "{channel}"
bitrate = 500000
dbc = "ars408_id0.dbc"
dbc_encoding = "cp1252"

[[radar]]
sensor = "{sensor}"
bus = "radar{k}"
kind = "ars408"
sensor_id = 0
latitude_deg = {lat:.9f}
longitude_deg = {lon:.9f}
altitude_m = {alt:.3f}
height_m = {height:.2f}
heading_deg = {heading:.3f}
"""

_BRIDGE = """\
[mqtt]
host = "{host}"
port = {port}
client_id = "roadgate-bench-e2e-bridge"

[bridge]
store = "{store}"
region = "+"
subscribe_qos = 1
"""


def unit_config(
    directory: Path, traffic: Traffic, host: str, port: int, uplink_period_s: float = 0.0
) -> Path:
    """Write the roadside unit's config for ``traffic`` (bus k: ``traffic.mounts[k]``) into
    ``directory``, its fused list sent once in ``uplink_period_s`` (0: after every radar list);
    returns its path."""
    lat, lon, alt = REFERENCE
    text = _UNIT.format(
        device=DEVICE_ID,
        host=host,
        port=port,
        outbox=directory / "outbox.sqlite3",
        lat=lat,
        lon=lon,
        alt=alt,
        health=HEALTH_PERIOD_S,
        uplink_period=uplink_period_s,
        read_window=BENCH_READ_WINDOW_S,
    )
    for k, (mount, channel) in enumerate(zip(traffic.mounts, traffic.channels, strict=True)):
        m_lat, m_lon, m_alt, heading = mount_pose(mount)
        text += _RADAR.format(
            k=k,
            channel=channel,
            sensor=mount.sensor_id,
            lat=m_lat,
            lon=m_lon,
            alt=m_alt,
            height=mount.height_m,
            heading=heading,
        )
    path = directory / "roadside-e2e.toml"
    path.write_text(text)
    return path


def bridge_config(directory: Path, host: str, port: int) -> Path:
    """Write the bridge's config (SQLite store ``bridge.sqlite3`` beside it); returns its path."""
    path = directory / "bridge-e2e.toml"
    path.write_text(_BRIDGE.format(host=host, port=port, store=directory / "bridge.sqlite3"))
    return path


_VEHICLE = """\
# The vehicle gateway of `roadgate bench e2e --box vehicle`: the Toyota powertrain bus on
# vcan0, no GNSS (the state is the CAN signals'), states through the durable outbox.

[device]
id = "{device}"
region = "bench"
role = "vehicle_gateway"

[mqtt]
host = "{host}"
port = {port}
keepalive_s = 10

[mqtt.qos]
state = 1

[outbox]
path = "{outbox}"

[[can]]
name = "powertrain"
interface = "socketcan"
channel = "{channel}"
bitrate = 500000
dbc = "{dbc}"

[vehicle]
mapping = "{mapping}"
length_m = 4.6
width_m = 1.8
state_rate_hz = {rate}

[health]
period_s = {health}
"""


def vehicle_config(directory: Path, host: str, port: int) -> Path:
    """Write the vehicle gateway's config into ``directory``; returns its path."""
    path = directory / "vehicle-e2e.toml"
    path.write_text(
        _VEHICLE.format(
            device=DEVICE_ID,
            host=host,
            port=port,
            outbox=directory / "outbox.sqlite3",
            channel=CHANNEL,
            dbc=DBC_NAME,
            mapping=MAPPING,
            rate=STATE_RATE_HZ,
            health=HEALTH_PERIOD_S,
        )
    )
    return path
