"""Load and validate box and bridge config files (TOML)."""

from __future__ import annotations

import ipaddress
import math
import socket
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from cloud_bridge.session import worker_client_id
from cloud_bridge.settings import BRIDGE_MQTT, BridgeSettings
from edge.clock import AUTO, CLOCK_SOURCES
from edge.geo import GeoPoint
from edge.roadside.radar_noise import RADAR_NOISE, RadarNoise
from edge.roadside.radar_reads import RADAR_READ_WINDOW_S
from edge.roadside.signal_plan import FixedTimePlan, SignalGroupPlan
from edge.uplink.outbox import Durability, OutboxLimits
from edge.uplink.settings import DEFAULT_QOS, UplinkSettings
from edge.vehicle.state_estimator import STATE_FIELDS, STATE_PATHS, VehicleDimensions
from firmware_py.config.apps import parse_apps, parse_hmi
from firmware_py.config.commands import parse_commands
from firmware_py.config.metrics import parse_observability
from firmware_py.config.model import (
    DEFAULT_STATE_DIR,
    DEFAULT_V2X_LISTEN_PORT,
    DEFAULT_V2X_RADIO_PORT,
    ROLES,
    SIGNAL_CONTROLLER_PROTOCOLS,
    V2X_RADIOS,
    BoxConfig,
    CanBusConfig,
    ClockConfig,
    DeviceConfig,
    GnssConfig,
    OutboxConfig,
    PerceptionConfig,
    RadarConfig,
    RoadsideConfig,
    Role,
    SignalControllerConfig,
    SimulationConfig,
    V2xConfig,
    VehicleConfig,
)
from firmware_py.config.reader import UINT32_MAX, Table
from firmware_py.config.reader import read_toml as read_toml  # used here; others import it
from firmware_py.config.recorder import parse_recorder
from firmware_py.errors import ConfigError
from protocols.dbc import LoadedDbc, load_dbc
from protocols.errors import ProtocolError
from protocols.mqtt_connection import MqttConnection, MqttTls
from protocols.spat import DEFAULT_PORT as DEFAULT_TSCBM_PORT
from protocols.topics import Stream, check_segment
from protocols.vss import VssMappingError, load_mapping, shipped_mappings

if TYPE_CHECKING:
    from protocols.v2x.intersection_file import IntersectionDescription

SHIPPED_DBC_DIR = Path(__file__).resolve().parents[2] / "protocols" / "dbc" / "files"
RADAR_KINDS = ("ars408", "delphi_esr")
"""``[[radar]] kind``: a radar definition shipped in ``protocols/radar`` (``<kind>.toml``)."""
EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "examples"


MQTT_STRING_BYTES = 65_535  # an MQTT UTF-8 string has a 2-byte length (MQTT 3.1.1, 1.5.3)
MAX_PAYLOAD_BYTES = 128 * 1024 * 1024  # half what an MQTT packet can hold (268,435,455)
MAX_OUTBOX_MB = 2**40  # 2**60 bytes: sizes in bytes stay within SQLite's int64
MAX_OUTBOX_AGE_H = 10 * 366 * 24.0  # ten years: "keep everything"
MAX_SECONDS = 3600.0  # a health period, a signal cycle: an hour is already far beyond use


def _mqtt_string(t: Table, key: str, default: str | None) -> str | None:
    """An MQTT UTF-8 string: no NUL (MQTT 3.1.1, 1.5.3), at most 65,535 bytes."""
    value = t.string(key, default)
    if value is not None and ("\0" in value or len(value.encode()) > MQTT_STRING_BYTES):
        raise t.error(key, value, "at most 65535 bytes of UTF-8, without NUL characters")
    return value


def _client_id(t: Table, default: str) -> str:
    # A persistent session (clean_session=False) needs a stable, non-empty client id.
    value = _mqtt_string(t, "client_id", default)
    if not value:
        raise t.error("client_id", value, "a non-empty MQTT client id")
    return value


