"""``[perception]`` and ``[radar.noise]``: the roadside unit's tracker from its config."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.geodesy import LocalFrame
from edge.roadside.radar_noise import RADAR_NOISE
from edge.roadside.radar_reads import RADAR_READ_WINDOW_S
from firmware_py.box.perception import build_perception
from firmware_py.config.loader import EXAMPLES_DIR, load_box_config
from firmware_py.config.model import PerceptionConfig
from firmware_py.errors import ConfigError
from protocols.radar import RadarObject, RadarObjectList


def roadside(tmp_path: Path, old: str, new: str) -> Path:
    text = (EXAMPLES_DIR / "roadside.toml").read_text()
    assert old in text
    path = tmp_path / "box.toml"
    path.write_text(text.replace(old, new, 1))
    return path


def test_the_example_configures_the_tracker() -> None:
    config = load_box_config(EXAMPLES_DIR / "roadside.toml")
    p = config.perception
    assert (p.intersection_id, p.raw_object_lists, p.cooperative) == (101, False, True)
    assert p.reference is not None
    assert p.reference.latitude_deg == 34.2235
    (radar,) = config.radars
    assert radar.height_m == 5.0
    assert radar.noise is None


def test_without_the_table_the_defaults_hold(tmp_path: Path) -> None:
    text = (EXAMPLES_DIR / "roadside.toml").read_text()
    start = text.index("[perception]")
    end = text.index("[gnss]")
    path = tmp_path / "box.toml"
    path.write_text(text[:start] + text[end:])
    assert load_box_config(path).perception == PerceptionConfig()


def test_the_uplink_period_is_read(tmp_path: Path) -> None:
    path = roadside(tmp_path, "uplink_period_s = 0", "uplink_period_s = 0.1")
    assert load_box_config(path).perception.uplink_period_s == 0.1
    assert PerceptionConfig().uplink_period_s == 0.0  # every fused list, as before


def test_the_read_window_is_read(tmp_path: Path) -> None:
    assert load_box_config(EXAMPLES_DIR / "roadside.toml").perception.read_window_s == 0.01
    path = roadside(tmp_path, "read_window_s = 0.01", "read_window_s = 0")
    assert load_box_config(path).perception.read_window_s == 0.0
    assert PerceptionConfig().read_window_s == RADAR_READ_WINDOW_S


def test_radar_noise_overrides_only_what_it_names(tmp_path: Path) -> None:
    path = roadside(tmp_path, "height_m = 5.0", "height_m = 6.5\nnoise = { range_std_m = 0.8 }")
    (radar,) = load_box_config(path).radars
    default = RADAR_NOISE["ars408"]
    assert radar.noise is not None
    assert radar.height_m == 6.5
    assert radar.noise.range_std_m == 0.8
    assert radar.noise.azimuth_std_rad == pytest.approx(default.azimuth_std_rad)
    assert radar.noise.velocity_std_mps == default.velocity_std_mps


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        ("cooperative = true", 'cooperative = true\nmotion_model = "ctrv"', "motion_model"),
        ("raw_object_lists = false", 'raw_object_lists = "no"', r"raw_object_lists"),
        ("uplink_period_s = 0", "uplink_period_s = -0.1", "uplink_period_s"),
        ("uplink_period_s = 0", "uplink_period_s = 11", "uplink_period_s"),
        ("read_window_s = 0.01", "read_window_s = -0.01", "read_window_s"),
        ("read_window_s = 0.01", "read_window_s = 0.5", "read_window_s"),
        ("read_window_s = 0.01", 'read_window_s = "10 ms"', "read_window_s"),
        ("intersection_id = 101\nreference", "intersection_id = -1\nreference", "intersection_id"),
        ("cooperative = true", "cooperative = true\nfusion = 1", "fusion"),
        ("height_m = 5.0", "height_m = 5.0\nnoise = { range_std_m = 0 }", "range_std_m"),
        ("height_m = 5.0", "height_m = 5.0\nnoise = { azimuth_std_deg = nan }", "azimuth"),
        ("height_m = 5.0", "height_m = -1", "height_m"),
        ("altitude_m = 410.0 }", "altitude_m = 410.0, x = 1 }", r"reference\.x"),
    ],
)
def test_a_bad_value_is_a_one_line_error(tmp_path: Path, old: str, new: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as caught:
        load_box_config(roadside(tmp_path, old, new))
    assert "\n" not in str(caught.value)


def test_radars_are_placed_about_the_reference_point() -> None:
    config = load_box_config(EXAMPLES_DIR / "roadside.toml")
    fusion = build_perception(config).fusion
    (radar,) = config.radars
    assert config.perception.reference is not None
    frame = LocalFrame.of(config.perception.reference)
    enu = frame.geodetic_to_enu(
        radar.position.latitude_deg, radar.position.longitude_deg, radar.position.altitude_m
    )
    # The fused list's frame is the reference point's: a radar object straight ahead of the
    # radar (looking south) at 10 m is 10 m south of the radar in it.
    car = RadarObject(7, 10.0, 0.0, 0.0, 0.0, 1, 10.0, obj_class=1, length_m=4.5, width_m=1.8)
    for k in range(6):
        result = fusion.on_list(radar.sensor, RadarObjectList(0, k, 100.0 + k * 0.07, (car,)))
    assert result is not None
    fused, capture_ns = result
    assert capture_ns == int((100.0 + 5 * 0.07) * 1e9)
    assert len(fused.objects) == 1
    (obj,) = fused.objects
    assert obj.x_m == pytest.approx(float(enu.east_m), abs=0.5)
    assert obj.y_m == pytest.approx(float(enu.north_m) - 10.0, abs=0.5)
    assert fused.intersection_id == 101
    assert list(fused.sensor_ids) == [radar.sensor]


def test_station_ids_make_a_gateway_heard_both_ways_one_vehicle(tmp_path: Path) -> None:
    path = roadside(
        tmp_path,
        "cooperative = true\n",
        "cooperative = true\n[perception.station_ids]\nveh-001 = 1380384769\n",
    )
    assert load_box_config(path).perception.station_ids == (("veh-001", 1380384769),)


@pytest.mark.parametrize(
    ("table", "named"),
    [('"veh/1" = 5', "veh/1"), ("veh-001 = -1", "veh-001"), ('veh-001 = "x"', "veh-001")],
)
def test_bad_station_ids_are_named(tmp_path: Path, table: str, named: str) -> None:
    path = roadside(
        tmp_path, "cooperative = true\n", f"cooperative = true\n[perception.station_ids]\n{table}\n"
    )
    with pytest.raises(ConfigError, match=named):
        load_box_config(path)
