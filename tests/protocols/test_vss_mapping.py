"""VSS mappings: the shipped ones load against their DBC and the catalogue; bad files are
rejected with the file, the key and what is valid; values convert on encoded frames."""

from __future__ import annotations

import math
from pathlib import Path

import cantools
import numpy as np
import pytest
from cantools.database.can import Database

from hal.can.frames import make_batch
from protocols.dbc import VectorDecoder, load_dbc
from protocols.errors import ProtocolError
from protocols.vss import (
    VssMappingError,
    apply_mapping,
    conversion_factor,
    load_catalogue,
    load_mapping,
    shipped_mappings,
)

PROJECT = Path(__file__).resolve().parents[2]
DBC_FILES = PROJECT / "protocols" / "dbc" / "files"

REQUIRED_EVERYWHERE = {
    "Vehicle.Speed",
    "Vehicle.Chassis.Axle.Row1.Wheel.Left.Speed",
    "Vehicle.Chassis.Axle.Row1.Wheel.Right.Speed",
    "Vehicle.Chassis.Axle.Row2.Wheel.Left.Speed",
    "Vehicle.Chassis.Axle.Row2.Wheel.Right.Speed",
    "Vehicle.Chassis.SteeringWheel.Angle",
    "Vehicle.Chassis.Brake.IsPedalPressed",
    "Vehicle.Body.Lights.DirectionIndicator.Left.IsSignaling",
    "Vehicle.Body.Lights.DirectionIndicator.Right.IsSignaling",
}


def test_catalogue_is_vss_5_1_plus_the_overlay() -> None:
    catalogue = load_catalogue()
    speed = catalogue.leaf("Vehicle.Speed")
    assert speed is not None
    assert (speed.unit, speed.datatype) == ("km/h", "float")
    yaw = catalogue.leaf("Vehicle.AngularVelocity.Yaw")
    assert yaw is not None
    assert yaw.unit == "degrees/s"
    assert len([leaf for leaf in catalogue.leaves.values() if not leaf.overlay]) == 495 + 706 + 120
    overlay = {p for p, leaf in catalogue.leaves.items() if leaf.overlay}
    assert overlay == {
        "Vehicle.Chassis.Brake.IsPedalPressed",
        "Vehicle.Chassis.Brake.FluidPressure",
    }
    assert "Vehicle.Chassis.Brake" in catalogue.branches


def test_the_three_shipped_mappings_load_against_their_dbc_and_the_catalogue() -> None:
    mappings = shipped_mappings()
    assert set(mappings) == {"hongqi_hs5", "gwm_haval_h6_phev_2024", "toyota_nodsu_pt"}
    dbcs = {
        "hongqi_hs5": "hongqi_hs5.dbc",
        "gwm_haval_h6_phev_2024": "gwm_haval_h6_phev_2024.dbc",
        "toyota_nodsu_pt": "toyota_nodsu_pt_generated.dbc",
    }
    catalogue = load_catalogue()
    for name, path in mappings.items():
        db = load_dbc(DBC_FILES / dbcs[name]).database
        mapping = load_mapping(path, db)
        assert load_mapping(path) == mapping  # the file's own `dbc` key names the same DBC
        paths = {s.path for s in mapping.signals}
        assert paths >= REQUIRED_EVERYWHERE, (name, REQUIRED_EVERYWHERE - paths)
        for entry in mapping.signals:
            assert catalogue.leaf(entry.path) is not None
            db.get_message_by_name(entry.message).get_signal_by_name(entry.signal)
    toyota = {s.path for s in load_mapping(mappings["toyota_nodsu_pt"]).signals}
    assert toyota >= {
        "Vehicle.AngularVelocity.Yaw",
        "Vehicle.Acceleration.Lateral",
        "Vehicle.Acceleration.Longitudinal",
        "Vehicle.Powertrain.Transmission.SelectedGear",
        "Vehicle.Body.Lights.Hazard.IsSignaling",
    }


