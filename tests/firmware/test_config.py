"""Config files: the shipped examples load; every mistake is named with key, value and fix."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.vehicle.state_estimator import STATE_PATHS
from firmware_py.config.loader import EXAMPLES_DIR, load_box_config, load_bridge_config
from firmware_py.config.model import BoxConfig
from firmware_py.errors import ConfigError
from protocols.topics import Stream
from protocols.vss import shipped_mappings

EXAMPLES = sorted(
    p
    for p in EXAMPLES_DIR.glob("*.toml")
    if p.name != "bridge.toml" and not p.name.startswith("intersection-")
)
VEHICLE = (EXAMPLES_DIR / "vehicle-toyota.toml").read_text()


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_shipped_box_examples_load(path: Path) -> None:
    config = load_box_config(path)
    assert config.device.region == "xian-gaoxin"
    assert config.simulation.enabled


def test_shipped_bridge_example_loads() -> None:
    settings = load_bridge_config(EXAMPLES_DIR / "bridge.toml")
    assert settings.store_path == EXAMPLES_DIR / "roadgate-bridge.sqlite3"
    assert settings.mqtt.client_id == "roadgate-bridge"


def test_the_vehicle_reads_the_named_vss_mapping_for_the_state_s_leaves() -> None:
    config = load_box_config(EXAMPLES_DIR / "vehicle-toyota.toml")
    assert config.vehicle is not None
    mapping = config.vehicle.signals
    assert mapping.source == shipped_mappings()["toyota_nodsu_pt"]
    speed = mapping.signal("Vehicle.Speed")
    assert speed is not None
    assert (speed.message, speed.signal, speed.unit, speed.factor) == (
        "SPEED",
        "SPEED",
        "km/h",
        1.0,
    )
    left = mapping.signal("Vehicle.Body.Lights.DirectionIndicator.Left.IsSignaling")
    assert left is not None
    assert left.values == {1.0: 1.0, 2.0: 0.0, 3.0: 0.0}  # the DBC's left, right, none
    # The state's leaves only: the mapping's wheel speeds are not decoded.
    assert {s.path for s in mapping.signals} == STATE_PATHS - {
        "Vehicle.Chassis.Brake.FluidPressure"
    }
    assert config.uplink.qos[Stream.EVENTS] == 1


def with_vehicle(text: str) -> str:
    """The vehicle example with ``text`` added to its [vehicle] table."""
    anchor = "hard_braking_mps2 = -4.0\n"
    assert anchor in VEHICLE
    return VEHICLE.replace(anchor, anchor + text, 1)


def test_single_signals_are_overridden_and_a_mapping_file_is_found(tmp_path: Path) -> None:
    mine = tmp_path / "cars" / "mine.toml"
    mine.parent.mkdir()
    mine.write_text(shipped_mappings()["toyota_nodsu_pt"].read_text())  # its dbc: unused
    text = with_vehicle(
        '[vehicle.signals."Vehicle.AngularVelocity.Yaw"]\nfactor = -1\n'
        '[vehicle.signals."Vehicle.Chassis.Brake.FluidPressure"]\n'
        'message = "BRAKE_MODULE"\nsignal = "BRAKE_PRESSURE"\nunit = "kPa"\n'
    ).replace('mapping = "toyota_nodsu_pt"', 'mapping = "cars/mine.toml"')
    path = tmp_path / "box.toml"
    path.write_text(text)
    config = load_box_config(path)
    assert config.vehicle is not None
    mapping = config.vehicle.signals
    assert mapping.source == mine
    yaw = mapping.signal("Vehicle.AngularVelocity.Yaw")
    pressure = mapping.signal("Vehicle.Chassis.Brake.FluidPressure")
    assert yaw is not None
    assert pressure is not None
    assert (yaw.message, yaw.signal, yaw.factor) == ("KINEMATICS", "YAW_RATE", -1.0)
    assert (pressure.message, pressure.unit) == ("BRAKE_MODULE", "kPa")


OVERRIDE_MISTAKES = {
    "unknown mapping": (
        VEHICLE.replace('mapping = "toyota_nodsu_pt"', 'mapping = "toyota"'),
        r"vehicle\.mapping = 'toyota' is invalid: a shipped mapping \(gwm_haval_h6_phev_2024, "
        r"hongqi_hs5, toyota_nodsu_pt\) or a mapping file \(no such file: ",
    ),
    "mapping for another DBC": (
        VEHICLE.replace('mapping = "toyota_nodsu_pt"', 'mapping = "hongqi_hs5"'),
        r"vehicle\.mapping = 'hongqi_hs5' is invalid: .*hongqi_hs5\.toml: signal\[0\] "
        r"\(Vehicle\.Speed\): key 'message': no message 'ABS_1' in the DBC \(valid: ",
    ),
    "no mapping": (
        VEHICLE.replace('mapping = "toyota_nodsu_pt"\n', ""),
        r"vehicle\.mapping is required",
    ),
    "a former field name": (
        with_vehicle('[vehicle.signals]\nspeed_mps = { message = "SPEED", signal = "SPEED" }\n'),
        r"vehicle\.signals\.speed_mps = .* is invalid: a VSS path the vehicle state reads "
        r"\(.*Vehicle\.Speed.*\); speed_mps is 'Vehicle\.Speed' now",
    ),
    "a leaf the state does not read": (
        with_vehicle(
            '[vehicle.signals."Vehicle.Chassis.Axle.Row1.Wheel.Left.Speed"]\nfactor = 1\n'
        ),
        r"vehicle\.signals\.'Vehicle\.Chassis\.Axle\.Row1\.Wheel\.Left\.Speed' = .* is "
        r"invalid: a VSS path the vehicle state reads",
    ),
    "former enums": (
        with_vehicle('[vehicle.enums]\ngear = { message = "GEAR_PACKET", signal = "GEAR" }\n'),
        r"vehicle\.enums = .* is invalid: no longer a key: the mapping gives turn signals",
    ),
    "override not a table": (
        with_vehicle('[vehicle.signals]\n"Vehicle.Speed" = 3\n'),
        r"vehicle\.signals\.'Vehicle\.Speed' = 3 is invalid: expected a table",
    ),
    "override of a scale": (
        with_vehicle('[vehicle.signals."Vehicle.Speed"]\nscale = 0.2777777777777778\n'),
        r"unknown key 'vehicle\.signals\.'Vehicle\.Speed'\.scale'; valid keys here: ",
    ),
    "override of a signal the DBC lacks": (
        with_vehicle('[vehicle.signals."Vehicle.Speed"]\nsignal = "SPEEDO"\n'),
        r"vehicle\.signals\.'Vehicle\.Speed': key 'signal': message 'SPEED' has no signal "
        r"'SPEEDO' \(valid: CHECKSUM, .*SPEED",
    ),
    "override of a unit the DBC contradicts": (
        with_vehicle('[vehicle.signals."Vehicle.Speed"]\nunit = "mph"\n'),
        r"vehicle\.signals\.'Vehicle\.Speed': key 'unit': 'mph', but the DBC gives SPEED in "
        r"'km/h'",
    ),
    "override of a factor that is no number": (
        with_vehicle('[vehicle.signals."Vehicle.Speed"]\nfactor = "fast"\n'),
        r"vehicle\.signals\.'Vehicle\.Speed'\.factor = 'fast' is invalid: expected a finite",
    ),
    "new leaf without its message": (
        with_vehicle('[vehicle.signals."Vehicle.Chassis.Brake.FluidPressure"]\nunit = "kPa"\n'),
        r"vehicle\.signals\.'Vehicle\.Chassis\.Brake\.FluidPressure': .* is not in the "
        r"mapping toyota_nodsu_pt\.toml, so its override names a message and a signal",
    ),
    "two buses": (
        VEHICLE.replace(
            "[gnss]",
            '[[can]]\nname = "body"\nchannel = "x"\n'
            'dbc = "toyota_nodsu_pt_generated.dbc"\n\n[gnss]',
        ),
        r"\[vehicle\] reads exactly one \[\[can\]\] bus \(its DBC checks the mapping\); "
        r"there are 2",
    ),
    "a DBC the encoding cannot read": (
        VEHICLE.replace("bitrate = 500000", 'bitrate = 500000\ndbc_encoding = "utf-16"'),
        r"can\[0\]\.dbc: cannot load .*toyota_nodsu_pt_generated\.dbc as dbc_encoding 'utf-16': ",
    ),
}


@pytest.mark.parametrize("case", sorted(OVERRIDE_MISTAKES))
def test_a_bad_mapping_or_override_is_a_one_line_config_error(tmp_path: Path, case: str) -> None:
    text, message = OVERRIDE_MISTAKES[case]
    assert text != VEHICLE
    path = tmp_path / "box.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as caught:
        load_box_config(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert len(str(caught.value).splitlines()) == 1


def load_text(tmp_path: Path, text: str) -> None:
    path = tmp_path / "box.toml"
    path.write_text(text)
    load_box_config(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("port = 1883", "port = 99999"), r"mqtt\.port = 99999 is invalid: expected an integer in"),
        (("port = 1883", 'port = "x"'), r"mqtt\.port = 'x' is invalid: expected an integer"),
        (('role = "vehicle_gateway"', 'role = "car"'), r"device\.role = 'car' is invalid"),
        (('id = "veh-001"', 'id = "veh 001"'), r"device\.id = 'veh 001' is invalid"),
        (("keepalive_s = 30", "keepalive = 30"), r"unknown key 'mqtt\.keepalive'"),
        (('dbc = "toyota', 'dbc = "nope'), r"can\[0\]\.dbc = 'nope.*no such file"),
        (("[vehicle]", "[vehicles]"), r"unknown key 'vehicles'|needs a \[vehicle\] table"),
        (("hard_braking_mps2 = -4.0", "hard_braking_mps2 = 4.0"), r"hard_braking_mps2 = 4.0"),
        (('actor = "veh-001"', 'actor = "veh-001"\nspeed = 3'), r"unknown key 'simulation\.speed'"),
        (("[mqtt]", "[mqtt"), r"not valid TOML"),
        (
            ("keepalive_s = 30", "keepalive_s = 30\nreconnect_min_s = 5\nreconnect_max_s = 1"),
            r"mqtt\.reconnect_max_s = 1\.0 is invalid: must not be below reconnect_min_s",
        ),
    ],
)
def test_a_mistake_names_the_key_the_value_and_what_is_valid(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    old, new = change
    assert old in VEHICLE
    with pytest.raises(ConfigError, match=message):
        load_text(tmp_path, VEHICLE.replace(old, new, 1))


def test_the_reconnect_backoff_is_configurable(tmp_path: Path) -> None:
    path = tmp_path / "box.toml"
    path.write_text(VEHICLE.replace("keepalive_s = 30", "keepalive_s = 30\nreconnect_max_s = 2.0"))
    uplink = load_box_config(path).uplink
    assert (uplink.mqtt.reconnect_min_s, uplink.mqtt.reconnect_max_s) == (0.5, 2.0)


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_box_config(tmp_path / "absent.toml")


def test_a_radar_on_an_unknown_bus_is_refused(tmp_path: Path) -> None:
    text = (EXAMPLES_DIR / "roadside.toml").read_text().replace('bus = "radar"', 'bus = "can9"')
    with pytest.raises(ConfigError, match=r"radar\[0\]\.bus = 'can9'.*\['radar'\]"):
        load_text(tmp_path, text)


lines = VEHICLE.splitlines()


@given(
    st.lists(st.integers(0, len(lines) - 1), max_size=4),
    st.lists(st.text(max_size=30), max_size=4),
)
def test_mangled_configs_load_or_fail_with_a_config_error(drop: list[int], junk: list[str]) -> None:
    # Whatever a user's editor leaves behind: either a valid config or a ConfigError, never a
    # traceback from deep inside.
    kept = [line for i, line in enumerate(lines) if i not in set(drop)]
    for i, text in enumerate(junk):
        kept.insert((i * 7) % (len(kept) + 1), text)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "box.toml"
        path.write_text("\n".join(kept), encoding="utf-8", errors="surrogatepass")
        with contextlib.suppress(ConfigError):
            load_box_config(path)


@given(st.binary(max_size=300))
def test_arbitrary_bytes_are_a_config_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "box.toml"
        path.write_bytes(data)
        with pytest.raises(ConfigError):
            load_box_config(path)


def test_mqtt_tls_files_are_resolved_and_checked(tmp_path: Path) -> None:
    for name in ("ca.crt", "veh.crt", "veh.key"):
        (tmp_path / name).write_text("x")
    tls = '[mqtt.tls]\nca_file = "ca.crt"\ncert_file = "veh.crt"\nkey_file = "veh.key"\n'
    path = tmp_path / "box.toml"
    path.write_text(VEHICLE + "\n" + tls)
    settings = load_box_config(path).uplink.mqtt.tls
    assert settings is not None
    assert settings.ca_certs == str(tmp_path / "ca.crt")
    assert settings.keyfile == str(tmp_path / "veh.key")
    with pytest.raises(ConfigError, match=r"mqtt\.tls\.key_file = 'nope.key' is invalid: no such"):
        load_text(tmp_path, VEHICLE + "\n" + tls.replace('"veh.key"', '"nope.key"'))
    with pytest.raises(ConfigError, match="cert_file and key_file go together"):
        load_text(tmp_path, VEHICLE + "\n" + tls.replace('key_file = "veh.key"\n', ""))


# --- the roadside unit's signal controller ------------------------------------------------------

ROADSIDE = (EXAMPLES_DIR / "roadside.toml").read_text()
PLAN = ROADSIDE[ROADSIDE.index("[roadside.signal_plan]") : ROADSIDE.index("\n]\n") + 3]
CONTROLLER = """
[roadside.signal_controller]
protocol = "tscbm"
bind = "0.0.0.0"
port = 6053
timeout_s = 1.5
intersection_id = 101
signal_groups = [
  { phase = 2, signal_group = 1 },
  { phase = 4, signal_group = 2 },
]
"""


def with_controller(controller: str = CONTROLLER, plan: str = "") -> str:
    """The roadside example with its fixed-time plan replaced by ``plan`` + ``controller``."""
    return ROADSIDE.replace(PLAN, plan + controller)


def test_the_example_documents_the_controller_section_it_loads(tmp_path: Path) -> None:
    # The example's commented [roadside.signal_controller], uncommented, is a valid config.
    start = ROADSIDE.index("# [roadside.signal_controller]")
    commented = ROADSIDE[start : ROADSIDE.index("\n\n", start)]
    section = "\n".join(line.removeprefix("# ") for line in commented.splitlines())
    path = tmp_path / "box.toml"
    path.write_text(with_controller(section))
    roadside = load_box_config(path).roadside
    assert roadside is not None
    assert roadside.signal_plan is None
    controller = roadside.signal_controller
    assert controller is not None
    assert (controller.bind, controller.port, controller.intersection_id) == ("0.0.0.0", 6053, 101)
    assert dict(controller.signal_groups) == {2: 1, 4: 2}


def test_a_signal_controller_is_parsed_with_its_defaults(tmp_path: Path) -> None:
    path = tmp_path / "box.toml"
    text = with_controller("[roadside.signal_controller]\nintersection_id = 7\n")
    # Without the example's intersection file, which describes intersection 101.
    path.write_text(text.replace('intersection = "intersection-101.toml"\n', ""))
    roadside = load_box_config(path).roadside
    assert roadside is not None
    assert roadside.signal_controller is not None
    controller = roadside.signal_controller
    assert (controller.protocol, controller.bind, controller.port) == ("tscbm", "127.0.0.1", 6053)
    assert (controller.timeout_s, controller.intersection_id) == (1.0, 7)
    assert dict(controller.signal_groups) == {}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("", PLAN), r"signal_plan and signal_controller exclude each other.*remove one"),
        (('bind = "0.0.0.0"', 'bind = "my-host"'), r"signal_controller\.bind = 'my-host'"),
        (('bind = "0.0.0.0"', "bind = 1"), r"signal_controller\.bind = 1"),
        (('protocol = "tscbm"', 'protocol = "ntcip1211"'), r"signal_controller\.protocol"),
        (("port = 6053", "port = 0"), r"signal_controller\.port = 0"),
        (("timeout_s = 1.5", "timeout_s = 0"), r"signal_controller\.timeout_s = 0"),
        (("intersection_id = 101\n", ""), r"signal_controller\.intersection_id is required"),
        (("phase = 4,", "phase = 2,"), r"signal_groups\[1\]\.phase = 2 is invalid: each phase"),
        (("phase = 4,", "phase = 17,"), r"signal_groups\[1\]\.phase = 17"),
        (
            ("timeout_s = 1.5", "timeout = 1.5"),
            r"unknown key 'roadside\.signal_controller\.timeout'",
        ),
    ],
)
def test_a_signal_controller_mistake_names_the_key(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    old, new = change
    if old:
        assert old in CONTROLLER
        text = with_controller(CONTROLLER.replace(old, new, 1))
    else:
        text = with_controller(plan=new)
    with pytest.raises(ConfigError, match=message):
        load_text(tmp_path, text)


# --- the C-V2X radio --------------------------------------------------------------------------


def v2x_section(example: str) -> str:
    """The example's commented [v2x] section, uncommented."""
    start = example.index("# [v2x]")
    commented = example[start : example.index("\n\n", start)]
    return "\n".join(line.removeprefix("# ") for line in commented.splitlines())


