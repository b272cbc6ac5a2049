"""A mapping's units come from the DBC; a box reads only the leaves it uses; single signals
are overridden (replaced, or changed key by key), and a bad override is a one-line error."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import cantools
import numpy as np
import pytest
from cantools.database.can import Database
from hypothesis import given
from hypothesis import strategies as st

from hal.can.frames import make_batch
from protocols.dbc import VectorDecoder
from protocols.toml_table import TomlTable
from protocols.vss import OVERRIDE_KEYS, SignalMapping, VssMapping, VssMappingError, load_mapping

DBC = """VERSION ""
NS_ :
BS_:
BU_: ECU
BO_ 256 BODY: 8 ECU
 SG_ Speed : 0|16@1+ (0.01,0) [0|0] "km/h" ECU
 SG_ Yaw : 16|16@1- (0.001,0) [0|0] "rad/s" ECU
 SG_ Angle : 32|16@1+ (0.1,0) [0|0] "" ECU
 SG_ Left : 48|1@1+ (1,0) [0|0] "" ECU
 SG_ Gear : 56|3@1+ (1,0) [0|0] "" ECU
BO_ 257 OTHER: 8 ECU
 SG_ Speed2 : 0|16@1+ (0.1,0) [0|0] "m/s" ECU
 SG_ Furlongs : 16|16@1+ (1,0) [0|0] "furlong/fortnight" ECU
VAL_ 256 Gear 0 "PARK" 1 "REVERSE" 2 "NEUTRAL" 3 "DRIVE" ;
"""

MAPPING = """dbc = "unused.dbc"
[[signal]]
path = "Vehicle.Speed"
message = "BODY"
signal = "Speed"
[[signal]]
path = "Vehicle.AngularVelocity.Yaw"
message = "BODY"
signal = "Yaw"
[[signal]]
path = "Vehicle.Chassis.SteeringWheel.Angle"
message = "BODY"
signal = "Angle"
unit = "degrees"
[[signal]]
path = "Vehicle.Powertrain.Transmission.SelectedGear"
message = "BODY"
signal = "Gear"
values = { PARK = 126, REVERSE = -1, NEUTRAL = 0, DRIVE = 127 }
[[signal]]
# Not in this DBC: only a box that reads this leaf needs it to match.
path = "Vehicle.Chassis.Axle.Row1.Wheel.Left.Speed"
message = "WHEELS"
signal = "FL"
"""


class Table(TomlTable):
    """An override as a box config's reader gives it (its own error type)."""

    error_type = KeyError


@pytest.fixture(scope="module")
def db() -> Database:
    database = cantools.database.load_string(DBC, database_format="dbc")
    assert isinstance(database, Database)
    return database


@pytest.fixture
def mapping_file(tmp_path: Path) -> Path:
    path = tmp_path / "car.toml"
    path.write_text(MAPPING)
    return path


def decode(db: Database, message: str, **values: float) -> Any:
    frame = db.get_message_by_name(message)
    data = frame.encode({s.name: 0.0 for s in frame.signals} | values, strict=False)
    return VectorDecoder(db).decode_batch(make_batch([(0.0, frame.frame_id, data)]))


def overrides(**tables: dict[str, Any]) -> dict[str, TomlTable]:
    """``{"Vehicle.Speed": {...}}`` spelt ``Vehicle_Speed={...}`` (a keyword has no dots)."""
    return {
        key.replace("_", "."): Table(data, f"vehicle.signals.{key.replace('_', '.')!r}", "box.toml")
        for key, data in tables.items()
    }


