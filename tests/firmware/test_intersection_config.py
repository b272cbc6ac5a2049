"""``[roadside] intersection``: the description file beside the config (or shipped), read when
the config loads, its errors naming the config and the file, its id the SPaT's and
perception's; the built roadside unit publishes it."""

from __future__ import annotations

import re
from contextlib import ExitStack
from pathlib import Path

import pytest

from edge.pipelines.roadside_unit import RoadsideUnitPipeline
from firmware_py.box import build_box
from firmware_py.config.loader import EXAMPLES_DIR, load_box_config
from firmware_py.errors import ConfigError
from protocols.topics import Stream
from protocols.v2x.intersection_file import read_intersection_file
from tests.firmware.test_box_builders import example

ROADSIDE = (EXAMPLES_DIR / "roadside.toml").read_text()
INTERSECTION = (EXAMPLES_DIR / "intersection-101.toml").read_text()
LINE = 'intersection = "intersection-101.toml"\n'


def write(tmp_path: Path, config: str, files: dict[str, str] | None = None) -> Path:
    for name, text in (files or {}).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    path = tmp_path / "box.toml"
    path.write_text(config)
    return path


def test_the_roadside_example_reads_its_intersection_file() -> None:
    roadside = load_box_config(EXAMPLES_DIR / "roadside.toml").roadside
    assert roadside is not None
    assert roadside.intersection == read_intersection_file(EXAMPLES_DIR / "intersection-101.toml")


def test_without_the_key_there_is_no_intersection(tmp_path: Path) -> None:
    roadside = load_box_config(write(tmp_path, ROADSIDE.replace(LINE, ""))).roadside
    assert roadside is not None
    assert roadside.intersection is None


def test_the_path_is_relative_to_the_config_and_a_file_there_wins(tmp_path: Path) -> None:
    renamed = INTERSECTION.replace('name = "RoadGate demo crossroads 101"', 'name = "Local"')
    files = {"maps/intersection-101.toml": renamed, "intersection-101.toml": renamed}
    for line in ('intersection = "maps/intersection-101.toml"\n', LINE):
        roadside = load_box_config(write(tmp_path, ROADSIDE.replace(LINE, line), files)).roadside
        assert roadside is not None
        assert roadside.intersection is not None
        assert roadside.intersection.map.name == "Local"


def test_a_missing_file_is_an_error_naming_the_config_and_the_path(tmp_path: Path) -> None:
    path = write(tmp_path, ROADSIDE.replace(LINE, 'intersection = "maps/nowhere.toml"\n'))
    expected = (
        f"{path}: roadside.intersection = 'maps/nowhere.toml' is invalid: an intersection "
        f"description file (no such file: {str(tmp_path / 'maps' / 'nowhere.toml')!r})"
    )
    with pytest.raises(ConfigError) as caught:
        load_box_config(path)
    assert str(caught.value) == expected


def test_a_broken_file_is_an_error_naming_both_files_and_the_key(tmp_path: Path) -> None:
    broken = INTERSECTION.replace("id = 32\n", "id = 300\n")
    path = write(tmp_path, ROADSIDE, {"intersection-101.toml": broken})
    with pytest.raises(ConfigError) as caught:
        load_box_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: roadside.intersection = 'intersection-101.toml'")
    assert f"{tmp_path / 'intersection-101.toml'}: approach[2].lane[1].id = 300" in message
    assert len(message.splitlines()) == 1


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("intersection_id = 101\ncycle_s", "intersection_id = 7\ncycle_s", "signal_plan"),
        ("intersection_id = 101\nreference", "intersection_id = 7\nreference", "perception"),
    ],
)
def test_spat_and_perception_must_name_the_described_intersection(
    tmp_path: Path, old: str, new: str, key: str
) -> None:
    assert old in ROADSIDE
    path = write(tmp_path, ROADSIDE.replace(old, new))
    with pytest.raises(ConfigError, match=re.escape(f"{path}: ")) as caught:
        load_box_config(path)
    assert re.search(
        rf"{key}\.intersection_id = 7 is invalid: .* describes intersection 101", str(caught.value)
    )


def test_perception_without_an_intersection_id_is_not_checked(tmp_path: Path) -> None:
    path = write(tmp_path, ROADSIDE.replace("intersection_id = 101\nreference", "reference"))
    config = load_box_config(path)
    assert config.perception.intersection_id == 0


def test_the_built_roadside_unit_publishes_the_described_intersection(tmp_path: Path) -> None:
    config = example("roadside.toml", tmp_path)
    with ExitStack() as stack:
        box = build_box(config, stack)
        assert isinstance(box.pipeline, RoadsideUnitPipeline)
        box.pipeline.publish_intersection()
        streams = [entry.stream for entry in box.uplink.outbox.peek(10)]
    assert streams == [Stream.INTERSECTION]
