"""A box asks the kernel for exactly the frames it decodes."""

from __future__ import annotations

import pytest

from firmware_py.box.parts import ids_of, needed_messages
from firmware_py.config.loader import EXAMPLES_DIR, load_box_config
from firmware_py.errors import FirmwareError
from protocols.dbc import load_dbc


def test_the_vehicle_mapping_decides_the_kernel_filter() -> None:
    config = load_box_config(EXAMPLES_DIR / "vehicle-toyota.toml")
    db = load_dbc(config.can[0].dbc).database
    needed = needed_messages(config)
    assert needed == {
        "SPEED",
        "KINEMATICS",
        "STEER_ANGLE_SENSOR",
        "BRAKE_MODULE",
        "BLINKERS_STATE",
        "GEAR_PACKET",
    }
    wanted = ids_of(db, needed)
    assert wanted.standard == {0xB4, 0x24, 0x25, 0x226, 0x614, 0x3BC}
    assert wanted.extended == frozenset()
    with pytest.raises(FirmwareError, match="'NOPE' is mapped in \\[vehicle\\]"):
        ids_of(db, {"NOPE"})


def test_a_roadside_unit_reads_all_radar_frames() -> None:
    config = load_box_config(EXAMPLES_DIR / "roadside.toml")
    assert needed_messages(config) is None