def test_units_come_from_the_dbc_and_an_entry_outside_only_is_not_checked(
    db: Database, mapping_file: Path
) -> None:
    with pytest.raises(VssMappingError, match=r"key 'message': no message 'WHEELS'"):
        load_mapping(mapping_file, db)
    wanted = {"Vehicle.Speed", "Vehicle.AngularVelocity.Yaw", "Vehicle.Chassis.SteeringWheel.Angle"}
    mapping = load_mapping(mapping_file, db, only=wanted)
    assert {s.path for s in mapping.signals} == wanted
    assert mapping.messages() == {"BODY"}
    speed = mapping.signal("Vehicle.Speed")
    yaw = mapping.signal("Vehicle.AngularVelocity.Yaw")
    assert speed is not None
    assert yaw is not None
    assert (speed.unit, speed.factor) == ("km/h", 1.0)  # km/h in the DBC, km/h in VSS
    assert yaw.unit == "degrees/s"
    assert yaw.factor == pytest.approx(180 / math.pi)  # the DBC's rad/s
    decoded = decode(db, "BODY", Speed=72.0, Yaw=-0.5, Angle=12.3)
    vss = mapping.apply(decoded)
    assert vss["Vehicle.Speed"][0] == pytest.approx(72.0)
    assert vss["Vehicle.AngularVelocity.Yaw"][0] == pytest.approx(-0.5 * 180 / math.pi)
    assert mapping.signal("Vehicle.Powertrain.Transmission.SelectedGear") is None


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            'signal = "Angle"\nunit = "degrees"',
            'signal = "Angle"',
            r"car\.toml: signal\[2\] \(Vehicle\.Chassis\.SteeringWheel\.Angle\): key 'unit': "
            r"required: the DBC gives Angle no unit \(the VSS leaf is in 'degrees'\)",
        ),
        (
            'signal = "Speed"',
            'signal = "Speed"\nunit = "m/s"',
            r"signal\[0\] \(Vehicle\.Speed\): key 'unit': 'm/s', but the DBC gives Speed in 'km/h'",
        ),
        (
            'message = "BODY"\nsignal = "Speed"',
            'message = "OTHER"\nsignal = "Furlongs"',
            r"key 'unit': unknown unit 'furlong/fortnight' \(known: .*\) \(the DBC's unit of "
            r"Furlongs; set unit\)",
        ),
    ],
)
def test_a_unit_the_dbc_lacks_or_contradicts_is_named(
    db: Database, tmp_path: Path, old: str, new: str, expected: str
) -> None:
    assert old in MAPPING
    path = tmp_path / "car.toml"
    path.write_text(MAPPING.replace(old, new, 1))
    with pytest.raises(VssMappingError, match=expected) as caught:
        load_mapping(path, db, only={"Vehicle.Speed", "Vehicle.Chassis.SteeringWheel.Angle"})
    assert len(str(caught.value).splitlines()) == 1


def test_an_override_replaces_changes_or_adds_a_signal(db: Database, mapping_file: Path) -> None:
    base = load_mapping(mapping_file, db, only={"Vehicle.Speed", "Vehicle.AngularVelocity.Yaw"})
    changed = base.with_overrides(
        overrides(
            # Names a message: replaces the entry (m/s in the DBC: no factor carried over).
            Vehicle_Speed={"message": "OTHER", "signal": "Speed2"},
            # Changes one key of the file's entry: the sign.
            Vehicle_AngularVelocity_Yaw={"factor": -1},
            # Not in `only` (nor checked): the override adds it.
            Vehicle_Powertrain_Transmission_SelectedGear={
                "message": "BODY",
                "signal": "Gear",
                "values": {"DRIVE": 127, "PARK": 126},
            },
        ),
        db,
    )
    assert base.signal("Vehicle.Speed") == SignalMapping(
        "Vehicle.Speed", "BODY", "Speed", unit="km/h"
    )  # unchanged: overrides make a new mapping
    assert changed.messages() == {"BODY", "OTHER"}
    decoded = {**decode(db, "OTHER", Speed2=10.0), **decode(db, "BODY", Yaw=0.25, Gear=0)}
    vss = changed.apply(decoded)
    assert vss["Vehicle.Speed"][0] == pytest.approx(36.0)  # 10 m/s in km/h
    assert vss["Vehicle.AngularVelocity.Yaw"][0] == pytest.approx(-0.25 * 180 / math.pi)
    assert vss["Vehicle.Powertrain.Transmission.SelectedGear"][0] == 126.0
    # Overrides stack: the changed mapping keeps the tables as now written.
    again = changed.with_overrides(overrides(Vehicle_AngularVelocity_Yaw={"factor": 2}), db)
    yaw = again.signal("Vehicle.AngularVelocity.Yaw")
    assert yaw is not None
    assert yaw.factor == pytest.approx(2 * 180 / math.pi)


