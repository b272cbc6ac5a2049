"""The NTCIP 1202 SPaT broadcast (TSCBM): the byte layout V2X Hub reads, the checks that make a
datagram usable, SPaT from it; arbitrary bytes never raise anything but ``TscbmError``."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.errors import DecodeError, TscbmError
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.spat import (
    SIZE,
    PhaseTiming,
    StatusGroups,
    TscbmMessage,
    decode_tscbm,
    encode_tscbm,
    phase_bitmap,
    to_spat,
)

# Field offsets of V2X Hub's packed ``Ntcip1202Ext``, written out independently of the module.
BLOCKS_AT = 2
BLOCK_SIZE = 13  # u8 phase number + 6 x u16
BITMAPS_AT = BLOCKS_AT + 16 * BLOCK_SIZE  # 210
TAIL_AT = BITMAPS_AT + 11 * 2  # 232: 7 x u8, then ms, ped call, ped detect (u16)


def hand_built(
    *,
    header: int = 0xCD,
    count: int = 16,
    numbers: list[int] | None = None,
    reds: int = 0,
    yellows: int = 0,
    greens: int = 0,
    flashing: int = 0,
) -> bytearray:
    """A datagram assembled byte by byte: block i is phase ``numbers[i]`` (default i + 1) with
    vehicle min (i + 1) * 10 and max (i + 1) * 20 tenths."""
    data = bytearray(SIZE)
    data[0], data[1] = header, count
    for i, number in enumerate(numbers if numbers is not None else range(1, 17)):
        at = BLOCKS_AT + i * BLOCK_SIZE
        data[at] = number
        struct.pack_into("!HH", data, at + 1, (i + 1) * 10, (i + 1) * 20)
        struct.pack_into("!HHHH", data, at + 5, 1, 2, 3, 4)  # pedestrian and overlap times
    struct.pack_into("!HHH", data, BITMAPS_AT, reds, yellows, greens)
    struct.pack_into("!H", data, BITMAPS_AT + 18, flashing)  # flashingOutputPhaseStatus
    data[TAIL_AT : TAIL_AT + 7] = bytes([0x04, 0x05, 0x00, 77, 13, 42, 59])
    struct.pack_into("!HHH", data, TAIL_AT + 7, 999, 0x0003, 0x8000)
    return data


def test_the_layout_is_245_bytes() -> None:
    assert SIZE == 245
    assert TAIL_AT + 7 + 6 == SIZE


def test_a_hand_built_datagram_decodes_field_by_field() -> None:
    message = decode_tscbm(bytes(hand_built(reds=0b0110, greens=0b0001, yellows=0b1000)))
    assert len(message.phases) == 16
    assert message.phases[0] == PhaseTiming(1, 10, 20, 1, 2, 3, 4)
    assert message.phase(16) == PhaseTiming(16, 160, 320, 1, 2, 3, 4)
    assert message.status.reds == 0b0110
    assert message.status.greens == 0b0001
    assert (message.intersection_status, message.timebase_action) == (4, 5)
    assert message.sequence == 77
    assert (message.hour, message.minute, message.second, message.millisecond) == (13, 42, 59, 999)
    assert (message.pedestrian_calls, message.pedestrian_detects) == (3, 0x8000)
    states = [message.vehicle_state(n) for n in (1, 2, 3, 4, 5)]
    assert states == [
        pb.SIGNAL_STATE_GREEN,
        pb.SIGNAL_STATE_RED,
        pb.SIGNAL_STATE_RED,
        pb.SIGNAL_STATE_AMBER,
        pb.SIGNAL_STATE_DARK,
    ]


def test_red_wins_and_flashing_is_its_own_state() -> None:
    # Phase 1: red and green at once (red wins, as V2X Hub reads it); 2: flashing red;
    # 3: flashing yellow; 4: a flashing bit alone is still dark.
    data = hand_built(reds=0b0011, greens=0b0001, yellows=0b0100, flashing=0b1110)
    message = decode_tscbm(bytes(data))
    assert [message.vehicle_state(n) for n in (1, 2, 3, 4)] == [
        pb.SIGNAL_STATE_RED,
        pb.SIGNAL_STATE_FLASHING_RED,
        pb.SIGNAL_STATE_FLASHING_AMBER,
        pb.SIGNAL_STATE_DARK,
    ]


def test_unused_blocks_and_blocks_past_the_count_are_left_out() -> None:
    numbers = [2, 0, 4, 0, 6, 7, 8, 9]
    message = decode_tscbm(bytes(hand_built(count=5, numbers=numbers)))
    assert [p.phase for p in message.phases] == [2, 4, 6]
    assert message.phase(7) is None


@pytest.mark.parametrize(
    ("data", "reason", "says"),
    [
        (b"", "bad_length", "0 bytes, expected 245"),
        (bytes(hand_built())[:-1], "bad_length", "244 bytes"),
        (bytes(hand_built()) + b"\x00", "bad_length", "246 bytes"),
        (bytes(hand_built(header=0xCC)), "bad_header", "header 0xCC, expected 0xCD"),
        (bytes(hand_built(count=17)), "bad_phase_count", "17 phases, at most 16"),
        (bytes(hand_built(numbers=[1, 2, 17])), "bad_phase_number", "block 2 has phase number 17"),
        (bytes(hand_built(numbers=[1, 2, 1])), "duplicate_phase", "phase 1 sent twice"),
    ],
)
def test_unusable_datagrams_say_why(data: bytes, reason: str, says: str) -> None:
    with pytest.raises(TscbmError, match=says) as caught:
        decode_tscbm(data)
    assert caught.value.reason == reason
    assert isinstance(caught.value, DecodeError)


def test_spat_of_every_phase_by_default() -> None:
    message = TscbmMessage(
        (PhaseTiming(2, 55, 120), PhaseTiming(4, 30, 0), PhaseTiming(6, 0, 0)),
        StatusGroups(greens=phase_bitmap([2]), reds=phase_bitmap([4])),
        sequence=9,
    )
    spat = to_spat(message, intersection_id=101)
    assert spat.intersection_id == 101
    assert spat.cycle_counter == 0
    assert [(p.signal_group, p.state) for p in spat.phases] == [
        (2, pb.SIGNAL_STATE_GREEN),
        (4, pb.SIGNAL_STATE_RED),
        (6, pb.SIGNAL_STATE_DARK),
    ]
    green, red, _ = spat.phases
    assert (green.min_end_s, green.max_end_s, green.likely_end_s) == (5.5, 12.0, 5.5)
    assert (red.min_end_s, red.max_end_s) == (3.0, 3.0)  # an unknown (0) max is the min


def test_spat_through_a_phase_to_signal_group_mapping() -> None:
    message = TscbmMessage(
        (PhaseTiming(2, 10, 10), PhaseTiming(4, 20, 20), PhaseTiming(6, 30, 30)),
        StatusGroups(yellows=phase_bitmap([6])),
    )
    spat = to_spat(message, intersection_id=7, signal_groups={2: 11, 6: 13})
    assert [(p.signal_group, p.state, p.likely_end_s) for p in spat.phases] == [
        (11, pb.SIGNAL_STATE_DARK, 1.0),
        (13, pb.SIGNAL_STATE_AMBER, 3.0),
    ]


def test_encode_writes_what_controllers_send() -> None:
    message = TscbmMessage((PhaseTiming(3, 42, 43),), StatusGroups(greens=phase_bitmap([3])))
    data = encode_tscbm(message)
    assert len(data) == SIZE
    assert data[:2] == b"\xcd\x10"  # numOfPhases 16: every block is sent, unused ones zero
    assert data[BLOCKS_AT : BLOCKS_AT + 5] == b"\x03\x00\x2a\x00\x2b"
    assert data[BLOCKS_AT + BLOCK_SIZE :].startswith(bytes(BLOCK_SIZE))
    assert struct.unpack_from("!H", data, BITMAPS_AT + 4) == (0b100,)


@pytest.mark.parametrize(
    "message",
    [
        TscbmMessage(tuple(PhaseTiming(n) for n in range(1, 18))),
        TscbmMessage((PhaseTiming(0),)),
        TscbmMessage((PhaseTiming(17),)),
        TscbmMessage((PhaseTiming(1), PhaseTiming(1))),
        TscbmMessage((PhaseTiming(1, 70_000),)),
        TscbmMessage((), sequence=256),
        TscbmMessage((), StatusGroups(reds=-1)),
    ],
)
def test_encode_refuses_what_does_not_fit(message: TscbmMessage) -> None:
    with pytest.raises(ValueError, match=r"phase|out of range"):
        encode_tscbm(message)


def test_phase_bitmap_checks_its_phases() -> None:
    assert phase_bitmap([1, 16]) == 0x8001
    with pytest.raises(ValueError, match="phase 0"):
        phase_bitmap([0])


# --- properties -------------------------------------------------------------------------------

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
timings = st.builds(PhaseTiming, st.integers(1, 16), u16, u16, u16, u16, u16, u16)
messages = st.builds(
    TscbmMessage,
    st.lists(timings, max_size=16, unique_by=lambda p: p.phase).map(tuple),
    st.builds(StatusGroups, *([u16] * 11)),
    u8,
    u8,
    u8,
    u8,
    u8,
    u8,
    u8,
    u16,
    u16,
    u16,
)


@given(messages)
def test_encode_then_decode_is_the_identity(message: TscbmMessage) -> None:
    data = encode_tscbm(message)
    assert decode_tscbm(data) == message
    assert encode_tscbm(decode_tscbm(data)) == data


def _plausible(body: bytes, count: int) -> bytes:
    # Mostly-right datagrams reach the phase checks, not just the length check.
    return bytes([0xCD, count]) + body


@given(
    st.one_of(
        st.binary(max_size=300),
        st.builds(_plausible, st.binary(min_size=SIZE - 2, max_size=SIZE - 2), st.integers(0, 20)),
    )
)
def test_arbitrary_bytes_decode_or_raise_a_tscbm_error(data: bytes) -> None:
    reasons = {"bad_length", "bad_header", "bad_phase_count", "bad_phase_number", "duplicate_phase"}
    try:
        message = decode_tscbm(data)
    except TscbmError as err:
        reason = err.reason
        assert reason in reasons
        return
    spat = to_spat(message, intersection_id=1)
    assert len(spat.phases) == len(message.phases) <= 16
    assert all(p.min_end_s <= p.max_end_s for p in spat.phases)