def test_toyota_values_convert_on_encoded_frames() -> None:
    db = load_dbc(DBC_FILES / "toyota_nodsu_pt_generated.dbc").database
    mapping = load_mapping(shipped_mappings()["toyota_nodsu_pt"], db)
    frames: list[tuple[str, dict[str, int | float | str]]] = [
        ("SPEED", {"SPEED": 72.0}),
        ("KINEMATICS", {"YAW_RATE": -10.0, "ACCEL_X": 1.5, "ACCEL_Y": -2.0}),
        ("STEER_ANGLE_SENSOR", {"STEER_ANGLE": -45.0}),
        ("GEAR_PACKET", {"GEAR": "R"}),
        ("BLINKERS_STATE", {"TURN_SIGNALS": "left", "HAZARD_LIGHT": 1}),
        ("BRAKE_MODULE", {"BRAKE_PRESSED": 1}),
        (
            "WHEEL_SPEEDS",
            {
                "WHEEL_SPEED_FL": 10.0,
                "WHEEL_SPEED_FR": 20.0,
                "WHEEL_SPEED_RL": 30.0,
                "WHEEL_SPEED_RR": 40.0,
            },
        ),
    ]
    rows = []
    for i, (name, values) in enumerate(frames):
        message = db.get_message_by_name(name)
        full: dict[str, int | float | str] = {s.name: 0 for s in message.signals}
        data = db.encode_message(name, full | values, strict=False)
        rows.append((float(i), message.frame_id, data))
    decoder = VectorDecoder(db, mapping.messages())
    vss = apply_mapping(mapping, decoder.decode_batch(make_batch(rows)))
    scalar = {path: float(v[0]) for path, v in vss.items()}

    def close(path: str, want: float, tol: float) -> None:
        assert math.isclose(scalar[path], want, abs_tol=tol), (path, scalar[path])

    close("Vehicle.Speed", 72.0, 0.01)
    close("Vehicle.AngularVelocity.Yaw", -10.0, 0.244)
    close("Vehicle.Acceleration.Longitudinal", 1.5, 0.036)
    close("Vehicle.Acceleration.Lateral", -2.0, 0.036)
    close("Vehicle.Chassis.SteeringWheel.Angle", -45.0, 0.0)
    close("Vehicle.Chassis.Axle.Row2.Wheel.Right.Speed", 40.0, 0.01)
    assert scalar["Vehicle.Powertrain.Transmission.SelectedGear"] == -1.0
    assert scalar["Vehicle.Body.Lights.DirectionIndicator.Left.IsSignaling"] == 1.0
    assert scalar["Vehicle.Body.Lights.DirectionIndicator.Right.IsSignaling"] == 0.0
    assert scalar["Vehicle.Body.Lights.Hazard.IsSignaling"] == 1.0
    assert scalar["Vehicle.Chassis.Brake.IsPedalPressed"] == 1.0
    times = mapping.timestamps(decoder.decode_batch(make_batch(rows)))
    assert times["Vehicle.Speed"].tolist() == [0.0]


def test_haval_fd_and_hongqi_direction_bits_convert() -> None:
    haval = load_dbc(DBC_FILES / "gwm_haval_h6_phev_2024.dbc").database
    hongqi = load_dbc(DBC_FILES / "hongqi_hs5.dbc").database
    cases = [
        (
            haval,
            "gwm_haval_h6_phev_2024",
            "WHEEL_SPEEDS",
            {"REAR_RIGHT_WHEEL_SPEED": 1000},
            "Vehicle.Chassis.Axle.Row2.Wheel.Right.Speed",
            1000 * 0.05924739,
        ),
        (
            haval,
            "gwm_haval_h6_phev_2024",
            "STEER_AND_AP_STALK",
            {"STEERING_ANGLE": 300, "STEERING_DIRECTION": 1},
            "Vehicle.Chassis.SteeringWheel.Angle",
            -15.0,
        ),
        (
            hongqi,
            "hongqi_hs5",
            "EPS_1",
            {"STEER_ANGLE": 400, "STEER_ANGLE_DIRECTION": 0},
            "Vehicle.Chassis.SteeringWheel.Angle",
            9.0,
        ),
        (hongqi, "hongqi_hs5", "ABS_1", {"VEHICLE_SPEED": 12345}, "Vehicle.Speed", 123.45),
    ]
    for db, name, message_name, raw, path, want in cases:
        mapping = load_mapping(shipped_mappings()[name], db)
        message = db.get_message_by_name(message_name)
        full = {s.name: 0 for s in message.signals} | raw
        data = message.encode(full, scaling=False, strict=False)
        decoded = VectorDecoder(db).decode_batch(make_batch([(0.0, message.frame_id, data)]))
        value = float(mapping.apply(decoded)[path][0])
        assert math.isclose(value, want, rel_tol=1e-9), (name, path, value)