def load_box_config(path: Path) -> BoxConfig:
    """Load a box config. Raises ``ConfigError`` for any invalid or unknown key."""
    root = read_toml(path)
    return parse_box_config(root, base_dir=path.parent)


def parse_box_config(root: Table, base_dir: Path) -> BoxConfig:
    """Build a ``BoxConfig`` from a parsed TOML root table."""
    device_t = root.table("device", required=True)
    device = DeviceConfig(
        device_id=device_t.convert("id", lambda v: check_segment("device id", v), "a device id"),
        region=device_t.convert("region", lambda v: check_segment("region", v), "a region"),
        role=Role(device_t.string("role", choices=ROLES)),
    )
    device_t.reject_unknown()
    can = tuple(_can_bus(t, base_dir) for t in root.tables("can"))
    names = [bus.name for bus in can]
    if len(set(names)) != len(names):
        raise ConfigError(f"{root.source}: CAN bus names must be unique, got {names}")
    gnss = _gnss(root.table("gnss")) if root.has("gnss") else None
    health_t = root.table("health")
    config = BoxConfig(
        source=root.source,
        device=device,
        uplink=_uplink(root.table("mqtt"), device.device_id, base_dir),
        can=can,
        gnss=gnss,
        health_period_s=health_t.number("period_s", 5.0, low=0.1, high=MAX_SECONDS),
        vehicle=_vehicle(root.table("vehicle"), can, base_dir) if root.has("vehicle") else None,
        roadside=_roadside(root.table("roadside"), base_dir) if root.has("roadside") else None,
        radars=tuple(_radar(t, set(names)) for t in root.tables("radar")),
        simulation=_simulation(root.table("simulation")),
        outbox=_outbox(root.table("outbox"), device.device_id, base_dir),
        v2x=_v2x(root.table("v2x")) if root.has("v2x") else None,
        perception=_perception(root.table("perception")),
        apps=parse_apps(root.table("apps")) if root.has("apps") else None,
        hmi=parse_hmi(root.table("hmi")) if root.has("hmi") else None,
        commands=parse_commands(root.table("commands"), base_dir),
        observability=parse_observability(root),
    )
    config = replace(
        config,
        clock=_clock(root.table("clock"), config.simulation.enabled),
        recorder=parse_recorder(root, base_dir),
    )
    health_t.reject_unknown()
    if device.role is Role.VEHICLE_GATEWAY and config.vehicle is None:
        raise ConfigError(f"{root.source}: a vehicle_gateway needs a [vehicle] table")
    if device.role is not Role.VEHICLE_GATEWAY and (root.has("apps") or root.has("hmi")):
        raise ConfigError(
            f"{root.source}: [apps] and [hmi] are a vehicle_gateway's (the Day-1 applications)"
        )
    if device.role is Role.ROADSIDE_UNIT and not config.radars:
        raise ConfigError(f"{root.source}: a roadside_unit needs at least one [[radar]]")
    _check_intersection_ids(config)
    if config.simulation.enabled:
        for i, radar in enumerate(config.radars):
            if radar.kind != "ars408":
                # The simulated world emulates ARS408 frames only: such a radar would stay silent.
                raise ConfigError(
                    f"{root.source}: radar[{i}].kind = {radar.kind!r} cannot be simulated "
                    '(the simulation emulates ARS408 radars only); use kind = "ars408" or '
                    "drop [simulation]"
                )
    root.reject_unknown()
    return config


