"""SocketCAN error frames to bus states and event counters."""

from __future__ import annotations

from hal.can.frames import (
    FLAG_ERROR,
    FLAG_EXTENDED,
    make_batch,
)
from hal.can.port import BusState
from hal.can.socketcan_error_frames import (
    CAN_ERR_BUSOFF,
    CAN_ERR_CRTL,
    CAN_ERR_CRTL_ACTIVE,
    CAN_ERR_CRTL_RX_PASSIVE,
    CAN_ERR_CRTL_TX_WARNING,
    CAN_ERR_PROT,
    CAN_ERR_RESTARTED,
    summarize_error_frames,
)
from hal.can.socketcan_structs import (
    CAN_MTU,
    pack_frame,
    parse_stream,
)
from tests.hal.test_socketcan_structs import error_record

# -- error frames ------------------------------------------------------------------------------


def test_error_frames_become_bus_states_and_counters() -> None:
    raw = b"".join(
        [
            error_record(CAN_ERR_CRTL, CAN_ERR_CRTL_TX_WARNING),
            pack_frame(0x100, b"\x01"),
            error_record(CAN_ERR_CRTL | CAN_ERR_PROT, CAN_ERR_CRTL_RX_PASSIVE),
            error_record(CAN_ERR_BUSOFF),
            error_record(CAN_ERR_RESTARTED),
        ]
    )
    batch, stats = parse_stream(raw, CAN_MTU)
    assert (stats.data_frames, stats.error_frames) == (1, 4)
    errors = batch[(batch["flags"] & FLAG_ERROR) != 0]
    assert errors["arbitration_id"].tolist() == [
        CAN_ERR_CRTL,
        CAN_ERR_CRTL | CAN_ERR_PROT,
        CAN_ERR_BUSOFF,
        CAN_ERR_RESTARTED,
    ]
    assert not (errors["flags"] & FLAG_EXTENDED).any()
    summary = summarize_error_frames(batch)
    assert summary.state is BusState.ACTIVE  # restarted last
    assert summary.events == {
        "bus_error_warning": 1,
        "bus_error_passive": 1,
        "bus_errors": 1,
        "bus_off": 1,
        "bus_restarted": 1,
    }
    passive_last, _ = parse_stream(raw[: 3 * CAN_MTU], CAN_MTU)
    assert summarize_error_frames(passive_last).state is BusState.PASSIVE
    back_to_active, _ = parse_stream(error_record(CAN_ERR_CRTL, CAN_ERR_CRTL_ACTIVE), CAN_MTU)
    assert summarize_error_frames(back_to_active).state is BusState.ACTIVE


def test_data_frames_alone_say_nothing_about_the_bus_state() -> None:
    summary = summarize_error_frames(make_batch([(0.0, 0x1, b"\xff" * 8)]))
    assert (summary.state, summary.events) == (None, {})