@pytest.mark.parametrize(
    ("example", "station_id"), [("vehicle-toyota.toml", 1234), ("roadside.toml", 2001)]
)
def test_the_examples_document_the_v2x_section_they_load(
    tmp_path: Path, example: str, station_id: int
) -> None:
    text = (EXAMPLES_DIR / example).read_text()
    assert load_text_config(tmp_path, text).v2x is None
    v2x = load_text_config(tmp_path, text + "\n" + v2x_section(text) + "\n").v2x
    assert v2x is not None
    assert (v2x.radio, v2x.radio_host, v2x.radio_port) == ("udp", "127.0.0.1", 30301)
    assert (v2x.listen_host, v2x.listen_port, v2x.station_id) == ("127.0.0.1", 30300, station_id)


def test_v2x_defaults_need_only_the_station_id(tmp_path: Path) -> None:
    v2x = load_text_config(tmp_path, VEHICLE + "\n[v2x]\nstation_id = 7\n").v2x
    assert v2x is not None
    assert (v2x.radio_port, v2x.listen_port, v2x.station_id) == (30301, 30300, 7)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("", r"v2x\.station_id is required"),
        ("station_id = -1", r"v2x\.station_id = -1"),
        ('station_id = 1\nradio = "serial"', r"v2x\.radio = 'serial'"),
        ("station_id = 1\nradio_port = 0", r"v2x\.radio_port = 0"),
        ("station_id = 1\nlisten_port = 70000", r"v2x\.listen_port = 70000"),
        ('station_id = 1\nlisten_host = "my-host"', r"v2x\.listen_host = 'my-host'"),
        ('station_id = 1\nradio_host = ""', r"v2x\.radio_host = ''"),
        ("station_id = 1\nradio_port = 30300", r"v2x\.radio_port = 30300.*other than listen_port"),
        ("station_id = 1\nchannel = 172", r"unknown key 'v2x\.channel'"),
    ],
)
def test_a_v2x_mistake_names_the_key(tmp_path: Path, section: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_text(tmp_path, VEHICLE + "\n[v2x]\n" + section + "\n")


def load_text_config(tmp_path: Path, text: str) -> BoxConfig:
    path = tmp_path / "box.toml"
    path.write_text(text)
    return load_box_config(path)