def load_bridge_config(path: Path) -> BridgeSettings:
    """Load a bridge config. Raises ``ConfigError`` for any invalid or unknown key."""
    root = read_toml(path)
    mqtt_t = root.table("mqtt")
    mqtt = _connection(mqtt_t, path.parent, BRIDGE_MQTT)
    bridge_t = root.table("bridge")
    share_group = (
        bridge_t.convert("share_group", _share_group, "a share group name (like a region id)")
        if bridge_t.has("share_group")
        else None
    )
    if share_group is not None and not mqtt_t.has("client_id"):
        # Each worker of a group keeps a persistent session of its own.
        mqtt = replace(mqtt, client_id=worker_client_id(share_group, socket.gethostname()))
    mqtt_t.reject_unknown()
    store_path, store_dsn = _store(bridge_t, path.parent)
    settings = BridgeSettings(
        mqtt=mqtt,
        store_path=store_path,
        store_dsn=store_dsn,
        retention_days=_retention_days(bridge_t, store_dsn),
        region=(
            bridge_t.convert("region", _region_or_all, "a region, or + for every region")
            if bridge_t.has("region")
            else "+"
        ),
        max_payload_bytes=bridge_t.integer(
            "max_payload_bytes", 65536, low=64, high=MAX_PAYLOAD_BYTES
        ),
        subscribe_qos=bridge_t.integer("subscribe_qos", 1, low=0, high=2),
        max_dead_letters=bridge_t.integer("max_dead_letters", 10_000, low=1),
        max_dead_letter_bytes=bridge_t.integer("max_dead_letter_bytes", 16 * 1024 * 1024, low=1),
        device_messages_per_s=bridge_t.number("device_messages_per_s", 200.0, above=0),
        device_bytes_per_s=bridge_t.number("device_bytes_per_s", 2 * 1024 * 1024, above=0),
        device_burst_s=bridge_t.number("device_burst_s", 30.0, above=0),
        device_backlog_bytes=bridge_t.integer("device_backlog_bytes", 64 * 1024 * 1024, low=1),
        capture_max_age_s=bridge_t.number("capture_max_age_s", 7 * 24 * 3600.0, low=0),
        capture_max_ahead_s=bridge_t.number("capture_max_ahead_s", 300.0, low=0),
        share_group=share_group,
    )
    bridge_t.reject_unknown()
    if root.has("web"):  # the HTTP API and dashboard (cloud_bridge.web)
        from cloud_bridge.web.web_config import parse_web

        settings = replace(settings, web=parse_web(root.table("web")))
    root.reject_unknown()
    return settings


_POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def _store(bridge: Table, base_dir: Path) -> tuple[Path, str | None]:
    """``[bridge] store``: a PostgreSQL URL (libpq's), else a SQLite file (relative to the
    config's folder). Returns the SQLite path (the default one for PostgreSQL) and the URL."""
    default = "roadgate-bridge.sqlite3"
    value = bridge.string("store", None)
    if value is None or not value.startswith(_POSTGRES_SCHEMES):
        return bridge.file_path("store", default, base_dir=base_dir), None
    # Imported here: psycopg only matters to bridges on PostgreSQL.
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    try:
        conninfo_to_dict(value)
    except psycopg.Error as err:
        raise bridge.error("store", "(a PostgreSQL URL)", f"a valid libpq URL ({err})") from err
    return base_dir / default, value


def _retention_days(bridge: Table, store_dsn: str | None) -> int | None:
    days = bridge.integer("retention_days", None, low=1)
    if days is not None and store_dsn is None:
        raise bridge.error(
            "retention_days",
            days,
            'only with a PostgreSQL store (store = "postgresql://..."); SQLite keeps everything',
        )
    return days


