"""``parse_slots``' path for the usual burst (classic data frames, 11-bit ids, lengths up to 8)
gives what the general parse gives, on any slot bytes, and leaves the caller's buffer alone."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hal.can.socketcan_structs as structs
from hal.can.frames import CAN_EFF_FLAG, CAN_ERR_FLAG, CAN_RTR_FLAG
from hal.can.socketcan_structs import CAN_MTU, CANFD_MTU, parse_slots

# Mostly what the fast path takes; now and then a flag or a length that sends a burst to the
# general parse.
CAN_IDS = st.one_of(
    st.integers(0, 0x7FF),
    st.integers(0, 0xFFFF_FFFF),
    st.sampled_from([CAN_EFF_FLAG | 0x123, CAN_ERR_FLAG | 4, CAN_RTR_FLAG | 0x10]),
)
LENGTHS = st.one_of(st.integers(0, 8), st.integers(0, 255))
STANDARD = st.tuples(st.integers(0, 0x7FF), st.integers(0, 8))


def slots_of(records: list[tuple[int, int]], noise: bytes) -> bytearray:
    """One ``CANFD_MTU`` slot per ``(can_id, len)``, every other byte from ``noise`` (stale
    bytes a slot may hold past the payload)."""
    size = len(records) * CANFD_MTU
    buffer = bytearray((noise * (size // len(noise) + 1))[:size])
    for i, (can_id, length) in enumerate(records):
        struct.pack_into("=IB", buffer, i * CANFD_MTU, can_id, length)
    return buffer


@settings(max_examples=200, deadline=None)
@given(
    records=st.lists(st.tuples(CAN_IDS, LENGTHS), min_size=1, max_size=40)
    | st.lists(STANDARD, min_size=1, max_size=40),
    noise=st.binary(min_size=1, max_size=97),
)
def test_a_classic_burst_parses_as_the_general_parse_does(
    records: list[tuple[int, int]], noise: bytes
) -> None:
    buffer = slots_of(records, noise)
    before = bytes(buffer)
    stamps = np.arange(len(records), dtype=np.float64) + 0.5
    # Sizes as a list: the usual burst's path; as an array: always the general parse.
    fast, fast_stats = parse_slots(buffer, [CAN_MTU] * len(records), stamps)
    general, general_stats = parse_slots(
        buffer, np.full(len(records), CAN_MTU, dtype=np.int64), stamps
    )
    assert fast.dtype == general.dtype
    assert fast.tobytes() == general.tobytes()
    assert fast_stats == general_stats
    assert bytes(buffer) == before  # the caller's slots are never written


def test_the_usual_burst_takes_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    def general(*_: object) -> None:
        raise AssertionError("the general parse ran")

    monkeypatch.setattr(structs, "_decode", general)
    buffer = slots_of([(0x123, 8), (0x7FF, 0), (0, 3)], b"\xa5\x5a")
    batch, stats = parse_slots(buffer, [CAN_MTU] * 3, [1.0, 2.0, 3.0])
    assert stats.data_frames == 3
    assert batch["arbitration_id"].tolist() == [0x123, 0x7FF, 0]
    assert batch["dlc"].tolist() == [8, 0, 3]
    assert batch["flags"].tolist() == [0, 0, 0]
    assert bytes(batch["data"][0][:8]) == bytes(buffer[8:16])
    assert not batch["data"][1].any()
    assert bytes(batch["data"][2]) == bytes(buffer[2 * CANFD_MTU + 8 : 2 * CANFD_MTU + 11]).ljust(
        64, b"\0"
    )


@pytest.mark.parametrize(
    "record",
    [(CAN_EFF_FLAG | 0x123, 8), (CAN_ERR_FLAG | 4, 8), (CAN_RTR_FLAG | 0x10, 2), (0x10, 9)],
)
def test_any_other_frame_sends_the_burst_to_the_general_parse(
    record: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    decode = structs._decode

    def counted(*args: object) -> object:
        calls.append(1)
        return decode(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(structs, "_decode", counted)
    parse_slots(slots_of([(0x100, 8), record], b"\x01"), [CAN_MTU] * 2, [0.0, 1.0])
    assert calls == [1]