SYNTHETIC_DBC = """VERSION ""
NS_ :
BS_:
BU_: ECU
BO_ 256 BODY: 8 ECU
 SG_ Speed : 0|16@1+ (0.01,0) [0|0] "m/s" ECU
 SG_ Yaw : 16|16@1- (0.001,0) [0|0] "rad/s" ECU
 SG_ Pressure : 32|16@1+ (0.01,0) [0|0] "bar" ECU
 SG_ Tyre : 48|8@1+ (0.1,0) [0|0] "" ECU
 SG_ Gear : 56|3@1+ (1,0) [0|0] "" ECU
VAL_ 256 Gear 0 "PARK" 1 "REVERSE" 2 "NEUTRAL" 3 "DRIVE" ;
"""


def _synthetic_db() -> Database:
    db = cantools.database.load_string(SYNTHETIC_DBC, database_format="dbc")
    assert isinstance(db, Database)
    return db


GOOD = """dbc = "unused.dbc"
[[signal]]
path = "Vehicle.Speed"
message = "BODY"
signal = "Speed"
unit = "m/s"
[[signal]]
path = "Vehicle.AngularVelocity.Yaw"
message = "BODY"
signal = "Yaw"
unit = "rad/s"
[[signal]]
path = "Vehicle.Chassis.Brake.FluidPressure"
message = "BODY"
signal = "Pressure"
unit = "bar"
[[signal]]
path = "Vehicle.Chassis.Axle.Row1.Wheel.Left.Tire.Pressure"
message = "BODY"
signal = "Tyre"
unit = "bar"
[[signal]]
path = "Vehicle.Powertrain.Transmission.SelectedGear"
message = "BODY"
signal = "Gear"
values = { PARK = 126, REVERSE = -1, NEUTRAL = 0, DRIVE = 127 }
"""


