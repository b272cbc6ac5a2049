"""SocketCAN kernel structs: parsing arbitrary bytes, round trips, the kernel's layout."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hal.can.frames import (
    CAN_EFF_FLAG,
    CAN_ERR_FLAG,
    CAN_RTR_FLAG,
    FD_DATA_LENGTHS,
    FLAG_BRS,
    FLAG_ERROR,
    FLAG_EXTENDED,
    FLAG_FD,
    FLAG_REMOTE,
    FRAME_DTYPE,
)
from hal.can.socketcan_error_frames import (
    CAN_ERR_BUSOFF,
)
from hal.can.socketcan_structs import (
    CAN_MTU,
    CANFD_BRS,
    CANFD_FDF,
    CANFD_MTU,
    TIMESPEC,
    pack_frame,
    parse_slots,
    parse_stream,
    timespec_seconds,
)


def error_record(class_bits: int, controller: int = 0) -> bytes:
    """An error frame record of these classes and controller status (``data[1]``)."""
    return pack_frame(CAN_ERR_FLAG | class_bits, bytes([0, controller, 0, 0, 0, 0, 12, 34]))


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


def reference_parse(
    buffer: bytes, sizes: list[int], stamps: list[float]
) -> tuple[list[tuple[float, int, int, int, bytes]], tuple[int, int, int, int]]:
    """What ``parse_slots`` must return, record by record: rows of (timestamp, id, flags,
    dlc, 64 data bytes) and the counts (data frames, error frames, truncated, bad length)."""
    rows: list[tuple[float, int, int, int, bytes]] = []
    counts = [0, 0, 0, 0]
    for i, size in enumerate(sizes):
        if size not in (CAN_MTU, CANFD_MTU):
            counts[2] += 1
            continue
        fd = size == CANFD_MTU
        can_id, length, fd_flags = struct.unpack_from("=IBB", buffer, i * CANFD_MTU)
        if length not in FD_DATA_LENGTHS if fd else length > 8:
            counts[3] += 1
            continue
        error = bool(can_id & CAN_ERR_FLAG)
        extended = bool(can_id & CAN_EFF_FLAG)
        remote = bool(can_id & CAN_RTR_FLAG) and not fd and not error
        flags = (
            (FLAG_EXTENDED if extended and not error else 0)
            | (FLAG_FD if fd else 0)
            | (FLAG_BRS if fd and fd_flags & CANFD_BRS else 0)
            | (FLAG_ERROR if error else 0)
            | (FLAG_REMOTE if remote else 0)
        )
        arbitration_id = can_id & (0x1FFF_FFFF if error or extended else 0x7FF)
        start = i * CANFD_MTU + 8
        data = b"" if remote else buffer[start : start + length]
        rows.append((stamps[i], arbitration_id, flags, length, data.ljust(64, b"\0")))
        counts[1 if error else 0] += 1
    return rows, (counts[0], counts[1], counts[2], counts[3])


def batch_rows(batch: np.ndarray) -> list[tuple[float, int, int, int, bytes]]:
    return [
        (
            float(f["timestamp"]),
            int(f["arbitration_id"]),
            int(f["flags"]),
            int(f["dlc"]),
            bytes(f["data"]),
        )
        for f in batch
    ]


# Records with the fields that matter drawn from their interesting values: id flag bits,
# lengths at and past each kind's limit, BRS on or off; the rest of each slot arbitrary.
records = st.tuples(
    st.integers(0, 0x1FFF_FFFF),
    st.sampled_from(
        [
            0,
            CAN_EFF_FLAG,
            CAN_RTR_FLAG,
            CAN_ERR_FLAG,
            CAN_EFF_FLAG | CAN_RTR_FLAG,
            CAN_EFF_FLAG | CAN_ERR_FLAG,
            0xE000_0000,
        ]
    ),
    st.sampled_from([0, 1, 3, 8, 9, 10, 12, 13, 48, 63, 64, 65, 255]),
    st.sampled_from([0, CANFD_FDF, CANFD_FDF | CANFD_BRS, 0xFF]),
    st.binary(min_size=CANFD_MTU, max_size=CANFD_MTU),
)
record_sizes = {
    "classic": st.just(CAN_MTU),
    "fd": st.just(CANFD_MTU),
    "mixed": st.sampled_from([CAN_MTU, CANFD_MTU]),
    "truncated": st.sampled_from([CAN_MTU, CANFD_MTU, 0, -1, 8, 15, 17, 71, 73]),
}


@settings(max_examples=150)
@pytest.mark.parametrize("kinds", sorted(record_sizes))
@given(data=st.data(), specs=st.lists(records, max_size=24))
def test_slots_parse_like_the_plain_reference_record_by_record(
    kinds: str, data: st.DataObject, specs: list[tuple[int, int, int, int, bytes]]
) -> None:
    # Bursts of one kind take the fast path (sizes as a list, never made an array); mixed
    # and truncated ones the general one; sizes as an array always the general one.
    buffer = bytearray()
    for id_bits, flag_bits, length, fd_flags, rest in specs:
        buffer += struct.pack("=IBBBB", id_bits | flag_bits, length, fd_flags, 0, 0) + rest[8:]
    sizes = [data.draw(record_sizes[kinds]) for _ in specs]
    stamps = [1000.0 + i for i in range(len(specs))]
    want_rows, want_counts = reference_parse(bytes(buffer), sizes, stamps)
    for given_sizes in (sizes, np.array(sizes, dtype=np.int64)):
        batch, stats = parse_slots(buffer, given_sizes, stamps)
        assert batch.dtype == FRAME_DTYPE
        assert batch_rows(batch) == want_rows
        assert (stats.data_frames, stats.error_frames, stats.truncated, stats.bad_length) == (
            want_counts
        )


def test_the_fast_path_handles_every_kind_of_frame_in_a_classic_burst() -> None:
    # One size for all (the reader's usual burst), with a remote request, an error frame, an
    # extended id, a length past 8 (dropped) and stale bytes after short payloads.
    stale = bytes(range(100, 172))
    slots = [
        pack_frame(0x123, b"\x01\x02"),
        pack_frame(0x7FF | CAN_RTR_FLAG, b"", length=6),
        error_record(CAN_ERR_BUSOFF),
        pack_frame(0x18FEF100 | CAN_EFF_FLAG, b"abcdefgh"),
        struct.pack("=IBBBB", 0x55, 9, 0, 0, 0) + bytes(8),
        pack_frame(0x1, b""),
    ]
    buffer = b"".join(record + stale[len(record) :] for record in slots)
    batch, stats = parse_slots(buffer, [CAN_MTU] * len(slots), np.arange(6.0))
    assert (stats.data_frames, stats.error_frames, stats.bad_length, stats.truncated) == (
        4,
        1,
        1,
        0,
    )
    assert batch["arbitration_id"].tolist() == [0x123, 0x7FF, CAN_ERR_BUSOFF, 0x18FEF100, 0x1]
    assert batch["flags"].tolist() == [0, FLAG_REMOTE, FLAG_ERROR, FLAG_EXTENDED, 0]
    assert batch["dlc"].tolist() == [2, 6, 8, 8, 0]
    assert batch["timestamp"].tolist() == [0.0, 1.0, 2.0, 3.0, 5.0]
    assert bytes(batch["data"][0]) == b"\x01\x02" + bytes(62)
    assert not batch["data"][1].any()  # a remote request carries no payload
    assert bytes(batch["data"][3]) == b"abcdefgh" + bytes(56)
    assert not batch["data"][4].any()


def test_fd_bursts_keep_only_each_frames_own_bytes() -> None:
    stale = bytes([0xEE]) * CANFD_MTU
    lengths = [64, 12, 0, 48, 8]
    records = [
        pack_frame(0x100 + n, bytes(range(1, n + 1)), fd=True, fd_flags=CANFD_FDF | CANFD_BRS)
        for n in lengths
    ]
    # A short FD frame right after a long one: its slot still holds the long one's bytes.
    buffer = b"".join(r[: 8 + n] + stale[8 + n :] for r, n in zip(records, lengths, strict=True))
    for sizes in ([CANFD_MTU] * 5, [CANFD_MTU, CANFD_MTU, CAN_MTU, CANFD_MTU, CAN_MTU]):
        batch, stats = parse_slots(buffer, sizes, np.zeros(5))
        assert stats.data_frames == 5
        for frame, n, size in zip(batch, lengths, sizes, strict=True):
            assert bytes(frame["data"]) == bytes(range(1, n + 1)).ljust(64, b"\0")
            fd = size == CANFD_MTU
            assert int(frame["flags"]) == ((FLAG_FD | FLAG_BRS) if fd else 0)


def test_timespecs_become_seconds_and_a_missing_stamp_gets_the_read_time() -> None:
    stamps = [TIMESPEC.pack(1_700_000_000, 250_000_000), bytes(TIMESPEC.size)]
    seconds = timespec_seconds(stamps, 99.5)
    assert seconds.tolist() == [1_700_000_000.25, 99.5]
    assert timespec_seconds([], 1.0).shape == (0,)
    with pytest.raises(ValueError, match="struct timespec"):
        timespec_seconds([b"\x00" * 4], 1.0)


_LONG = 1 << (8 * TIMESPEC.size // 2 - 1)


@settings(max_examples=200)
@given(
    pairs=st.lists(
        st.tuples(
            st.one_of(st.just(0), st.integers(-_LONG, _LONG - 1)),
            st.one_of(st.integers(0, 999_999_999), st.integers(-_LONG, _LONG - 1)),
        ),
        max_size=40,
    ),
    missing=st.floats(allow_nan=False),
)
def test_timespec_seconds_is_each_record_s_seconds_plus_nanoseconds(
    pairs: list[tuple[int, int]], missing: float
) -> None:
    """Against the record-by-record sum: ``float(sec) + float(nsec) * 1e-9`` bit for bit,
    ``missing`` where the seconds are 0 (garbage nanoseconds included)."""
    seconds = timespec_seconds([TIMESPEC.pack(sec, nsec) for sec, nsec in pairs], missing)
    want = [
        missing if sec == 0 else float(np.float64(sec) + np.float64(nsec) * 1e-9)
        for sec, nsec in pairs
    ]
    assert seconds.dtype == np.float64
    assert [struct.pack("<d", v) for v in seconds.tolist()] == [struct.pack("<d", v) for v in want]


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


@given(length=st.integers(0, 255))
def test_an_fd_record_of_a_length_no_can_fd_frame_has_is_dropped_as_bad_length(
    length: int,
) -> None:
    # The kernel checks only len <= 64 (can_is_canfd_skb), so vcan passes a 10-byte FD frame.
    bad = struct.pack("=IBBBB", 0x123, length, CANFD_FDF, 0, 0) + bytes(range(64))
    good = pack_frame(0x124, bytes(12), fd=True)
    batch, stats = parse_stream(bad + good, CANFD_MTU)
    valid = length in FD_DATA_LENGTHS
    assert stats.bad_length == (0 if valid else 1)
    assert batch["arbitration_id"].tolist() == ([0x123, 0x124] if valid else [0x124])
    assert batch["dlc"].tolist()[-1] == 12
