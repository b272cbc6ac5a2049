"""Raw SocketCAN structs: parsing arbitrary bytes, round trips, error frames, kernel filters."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hal.can.frame_structs import (
    CAN_EFF_FLAG,
    CAN_ERR_BUSOFF,
    CAN_ERR_CRTL,
    CAN_ERR_CRTL_ACTIVE,
    CAN_ERR_CRTL_RX_PASSIVE,
    CAN_ERR_CRTL_TX_WARNING,
    CAN_ERR_FLAG,
    CAN_ERR_PROT,
    CAN_ERR_RESTARTED,
    CAN_MTU,
    CAN_RTR_FLAG,
    CANFD_BRS,
    CANFD_FDF,
    CANFD_MTU,
    FD_DATA_LENGTHS,
    CanFilter,
    compute_filters,
    pack_filters,
    pack_frame,
    parse_slots,
    parse_stream,
    summarize_error_frames,
)
from hal.can.frames import (
    FLAG_BRS,
    FLAG_ERROR,
    FLAG_EXTENDED,
    FLAG_FD,
    FLAG_REMOTE,
    FRAME_DTYPE,
    make_batch,
)
from hal.can.port import BusState

# -- arbitrary bytes ---------------------------------------------------------------------------


@given(raw=st.binary(max_size=600), fd=st.booleans())
def test_any_byte_stream_parses_without_raising_and_counts_every_record(
    raw: bytes, fd: bool
) -> None:
    mtu = CANFD_MTU if fd else CAN_MTU
    batch, stats = parse_stream(raw, mtu, timestamp=12.5)
    whole, tail = divmod(len(raw), mtu)
    assert batch.dtype == FRAME_DTYPE
    assert stats.truncated == (1 if tail else 0)
    assert len(batch) + stats.bad_length == whole
    assert stats.data_frames + stats.error_frames == len(batch)
    assert (batch["dlc"] <= (64 if fd else 8)).all()
    assert (batch["timestamp"] == 12.5).all()
    for frame in batch:  # nothing past the payload, whatever the slot held
        assert not frame["data"][frame["dlc"] :].any()


@given(
    data=st.data(),
    slots=st.integers(min_value=0, max_value=12),
)
def test_any_slot_buffer_and_sizes_parse_and_short_records_are_counted(
    data: st.DataObject, slots: int
) -> None:
    buffer = data.draw(st.binary(min_size=slots * CANFD_MTU, max_size=slots * CANFD_MTU))
    sizes = data.draw(
        st.lists(
            st.one_of(st.sampled_from([CAN_MTU, CANFD_MTU]), st.integers(-1, 100)),
            min_size=slots,
            max_size=slots,
        )
    )
    batch, stats = parse_slots(buffer, sizes, np.arange(slots, dtype=np.float64))
    odd = sum(1 for size in sizes if size not in (CAN_MTU, CANFD_MTU))
    assert stats.truncated == odd
    assert len(batch) + stats.bad_length + odd == slots
    # Frames keep slot order: their timestamps are slot indexes, increasing.
    assert np.all(np.diff(batch["timestamp"]) > 0)


def test_a_buffer_too_small_for_the_sizes_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="cannot hold 2 slots"):
        parse_slots(bytes(CANFD_MTU), [16, 16], [0.0, 0.0])
    with pytest.raises(ValueError, match="timestamps"):
        parse_slots(bytes(CANFD_MTU), [16], [0.0, 1.0])
    with pytest.raises(ValueError, match="mtu"):
        parse_stream(b"", 17)


def test_truncated_and_overlong_records_are_counted_not_returned() -> None:
    good = pack_frame(0x123, b"\x01\x02")
    bad_length = struct.pack("=IBBBB", 0x124, 9, 0, 0, 0) + bytes(8)
    batch, stats = parse_stream(good + bad_length + good[:10], CAN_MTU)
    assert batch["arbitration_id"].tolist() == [0x123]
    assert (stats.truncated, stats.bad_length, stats.rejected) == (1, 1, 2)
    fd_bad = struct.pack("=IBBBB", 0x1, 65, CANFD_FDF, 0, 0) + bytes(64)
    batch, stats = parse_stream(fd_bad, CANFD_MTU)
    assert len(batch) == 0
    assert stats.bad_length == 1


# -- round trips of packed frames ---------------------------------------------------------------

frames = st.one_of(
    st.tuples(st.just("classic"), st.integers(0, 0x7FF), st.booleans(), st.binary(max_size=8)),
    st.tuples(
        st.just("extended"), st.integers(0, 0x1FFF_FFFF), st.booleans(), st.binary(max_size=8)
    ),
    st.tuples(
        st.just("fd"),
        st.integers(0, 0x1FFF_FFFF),
        st.booleans(),
        st.sampled_from(sorted(FD_DATA_LENGTHS)).flatmap(
            lambda n: st.binary(min_size=n, max_size=n)
        ),
    ),
    st.tuples(st.just("remote"), st.integers(0, 0x7FF), st.booleans(), st.integers(0, 8)),
)


@settings(max_examples=200)
@given(st.lists(frames, max_size=20), st.data())
def test_packed_frames_round_trip_through_slots(
    specs: list[tuple[str, int, bool, bytes | int]], data: st.DataObject
) -> None:
    buffer = bytearray(data.draw(st.binary(min_size=20 * CANFD_MTU, max_size=20 * CANFD_MTU)))
    sizes = []
    for i, (kind, arbitration_id, flag, payload) in enumerate(specs):
        if kind == "remote":
            assert isinstance(payload, int)
            record = pack_frame(arbitration_id | CAN_RTR_FLAG, b"", length=payload)
        else:
            assert isinstance(payload, bytes)
            extended = kind == "extended" or (kind == "fd" and flag)
            arbitration_id &= 0x1FFF_FFFF if extended else 0x7FF
            specs[i] = (kind, arbitration_id, flag, payload)
            can_id = arbitration_id | (CAN_EFF_FLAG if extended else 0)
            brs = CANFD_FDF | (CANFD_BRS if flag else 0)
            record = pack_frame(can_id, payload, fd=kind == "fd", fd_flags=brs)
        # Stale bytes stay past the record, as when the kernel writes a short frame into a slot.
        buffer[i * CANFD_MTU : i * CANFD_MTU + len(record)] = record
        sizes.append(len(record))
    stamps = np.linspace(1.0, 2.0, len(specs))
    batch, stats = parse_slots(buffer, sizes, stamps)
    assert (stats.data_frames, stats.rejected) == (len(specs), 0)
    for frame, (kind, arbitration_id, flag, payload), stamp in zip(
        batch, specs, stamps, strict=True
    ):
        assert int(frame["arbitration_id"]) == arbitration_id
        assert float(frame["timestamp"]) == stamp
        flags = int(frame["flags"])
        if kind == "remote":
            assert flags == FLAG_REMOTE
            assert int(frame["dlc"]) == payload
            assert not frame["data"].any()
            continue
        assert isinstance(payload, bytes)
        extended = kind == "extended" or (kind == "fd" and flag)
        assert bool(flags & FLAG_EXTENDED) is extended
        assert bool(flags & FLAG_FD) is (kind == "fd")
        assert bool(flags & FLAG_BRS) is (kind == "fd" and flag)
        assert int(frame["dlc"]) == len(payload)
        assert bytes(frame["data"][: len(payload)]) == payload
        assert not frame["data"][len(payload) :].any()


def test_struct_layout_matches_the_kernel_headers() -> None:
    record = struct.pack("=IBBBB8s", 0x18FEF100 | CAN_EFF_FLAG, 3, 0, 0, 0, b"abc")
    batch, _ = parse_stream(record, CAN_MTU)
    assert batch[0]["arbitration_id"] == 0x18FEF100
    assert batch[0]["flags"] == FLAG_EXTENDED
    assert bytes(batch[0]["data"][:3]) == b"abc"
    fd_record = struct.pack("=IBBBB64s", 0x7FF, 64, CANFD_FDF | CANFD_BRS, 0, 0, bytes(range(64)))
    batch, _ = parse_stream(fd_record, CANFD_MTU)
    assert batch[0]["flags"] == FLAG_FD | FLAG_BRS
    assert bytes(batch[0]["data"]) == bytes(range(64))


# -- error frames ------------------------------------------------------------------------------


def error_record(class_bits: int, controller: int = 0) -> bytes:
    return pack_frame(CAN_ERR_FLAG | class_bits, bytes([0, controller, 0, 0, 0, 0, 12, 34]))


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


# -- kernel filters ----------------------------------------------------------------------------


def passes(filters: list[CanFilter], arbitration_id: int, extended: bool) -> bool:
    return any(f.matches(arbitration_id, extended) for f in filters)


def test_exact_filters_pass_their_ids_and_kind_only() -> None:
    filters = compute_filters([0x123], [0x123, 0x18FEF100])
    assert len(filters) == 3
    assert passes(filters, 0x123, False)
    assert passes(filters, 0x123, True)
    assert passes(filters, 0x18FEF100, True)
    assert not passes(filters, 0x124, False)
    assert not passes(filters, 0x18FEF100 & 0x7FF, False)
    assert not passes(filters, 0x18FEF101, True)
    assert pack_filters(filters[:1]) == struct.pack("=II", 0x123, CAN_EFF_FLAG | 0x7FF)


@settings(max_examples=150)
@given(
    ids=st.sets(st.integers(0, 0x7FF), max_size=60),
    max_filters=st.integers(1, 20),
)
def test_standard_filters_cover_every_id_and_are_exact_when_they_fit(
    ids: set[int], max_filters: int
) -> None:
    filters = compute_filters(ids, max_filters=max_filters)
    assert len(filters) <= max_filters
    admitted = {i for i in range(0x800) if passes(filters, i, False)}
    assert ids <= admitted
    if len(ids) <= max_filters:
        assert admitted == ids
    assert not any(passes(filters, i, True) for i in ids)  # never the 29-bit twins


@settings(max_examples=100)
@given(
    ids=st.sets(st.integers(0, 0x1FFF_FFFF), min_size=1, max_size=40),
    standard=st.sets(st.integers(0, 0x7FF), max_size=10),
    max_filters=st.integers(2, 12),
)
def test_extended_and_mixed_filters_cover_every_id(
    ids: set[int], standard: set[int], max_filters: int
) -> None:
    filters = compute_filters(standard, ids, max_filters=max_filters)
    assert len(filters) <= max_filters
    assert all(passes(filters, i, True) for i in ids)
    assert all(passes(filters, i, False) for i in standard)
    if len(ids) + len(standard) <= max_filters:
        assert sorted(filters) == filters
        assert sum(f.admitted() for f in filters) == len(ids) + len(standard)


def test_merging_prefers_neighbours_that_admit_few_extra_ids() -> None:
    # 0x100-0x103 merge into one 4-id filter; 0x700 stays exact.
    filters = compute_filters([0x100, 0x101, 0x102, 0x103, 0x700], max_filters=2)
    assert [f.admitted() for f in filters] == [4, 1]
    assert sum(f.admitted() for f in filters) == 5


def test_bad_filter_arguments_are_value_errors() -> None:
    with pytest.raises(ValueError, match="standard CAN id"):
        compute_filters([0x800])
    with pytest.raises(ValueError, match="extended CAN id"):
        compute_filters(extended_ids=[0x2000_0000])
    with pytest.raises(ValueError, match="max_filters"):
        compute_filters([1], max_filters=0)
    with pytest.raises(ValueError, match="both"):
        compute_filters([1], [2], max_filters=1)
    assert compute_filters() == []