@pytest.mark.parametrize(
    ("path", "table", "error", "expected"),
    [
        (
            "Vehicle.Speed",
            {"mesage": "OTHER"},
            KeyError,
            r"box\.toml: unknown key \"vehicle\.signals\.'Vehicle\.Speed'\.mesage\"|"
            r"unknown key 'vehicle\.signals\.'Vehicle\.Speed'\.mesage'; valid keys here",
        ),
        ("Vehicle.Speed", {"path": "Vehicle.Speed"}, KeyError, r"unknown key .*\.path"),
        (
            "Vehicle.Speed",
            {"factor": "x"},
            KeyError,
            r"box\.toml: vehicle\.signals\.'Vehicle\.Speed'\.factor = 'x' is invalid: expected a "
            r"finite number",
        ),
        (
            "Vehicle.Speed",
            {"message": "OTHER", "signal": "Speed"},
            VssMappingError,
            r"^box\.toml: vehicle\.signals\.'Vehicle\.Speed': key 'signal': message 'OTHER' has "
            r"no signal 'Speed' \(valid: Furlongs, Speed2\)$",
        ),
        (
            "Vehicle.Speed",
            {"message": "BODY"},
            KeyError,
            r"vehicle\.signals\.'Vehicle\.Speed'\.signal is required",
        ),
        (
            "Vehicle.Chassis.Brake.IsPedalPressed",
            {"signal": "Left"},
            VssMappingError,
            r"^box\.toml: vehicle\.signals\.'Vehicle\.Chassis\.Brake\.IsPedalPressed': "
            r"Vehicle\.Chassis\.Brake\.IsPedalPressed is not in the mapping car\.toml, so its "
            r"override names a message and a signal$",
        ),
        (
            "Vehicle.Speed",
            {"unit": "m/s"},
            VssMappingError,
            r"^box\.toml: vehicle\.signals\.'Vehicle\.Speed': key 'unit': 'm/s', but the DBC "
            r"gives Speed in 'km/h'$",
        ),
        (
            "Vehicle.Powertrain.Transmission.SelectedGear",
            {"values": {"PARKED": 126}},
            VssMappingError,
            r"key 'values': Gear has no value 'PARKED' \(valid: DRIVE, NEUTRAL, PARK, REVERSE\)",
        ),
    ],
)
def test_a_bad_override_names_the_config_and_the_path(
    db: Database,
    mapping_file: Path,
    path: str,
    table: dict[str, Any],
    error: type[Exception],
    expected: str,
) -> None:
    base = load_mapping(mapping_file, db, only={"Vehicle.Speed"})
    override = {path: Table(table, f"vehicle.signals.{path!r}", "box.toml")}
    with pytest.raises(error, match=expected) as caught:
        base.with_overrides(override, db)
    assert len(str(caught.value).splitlines()) == 1


def test_integer_codes_are_ascii_digits(db: Database, mapping_file: Path) -> None:
    base = load_mapping(mapping_file, db, only=set())
    good = {"message": "BODY", "signal": "Left", "values": {"1": True, "-0": False}}
    changed = base.with_overrides(
        overrides(Vehicle_Body_Lights_DirectionIndicator_Left_IsSignaling=good), db
    )
    (left,) = changed.signals
    assert left.values == {1.0: 1.0, 0.0: 0.0}
    for key in ("٣", "²", "1.0", "", "x"):
        bad = good | {"values": {key: True}}
        with pytest.raises(VssMappingError, match=r"has no value table, so keys are integer"):
            base.with_overrides(
                overrides(Vehicle_Body_Lights_DirectionIndicator_Left_IsSignaling=bad), db
            )


ODD = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["BODY", "OTHER", "Speed", "Speed2", "Yaw", "Gear", "km/h", "m/s", "rad"])
    | st.text(max_size=12)
    | st.dictionaries(st.text(max_size=6), st.booleans() | st.integers(-200, 200), max_size=3)
)


@given(
    st.sampled_from(["Vehicle.Speed", "Vehicle.Powertrain.Transmission.SelectedGear"]),
    st.dictionaries(st.sampled_from([*OVERRIDE_KEYS, "path", "scale"]), ODD, max_size=4),
)
def test_any_override_builds_or_is_a_one_line_error(path: str, table: dict[str, Any]) -> None:
    database = cantools.database.load_string(DBC, database_format="dbc")
    assert isinstance(database, Database)
    base = VssMapping(
        Path("car.toml"),
        (SignalMapping("Vehicle.Speed", "BODY", "Speed", unit="km/h"),),
        {"Vehicle.Speed": {"path": "Vehicle.Speed", "message": "BODY", "signal": "Speed"}},
    )
    data = {k: v for k, v in table.items() if v is not None}
    message = None
    try:
        changed = base.with_overrides({path: Table(data, "o", "box.toml")}, database)
    except (VssMappingError, KeyError) as err:
        message = str(err).strip("\"'")  # a KeyError's str() is its repr
    if message is not None:
        assert len(message.splitlines()) == 1, message
        assert message.startswith("box.toml: "), message
    else:
        mapped = changed.signal(path)
        assert mapped is not None
        assert math.isfinite(mapped.factor)


def test_value_at_is_convert_at_that_row() -> None:
    signal = SignalMapping(
        "Vehicle.Chassis.SteeringWheel.Angle", "M", "A", factor=2.0, sign_signal="D"
    )

    columns = SimpleNamespace(
        signals={"A": np.array([1.0, 2.0, 3.0]), "D": np.array([0.0, 1.0, 0.0])}
    )
    converted = signal.convert(columns)
    assert converted.tolist() == [2.0, -4.0, 6.0]
    for row in (0, 1, 2, -1, -2, -3):
        assert signal.value_at(columns, row) == converted[row]
    overflow = SignalMapping("Vehicle.Speed", "M", "A", factor=1e308)
    assert overflow.value_at(columns, 2) == math.inf  # no warning: the caller counts it