def _share_group(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("not a string")
    return check_segment("share_group", value)


def _region_or_all(value: object) -> str:
    if value == "+":
        return "+"
    if not isinstance(value, str):
        raise TypeError("not a string")
    return check_segment("region", value)


def _tls(mqtt: Table, base_dir: Path) -> MqttTls | None:
    """``[mqtt.tls]``: ``ca_file`` (verify the broker), ``cert_file`` + ``key_file`` (mTLS)."""
    if not mqtt.has("tls"):
        return None
    t = mqtt.table("tls")
    files: dict[str, str | None] = {}
    for key in ("ca_file", "cert_file", "key_file"):
        path = t.existing_file(key, base_dir=base_dir)
        files[key] = None if path is None else str(path)
    if (files["cert_file"] is None) != (files["key_file"] is None):
        raise ConfigError(f"{t.source}: {t.path}: cert_file and key_file go together (mutual TLS)")
    if files["ca_file"] is None:
        raise t.error("ca_file", None, "the CA that signed the broker's certificate is required")
    t.reject_unknown()
    return MqttTls(
        ca_certs=files["ca_file"], certfile=files["cert_file"], keyfile=files["key_file"]
    )


def _connection(t: Table, base_dir: Path, defaults: MqttConnection) -> MqttConnection:
    """The connection keys of an ``[mqtt]`` table (a box's or the bridge's); ``defaults``
    gives the role's client id, protocol and first reconnect delay. The caller rejects
    unknown keys, after reading its own."""
    connection = MqttConnection(
        host=t.text("host", defaults.host, what="the broker's host name or address"),
        port=t.integer("port", defaults.port, low=1, high=65535),
        client_id=_client_id(t, defaults.client_id or ""),
        keepalive_s=t.integer("keepalive_s", defaults.keepalive_s, low=5, high=65535),
        username=_mqtt_string(t, "username", None),
        password=_mqtt_string(t, "password", None),
        tls=_tls(t, base_dir),
        mqtt5=t.boolean("mqtt5", defaults.mqtt5),
    )
    reconnect_min_s = t.number("reconnect_min_s", defaults.reconnect_min_s, low=0.1, high=60)
    # A fleet reconnecting after a broker restart spreads over up to this long (jittered).
    reconnect_max_s = t.number("reconnect_max_s", defaults.reconnect_max_s, low=0.1, high=3600)
    if reconnect_max_s < reconnect_min_s:
        raise t.error("reconnect_max_s", reconnect_max_s, "must not be below reconnect_min_s")
    return replace(connection, reconnect_min_s=reconnect_min_s, reconnect_max_s=reconnect_max_s)


def _uplink(t: Table, device_id: str, base_dir: Path) -> UplinkSettings:
    qos_t = t.table("qos")
    qos = dict(DEFAULT_QOS)
    streams = [s.value for s in Stream]
    for key, _ in qos_t.items():
        if key not in streams:
            raise qos_t.error(key, qos_t.integer(key), f"not a stream; valid: {streams}")
        qos[Stream(key)] = qos_t.integer(key, low=0, high=2)
    settings = UplinkSettings(
        mqtt=_connection(t, base_dir, MqttConnection(client_id=device_id)),
        # MQTT 5's Message Expiry Interval is a four-byte integer (MQTT 5.0, 3.3.2.3.3).
        expiry_s=t.integer("expiry_s", 10, low=1, high=UINT32_MAX),
        qos=MappingProxyType(qos),
    )
    t.reject_unknown()
    return settings


def _can_bus(t: Table, base_dir: Path) -> CanBusConfig:
    dbc_name = t.string("dbc")
    dbc = _resolve_dbc(dbc_name, t.file_path("dbc", base_dir=base_dir))
    if not _is_file(dbc):
        raise t.error(
            "dbc", dbc_name, f"no such file (looked at {str(dbc)!r} and {str(SHIPPED_DBC_DIR)!r})"
        )
    bus = CanBusConfig(
        name=t.text("name", what="a bus name"),
        interface=t.text("interface", "socketcan", what="a python-can interface"),
        channel=t.text("channel", what="a CAN channel"),
        bitrate=t.integer("bitrate", None, low=10_000, high=8_000_000),
        fd=t.boolean("fd", False),
        dbc=dbc,
        dbc_encoding=t.encoding("dbc_encoding"),
    )
    t.reject_unknown()
    return bus


def _resolve_dbc(name: str, path: Path) -> Path:
    """``path`` (``name`` resolved against the config's folder) if there, else a shipped DBC."""
    if _is_file(path) or name.startswith("~") or Path(name).is_absolute():
        return path
    return SHIPPED_DBC_DIR / name


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a name too long for the file system, a loop of links
        return False


def _gnss(t: Table) -> GnssConfig:
    gnss = GnssConfig(
        port=t.text("port", what='a serial device, a pyserial URL or "simulated"'),
        baudrate=t.integer("baudrate", 9600, low=300, high=4_000_000),
        allow_missing_checksum=t.boolean("allow_missing_checksum", False),
    )
    t.reject_unknown()
    return gnss


_MAX_CAUSE = 300  # characters of a library's error quoted in a config error


def _vehicle(t: Table, can: tuple[CanBusConfig, ...], base_dir: Path) -> VehicleConfig:
    """``[vehicle]``: ``mapping`` names the VSS mapping (``_mapping_file``); each
    ``[vehicle.signals."<VSS path>"]`` table overrides one of its signals. Both are checked
    against the DBC of the box's one CAN bus, for the leaves the vehicle state reads."""
    mapping_file = _mapping_file(t, base_dir)
    signals_t = t.table("signals")
    overrides = {}
    for path, value in signals_t.items():
        if path not in STATE_PATHS:
            raise signals_t.error(path, value, _not_a_state_path(path))
        overrides[path] = signals_t.table(path)
    if t.has("enums"):
        raise t.error(
            "enums",
            t.table("enums").items(),
            "no longer a key: the mapping gives turn signals and gear; override their VSS "
            "leaves in [vehicle.signals]",
        )
    db = _vehicle_dbc(t, can).database
    try:
        mapping = load_mapping(mapping_file, db, only=STATE_PATHS - overrides.keys())
    except VssMappingError as err:
        raise t.error("mapping", t.string("mapping"), _cause(err)) from err
    try:
        signals = mapping.with_overrides(overrides, db)
    except VssMappingError as err:  # names the config and the override already
        raise ConfigError(_cause(err, limit=None)) from err
    if not signals.signals:
        raise t.error(
            "mapping", t.string("mapping"), "maps none of the leaves the vehicle state reads"
        )
    vehicle = VehicleConfig(
        signals=signals,
        dimensions=VehicleDimensions(
            length_m=t.number("length_m", 4.6, low=0.5, high=30),
            width_m=t.number("width_m", 1.8, low=0.3, high=5),
        ),
        state_rate_hz=t.number("state_rate_hz", 10.0, low=0.1, high=100),
        hard_braking_mps2=t.number("hard_braking_mps2", -4.0, low=-20, high=-0.5),
    )
    t.reject_unknown()
    return vehicle


def _mapping_file(t: Table, base_dir: Path) -> Path:
    """``mapping``: a shipped mapping's name (``protocols/vss/mappings``), else the path of a
    mapping file (relative to the config's folder)."""
    name = t.string("mapping")
    shipped = shipped_mappings()
    if name in shipped:
        return shipped[name]
    path = t.file_path("mapping", base_dir=base_dir)
    if not _is_file(path):
        raise t.error(
            "mapping",
            name,
            f"a shipped mapping ({', '.join(shipped)}) or a mapping file "
            f"(no such file: {str(path)!r})",
        )
    return path


def _not_a_state_path(key: str) -> str:
    """What ``[vehicle.signals]`` takes, for an error about ``key``."""
    paths = ", ".join(sorted(STATE_PATHS))
    renamed = {f.name: f.path for f in STATE_FIELDS}.get(key)
    hint = f"; {key} is {renamed!r} now" if renamed else ""
    return f"a VSS path the vehicle state reads ({paths}){hint}"


def _vehicle_dbc(t: Table, can: tuple[CanBusConfig, ...]) -> LoadedDbc:
    """The DBC of the vehicle's one CAN bus (what the mapping is checked against)."""
    if len(can) != 1:
        raise ConfigError(
            f"{t.source}: [vehicle] reads exactly one [[can]] bus (its DBC checks the "
            f"mapping); there are {len(can)}"
        )
    bus = can[0]
    try:
        return load_dbc(bus.dbc, encoding=bus.dbc_encoding)
    except (ProtocolError, ValueError) as err:
        encoding = f" as dbc_encoding {bus.dbc_encoding!r}" if bus.dbc_encoding else ""
        raise ConfigError(
            f"{t.source}: can[0].dbc: cannot load {bus.dbc}{encoding}: {_cause(err)}"
        ) from err


def _cause(err: Exception, limit: int | None = _MAX_CAUSE) -> str:
    """``err``'s message on one line (a DBC's text may hold any character), cut to
    ``limit``."""
    text = " ".join(str(err).split())
    return text if limit is None or len(text) <= limit else text[: limit - 3] + "..."


def _radar(t: Table, buses: set[str]) -> RadarConfig:
    bus = t.string("bus")
    if bus not in buses:
        raise t.error("bus", bus, f"expected the name of a [[can]] bus: {sorted(buses)}")
    radar = RadarConfig(
        sensor=t.string("sensor", "radar0"),
        bus=bus,
        kind=(kind := t.string("kind", "ars408", choices=RADAR_KINDS)),
        # An ESR has no sensor-id offsets (one per bus); an ARS408 takes 0..7.
        sensor_id=t.integer("sensor_id", 0, low=0, high=0 if kind == "delphi_esr" else 7),
        position=GeoPoint(
            t.number("latitude_deg", low=-90, high=90),
            t.number("longitude_deg", low=-180, high=180),
            t.number("altitude_m", 0.0, low=-1000, high=10_000),
        ),
        heading_deg=t.number("heading_deg", low=0, high=360),
        height_m=t.number("height_m", 5.0, low=0, high=100),
        noise=_radar_noise(t.table("noise"), kind) if t.has("noise") else None,
    )
    t.reject_unknown()
    return radar


def _radar_noise(t: Table, kind: str) -> RadarNoise:
    """``[radar.noise]``: 1-sigma errors, each overriding the radar kind's default."""
    d = RADAR_NOISE[kind]
    noise = RadarNoise(
        range_std_m=t.number("range_std_m", d.range_std_m, above=0, high=100),
        azimuth_std_rad=math.radians(
            t.number("azimuth_std_deg", math.degrees(d.azimuth_std_rad), above=0, high=45)
        ),
        min_cross_range_std_m=t.number(
            "min_cross_range_std_m", d.min_cross_range_std_m, above=0, high=100
        ),
        velocity_std_mps=t.number("velocity_std_mps", d.velocity_std_mps, above=0, high=100),
    )
    t.reject_unknown()
    return noise


def _perception(t: Table) -> PerceptionConfig:
    reference = None
    if t.has("reference"):
        r = t.table("reference")
        reference = GeoPoint(
            r.number("latitude_deg", low=-90, high=90),
            r.number("longitude_deg", low=-180, high=180),
            r.number("altitude_m", 0.0, low=-1000, high=10_000),
        )
        r.reject_unknown()
    perception = PerceptionConfig(
        intersection_id=t.integer("intersection_id", 0, low=0, high=65535),
        reference=reference,
        raw_object_lists=t.boolean("raw_object_lists", False),
        uplink_period_s=t.number("uplink_period_s", 0.0, low=0, high=10),
        cooperative=t.boolean("cooperative", True),
        station_ids=_station_ids(t.table("station_ids")) if t.has("station_ids") else (),
        read_window_s=t.number("read_window_s", RADAR_READ_WINDOW_S, low=0, high=0.1),
    )
    t.reject_unknown()
    return perception


def _station_ids(t: Table) -> tuple[tuple[str, int], ...]:
    """``[perception.station_ids]``: device id = the BSM station id its radio sends."""
    pairs = []
    for device_id, _ in t.items():
        try:
            check_segment("device id", device_id)
        except ValueError as err:
            raise t.error(device_id, device_id, f"a device id as the key ({err})") from err
        pairs.append((device_id, t.integer(device_id, low=0, high=2**63 - 1)))
    t.reject_unknown()
    return tuple(pairs)


def _roadside(t: Table, base_dir: Path) -> RoadsideConfig:
    plan = _signal_plan(t.table("signal_plan")) if t.has("signal_plan") else None
    controller = None
    if t.has("signal_controller"):
        if plan is not None:
            # No fallback from the controller to the plan: SPaT guessed from a plan while the
            # controller is silent could say green at a signal in flash or dark.
            raise ConfigError(
                f"{t.source}: {t.path}: signal_plan and signal_controller exclude each other: "
                "SPaT comes from the controller when there is one (no fallback to a plan "
                "while it is silent), else from the fixed-time plan; remove one"
            )
        controller = _signal_controller(t.table("signal_controller"))
    roadside = RoadsideConfig(
        speed_limit_mps=t.number("speed_limit_kph", 50.0, low=5, high=200) / 3.6,
        spat_rate_hz=t.number("spat_rate_hz", 10.0, low=0.1, high=50),
        signal_plan=plan,
        signal_controller=controller,
        intersection=_intersection(t, base_dir),
    )
    t.reject_unknown()
    return roadside


def _intersection(t: Table, base_dir: Path) -> IntersectionDescription | None:
    """``intersection``: the intersection description file (relative to the config's
    folder; a bare name not found there may be one shipped in ``examples``, as DBCs are),
    read and checked now (``protocols.v2x.intersection_file``)."""
    if not t.has("intersection"):
        return None
    path = t.file_path("intersection", base_dir=base_dir)
    if not _is_file(path):
        name = t.string("intersection")
        shipped = EXAMPLES_DIR / name
        if Path(name).name != name or name in (".", "..") or not _is_file(shipped):
            raise t.error(
                "intersection",
                name,
                f"an intersection description file (no such file: {str(path)!r})",
            )
        path = shipped
    # Here, not at the top: the file is checked with the V2X codec (asn1tools, about 20 MiB),
    # which a box without an intersection file never needs.
    from protocols.v2x.intersection_file import read_intersection_file

    try:
        return read_intersection_file(path)
    except ProtocolError as err:  # names the intersection file, its table and key
        raise t.error("intersection", t.string("intersection"), _cause(err, limit=None)) from err


def _check_intersection_ids(config: BoxConfig) -> None:
    """SPaT, fused objects and MAP must name the same intersection, or a vehicle cannot put
    them together."""
    roadside = config.roadside
    if roadside is None or roadside.intersection is None:
        return
    node_id = roadside.intersection.map.node_id
    others = {
        "roadside.signal_plan.intersection_id": (
            roadside.signal_plan.intersection_id if roadside.signal_plan else None
        ),
        "roadside.signal_controller.intersection_id": (
            roadside.signal_controller.intersection_id if roadside.signal_controller else None
        ),
        "perception.intersection_id": config.perception.intersection_id or None,
    }
    for key, value in others.items():
        if value is not None and value != node_id:
            raise ConfigError(
                f"{config.source}: {key} = {value} is invalid: the intersection file "
                f"(roadside.intersection) describes intersection {node_id}; use the same id"
            )


def _signal_plan(plan_t: Table) -> FixedTimePlan:
    groups = []
    for g in plan_t.tables("groups"):
        groups.append(
            SignalGroupPlan(
                signal_group=g.integer("signal_group", low=1, high=255),
                green_start_s=g.number("green_start_s", low=0, high=MAX_SECONDS),
                green_s=g.number("green_s", low=1, high=MAX_SECONDS),
                amber_s=g.number("amber_s", 3.0, low=0, high=MAX_SECONDS),
            )
        )
        g.reject_unknown()
    try:
        plan = FixedTimePlan(
            intersection_id=plan_t.integer("intersection_id", low=0, high=65535),
            cycle_s=plan_t.number("cycle_s", low=1, high=MAX_SECONDS),
            groups=tuple(groups),
        )
    except ValueError as err:
        raise ConfigError(f"{plan_t.source}: {plan_t.path}: {err}") from err
    plan_t.reject_unknown()
    return plan


def _ip_address(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("not a string")
    return str(ipaddress.ip_address(value))


def _signal_controller(t: Table) -> SignalControllerConfig:
    bind = (
        t.convert("bind", _ip_address, "a local IP address (0.0.0.0: every interface)")
        if t.has("bind")
        else "127.0.0.1"
    )
    groups: dict[int, int] = {}
    for g in t.tables("signal_groups"):
        phase = g.integer("phase", low=1, high=16)
        if phase in groups:
            raise g.error("phase", phase, "each phase once")
        groups[phase] = g.integer("signal_group", low=1, high=255)
        g.reject_unknown()
    controller = SignalControllerConfig(
        protocol=t.string("protocol", "tscbm", choices=SIGNAL_CONTROLLER_PROTOCOLS),
        bind=bind,
        port=t.integer("port", DEFAULT_TSCBM_PORT, low=1, high=65535),
        timeout_s=t.number("timeout_s", 1.0, low=0.1, high=60),
        intersection_id=t.integer("intersection_id", low=0, high=65535),
        signal_groups=MappingProxyType(groups),
    )
    t.reject_unknown()
    return controller


def _v2x(t: Table) -> V2xConfig:
    """``[v2x]``: the C-V2X radio's UDP host interface."""
    listen_host = (
        t.convert("listen_host", _ip_address, "a local IP address (0.0.0.0: every interface)")
        if t.has("listen_host")
        else "127.0.0.1"
    )
    v2x = V2xConfig(
        radio=t.string("radio", "udp", choices=V2X_RADIOS),
        radio_host=t.string("radio_host", "127.0.0.1"),
        radio_port=t.integer("radio_port", DEFAULT_V2X_RADIO_PORT, low=1, high=65535),
        listen_host=listen_host,
        listen_port=t.integer("listen_port", DEFAULT_V2X_LISTEN_PORT, low=1, high=65535),
        station_id=t.integer("station_id", low=0, high=2**63 - 1),
    )
    if not v2x.radio_host:
        raise t.error("radio_host", v2x.radio_host, "the radio's host name or address")
    if v2x.radio_host == v2x.listen_host and v2x.radio_port == v2x.listen_port:
        raise t.error("radio_port", v2x.radio_port, "a port other than listen_port")
    t.reject_unknown()
    return v2x


def _outbox(t: Table, device_id: str, base_dir: Path) -> OutboxConfig:
    default = DEFAULT_STATE_DIR / f"{device_id}-outbox.sqlite3"
    path = t.file_path("path", str(default), base_dir=base_dir)
    try:
        limits = OutboxLimits(
            max_bytes=int(t.number("max_mb", 64.0, low=0.001, high=MAX_OUTBOX_MB) * 1024 * 1024),
            max_age_s=t.number("max_age_h", 24.0, low=0.001, high=MAX_OUTBOX_AGE_H) * 3600,
            hard_max_bytes=int(
                t.number("hard_max_mb", 256.0, low=0.001, high=MAX_OUTBOX_MB) * 1024 * 1024
            ),
            min_free_bytes=int(
                t.number("min_free_mb", 16.0, low=0.0, high=MAX_OUTBOX_MB) * 1024 * 1024
            ),
        )
    except ValueError as err:
        raise ConfigError(f"{t.source}: {t.path}: {err}") from err
    config = OutboxConfig(
        path=path,
        limits=limits,
        durability=Durability(
            t.string("durability", "normal", choices=[d.value for d in Durability])
        ),
    )
    t.reject_unknown()
    return config


def _clock(t: Table, simulated: bool) -> ClockConfig:
    """``[clock]``: a simulated box's clock is labelled SIMULATED unless it says otherwise."""
    max_error_ms = t.number("max_error_ms", None, low=0, high=MAX_SECONDS * 1000)
    clock = ClockConfig(
        source=t.string(
            "source", "simulated" if simulated else AUTO, choices=(AUTO, *CLOCK_SOURCES)
        ),
        max_error_s=None if max_error_ms is None else max_error_ms / 1000,
        gnss_bound_s=t.number("gnss_disagreement_bound_ms", 500.0, above=0, high=MAX_SECONDS * 1000)
        / 1000,
    )
    t.reject_unknown()
    return clock


def _simulation(t: Table) -> SimulationConfig:
    sim = SimulationConfig(enabled=t.boolean("enabled", False), actor=t.string("actor", ""))
    t.reject_unknown()
    return sim


def heading_rad(radar: RadarConfig) -> float:
    """A radar's boresight in radians clockwise from north."""
    return math.radians(radar.heading_deg)