def test_unit_conversion_on_encoded_frames(tmp_path: Path) -> None:
    db = _synthetic_db()
    path = tmp_path / "synthetic.toml"
    path.write_text(GOOD)
    mapping = load_mapping(path, db)
    values = [
        {"Speed": 25.0, "Yaw": -0.5, "Pressure": 80.5, "Tyre": 2.5, "Gear": 3},
        {"Speed": 0.0, "Yaw": 1.0, "Pressure": 0.0, "Tyre": 0.0, "Gear": 7},
    ]
    rows = [
        (float(i), 256, db.encode_message("BODY", v, strict=False)) for i, v in enumerate(values)
    ]
    vss = mapping.apply(VectorDecoder(db).decode_batch(make_batch(rows)))
    np.testing.assert_allclose(vss["Vehicle.Speed"], [90.0, 0.0], rtol=1e-12)  # m/s -> km/h
    np.testing.assert_allclose(
        vss["Vehicle.AngularVelocity.Yaw"], [-0.5 * 180 / math.pi, 180 / math.pi], rtol=1e-12
    )
    np.testing.assert_allclose(vss["Vehicle.Chassis.Brake.FluidPressure"], [8050.0, 0.0])
    np.testing.assert_allclose(
        vss["Vehicle.Chassis.Axle.Row1.Wheel.Left.Tire.Pressure"], [250.0, 0.0]
    )
    gear = vss["Vehicle.Powertrain.Transmission.SelectedGear"]
    assert gear[0] == 127.0
    assert math.isnan(gear[1])  # code 7 has no name: no VSS value
    assert conversion_factor("kph", "m/s") == pytest.approx(1 / 3.6)
    assert conversion_factor("psi", "kPa") == pytest.approx(6.894757293168361)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            'path = "Vehicle.Speed"',
            'path = "Vehicle.Sped"',
            r"bad\.toml: signal\[0\] \(Vehicle\.Sped\): key 'path': 'Vehicle\.Sped' is not in "
            r"the VSS catalogue \(leaves near it: .*Vehicle\.Speed",
        ),
        (
            'message = "BODY"\nsignal = "Speed"',
            'message = "BODYY"\nsignal = "Speed"',
            r"bad\.toml: signal\[0\] \(Vehicle\.Speed\): key 'message': no message 'BODYY' in the "
            r"DBC \(valid: BODY\)",
        ),
        (
            'signal = "Yaw"',
            'signal = "YawRate"',
            r"bad\.toml: signal\[1\] \(Vehicle\.AngularVelocity\.Yaw\): key 'signal': message "
            r"'BODY' has no signal 'YawRate' \(valid: Gear, Pressure, Speed, Tyre, Yaw\)",
        ),
        (
            'unit = "rad/s"',
            'unit = "bar"',
            r"signal\[1\] .*key 'unit': cannot convert 'bar' \(pressure\) to 'degrees/s' "
            r"\(angular rate\); convertible to 'degrees/s': degrees/s, rad/s",
        ),
        (
            'unit = "m/s"',
            'unit = "km/h"',
            r"signal\[0\] .*key 'unit': 'km/h', but the DBC gives Speed in 'm/s'",
        ),
        ('unit = "m/s"', 'unit = "furlong"', r"key 'unit': unknown unit 'furlong' \(known: "),
        (
            'unit = "m/s"',
            'units = "m/s"',
            r"bad\.toml: unknown key 'signal\[0\]\.units'; valid keys here: \[.*'unit'",
        ),
        (
            "PARK = 126",
            "PARKED = 126",
            r"key 'values': Gear has no value 'PARKED' \(valid: DRIVE, NEUTRAL, PARK, REVERSE\)",
        ),
        ("PARK = 126", "PARK = true", r"'PARK' = True, .*SelectedGear \(int8\) takes a number"),
        (
            'path = "Vehicle.Chassis.Axle.Row1.Wheel.Left.Tire.Pressure"',
            'path = "Vehicle.Chassis.Brake.FluidPressure"',
            r"signal\[3\]: key 'path': 'Vehicle\.Chassis\.Brake\.FluidPressure' is mapped twice",
        ),
        ('unit = "m/s"', 'unit = "m/s"\nfactor = nan', r"signal\[0\]\.factor = nan is invalid"),
        ('unit = "m/s"', 'unit = "m/s"\nfactor = "2"', r"signal\[0\]\.factor = '2' is invalid"),
        (
            'dbc = "unused.dbc"',
            'dbcs = "x"',
            r"bad\.toml: unknown key 'dbcs'; valid keys here: \['dbc', 'description', 'signal'\]",
        ),
    ],
)
def test_a_bad_mapping_names_the_file_the_key_and_what_is_valid(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    assert old in GOOD
    path = tmp_path / "bad.toml"
    path.write_text(GOOD.replace(old, new, 1))
    with pytest.raises(VssMappingError, match=expected) as info:
        load_mapping(path, _synthetic_db())
    assert isinstance(info.value, ProtocolError)
    assert info.value.reason == "vss_mapping"


def test_a_missing_dbc_or_unreadable_mapping_is_a_mapping_error(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text(GOOD)
    with pytest.raises(VssMappingError, match=r"m\.toml: key 'dbc': .*unused\.dbc: cannot read"):
        load_mapping(path)
    path.write_text("[[signal]\n")
    with pytest.raises(VssMappingError, match=r"m\.toml: not valid TOML"):
        load_mapping(path, _synthetic_db())


@pytest.mark.parametrize(
    ("overlay", "expected"),
    [
        (
            'path = "Vehicle.Speed"\ntype = "sensor"\ndatatype = "float"',
            r"ov\.toml: leaf\[0\]\.path = 'Vehicle\.Speed' is invalid: a leaf not in the catalogue",
        ),
        (
            'path = "Vehicle.NoSuchBranch.X"\ntype = "sensor"\ndatatype = "float"',
            r"leaf\[0\]\.path = .* under an existing branch \('Vehicle\.NoSuchBranch'\)",
        ),
        (
            'path = "Vehicle.X"\ntype = "sensr"\ndatatype = "float"',
            r"leaf\[0\]\.type = 'sensr' is invalid: expected one of \('sensor', ",
        ),
        (
            'path = "Vehicle.X"\ntype = "sensor"\ndatatype = "float"\nunits = "m"',
            r"unknown key 'leaf\[0\]\.units'",
        ),
    ],
)
def test_a_bad_overlay_names_the_file_the_key_and_what_is_valid(
    tmp_path: Path, overlay: str, expected: str
) -> None:
    path = tmp_path / "ov.toml"
    path.write_text(f"[[leaf]]\n{overlay}\n")
    json = PROJECT / "protocols" / "vss" / "vss_release_5.1.json"
    with pytest.raises(VssMappingError, match=expected):
        load_catalogue(json, path)
