"""``recvmmsg`` into frame slots, on real kernel sockets of this host, and control buffers.

This kernel may have no CAN; a ``AF_UNIX`` datagram socket pair delivers the same kind of
records (one datagram each, ``SO_TIMESTAMPNS`` stamps) through the same syscall, so the
receiver is tested here; on CAN itself in ``tests/hal/vcan/test_socketcan_batches.py``.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
import time
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hal.can.frames import FLAG_EXTENDED, FLAG_FD
from hal.can.socketcan_mmsg import (
    CONTROL_BYTES,
    MSG_WAITFORONE,
    SO_RXQ_OVFL,
    SO_TIMESTAMPNS,
    UIO_MAXIOV,
    MmsgReceiver,
    RecvMMsg,
    control_stamps,
    control_stamps_walk,
    load_recvmmsg,
)
from hal.can.socketcan_structs import CAN_MTU, CANFD_MTU, TIMESPEC, pack_frame, parse_slots

SO_SNDBUFFORCE = 32


@pytest.fixture(scope="module")
def recvmmsg() -> RecvMMsg:
    function = load_recvmmsg()
    assert function is not None, "this C library has no recvmmsg (glibc >= 2.12 or musl has)"
    return function


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A sender and a receiver of datagrams; the receiver stamps them (``SO_TIMESTAMPNS``)."""
    sender, receiver = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sender.setsockopt(socket.SOL_SOCKET, SO_SNDBUFFORCE, 64 * 1024 * 1024)  # root, as CI is
    yield sender, receiver
    sender.close()
    receiver.close()


def never() -> float:
    raise AssertionError("every record was stamped: no fallback time is needed")


def test_queued_records_arrive_in_slots_in_order_with_kernel_stamps(
    recvmmsg: RecvMMsg, pair: tuple[socket.socket, socket.socket]
) -> None:
    sender, receiver = pair
    records = [
        pack_frame(0x123, b"\x01\x02"),
        pack_frame(0x8000_0000 | 0x18FEF100, bytes(range(8))),
        pack_frame(0x7FF, bytes(range(64)), fd=True),
    ]
    before = time.time()
    for record in records:
        sender.send(record)
    after = time.time()
    batches = MmsgReceiver(recvmmsg, 8, timestamps=True)
    count, failure = batches.receive(receiver.fileno(), 8, socket.MSG_DONTWAIT)
    assert (count, failure) == (3, None)
    assert batches.sizes(count) == [CAN_MTU, CAN_MTU, CANFD_MTU]
    stamps, drops = batches.stamps(count, never)
    assert drops is None  # AF_UNIX has no drop counter
    assert (before <= stamps).all()
    assert (stamps <= after).all()
    assert (np.diff(stamps) >= 0).all()
    batch, stats = parse_slots(batches.slots, batches.sizes(count), stamps)
    assert (stats.data_frames, stats.rejected) == (3, 0)
    assert batch["arbitration_id"].tolist() == [0x123, 0x18FEF100, 0x7FF]
    assert batch["flags"].tolist() == [0, FLAG_EXTENDED, FLAG_FD]
    assert bytes(batch[2]["data"]) == bytes(range(64))
    # Nothing left: a read that must not wait returns at once with nothing, and no error.
    assert batches.receive(receiver.fileno(), 8, socket.MSG_DONTWAIT) == (0, None)


def test_more_than_the_kernel_takes_per_call_come_in_one_receive(
    recvmmsg: RecvMMsg, pair: tuple[socket.socket, socket.socket]
) -> None:
    sender, receiver = pair
    sent = 2 * UIO_MAXIOV + 300
    for i in range(sent):
        sender.send(pack_frame(0x42, i.to_bytes(4, "little")))
    batches = MmsgReceiver(recvmmsg, 4096, timestamps=True)
    count, failure = batches.receive(receiver.fileno(), 4096, MSG_WAITFORONE)
    assert (count, failure) == (sent, None)
    stamps, _ = batches.stamps(count, never)
    batch, _ = parse_slots(batches.slots, batches.sizes(count), stamps)
    counters = batch["data"][:, :4].copy().view("<u4").ravel()
    assert counters.tolist() == list(range(sent))
    assert (np.diff(stamps) >= 0).all()


def test_a_limit_below_the_queue_leaves_the_rest_for_the_next_receive(
    recvmmsg: RecvMMsg, pair: tuple[socket.socket, socket.socket]
) -> None:
    sender, receiver = pair
    for i in range(10):
        sender.send(pack_frame(0x42, bytes([i])))
    batches = MmsgReceiver(recvmmsg, 16, timestamps=False)
    first, _ = batches.receive(receiver.fileno(), 4, socket.MSG_DONTWAIT)
    head = bytes(batches.slots[8 : 9 + 3 * CANFD_MTU : CANFD_MTU])
    second, _ = batches.receive(receiver.fileno(), 16, socket.MSG_DONTWAIT)
    tail = bytes(batches.slots[8 : 9 + 5 * CANFD_MTU : CANFD_MTU])
    assert (first, second) == (4, 6)
    assert (head, tail) == (bytes(range(4)), bytes(range(4, 10)))


def test_the_wait_for_a_first_record_ends_at_the_socket_timeout(
    recvmmsg: RecvMMsg, pair: tuple[socket.socket, socket.socket]
) -> None:
    sender, receiver = pair
    receiver.setblocking(True)
    receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("@ll", 0, 200_000))
    batches = MmsgReceiver(recvmmsg, 8, timestamps=True)
    started = time.monotonic()
    assert batches.receive(receiver.fileno(), 8, MSG_WAITFORONE) == (0, None)
    waited = time.monotonic() - started
    assert 0.15 < waited < 1.0
    # A record already queued ends the wait at once (not at a timeout far beyond any stall of
    # the machine), and the read takes only what is there.
    receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("@ll", 10, 0))
    sender.send(pack_frame(0x1, b""))
    started = time.monotonic()
    assert batches.receive(receiver.fileno(), 8, MSG_WAITFORONE) == (1, None)
    assert time.monotonic() - started < 5.0


def test_control_lengths_the_kernel_wrote_back_are_restored_before_the_next_read(
    recvmmsg: RecvMMsg, pair: tuple[socket.socket, socket.socket]
) -> None:
    sender, receiver = pair
    receiver.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 0)
    batches = MmsgReceiver(recvmmsg, 4, timestamps=True)
    sender.send(pack_frame(0x1, b""))
    sender.send(pack_frame(0x2, b""))
    count, _ = batches.receive(receiver.fileno(), 4, socket.MSG_DONTWAIT)
    stamps, _ = batches.stamps(count, lambda: -1.0)
    assert stamps.tolist() == [-1.0, -1.0]  # unstamped: the kernel wrote back 0 bytes used
    receiver.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    before = time.time()
    sender.send(pack_frame(0x3, b""))
    sender.send(pack_frame(0x4, b""))
    count, _ = batches.receive(receiver.fileno(), 4, socket.MSG_DONTWAIT)
    stamps, _ = batches.stamps(count, never)
    assert count == 2
    assert (stamps >= before).all()


def test_a_failing_call_returns_its_error_and_what_came_before(recvmmsg: RecvMMsg) -> None:
    batches = MmsgReceiver(recvmmsg, 4, timestamps=True)
    with open(os.devnull, "rb") as not_a_socket:
        count, failure = batches.receive(not_a_socket.fileno(), 4, socket.MSG_DONTWAIT)
    assert count == 0
    assert failure is not None
    assert failure.errno == errno.ENOTSOCK
    with pytest.raises(ValueError, match="capacity"):
        MmsgReceiver(recvmmsg, 0, timestamps=True)


# -- control buffers ---------------------------------------------------------------------------


def cmsg(kind: int, data: bytes) -> bytes:
    """One ``SOL_SOCKET`` control message as the kernel lays it out, padded to its space."""
    header = struct.pack("@Nii", socket.CMSG_LEN(len(data)), socket.SOL_SOCKET, kind)
    header = header.ljust(socket.CMSG_LEN(0), b"\0")
    return (header + data).ljust(socket.CMSG_SPACE(len(data)), b"\0")


def rows_of(controls: list[bytes]) -> tuple[np.ndarray, list[int]]:
    rows = np.zeros((len(controls), CONTROL_BYTES), dtype=np.uint8)
    for row, control in zip(rows, controls, strict=True):
        row[: len(control)] = np.frombuffer(control, dtype=np.uint8)
    return rows, [len(control) for control in controls]


def stamp(sec: int, nsec: int) -> bytes:
    return cmsg(SO_TIMESTAMPNS, TIMESPEC.pack(sec, nsec))


def drops(count: int) -> bytes:
    return cmsg(SO_RXQ_OVFL, struct.pack("@I", count))


def test_stamps_and_the_newest_drop_count_come_out_of_kernel_layouts() -> None:
    rows, used = rows_of(
        [
            stamp(1_700_000_000, 500_000_000),
            stamp(1_700_000_001, 0) + drops(3),
            stamp(1_700_000_002, 250_000_000) + drops(7),
        ]
    )
    seconds, dropped = control_stamps(rows, used, never)
    assert seconds.tolist() == [1_700_000_000.5, 1_700_000_001.0, 1_700_000_002.25]
    assert dropped == 7


def test_missing_stamps_take_the_fallback_time_asked_for_once() -> None:
    asked: list[float] = []

    def now() -> float:
        asked.append(99.0)
        return 99.0

    rows, used = rows_of([stamp(5, 0), b"", stamp(0, 0), drops(2), stamp(6, 0)])
    seconds, dropped = control_stamps(rows, used, now)
    assert seconds.tolist() == [5.0, 99.0, 99.0, 99.0, 6.0]
    assert (dropped, asked) == (2, [99.0])
    assert control_stamps(np.zeros((0, CONTROL_BYTES), np.uint8), [], never)[1] is None


@given(
    st.lists(
        st.tuples(
            st.binary(min_size=CONTROL_BYTES, max_size=CONTROL_BYTES),
            st.one_of(st.integers(0, 2 * CONTROL_BYTES), st.sampled_from([32, 56])),
        ),
        max_size=6,
    )
)
def test_any_control_bytes_parse_as_the_reference_walk_does(
    rows_used: list[tuple[bytes, int]],
) -> None:
    rows = np.frombuffer(b"".join(row for row, _ in rows_used), dtype=np.uint8).reshape(
        len(rows_used), CONTROL_BYTES
    )
    used = [length for _, length in rows_used]
    fast, fast_drops = control_stamps(rows, used, lambda: -1.0)
    walked, walked_drops = control_stamps_walk(rows, used, lambda: -1.0)
    assert fast_drops == walked_drops
    np.testing.assert_array_equal(fast, walked)


@given(
    st.lists(
        st.tuples(
            st.integers(-(2**40), 2**40),
            st.integers(0, 999_999_999),
            st.one_of(st.none(), st.integers(0, 2**32 - 1)),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_well_formed_buffers_take_the_vector_path_with_the_walk_s_result(
    messages: list[tuple[int, int, int | None]],
) -> None:
    rows, used = rows_of(
        [
            stamp(sec, nsec) + (b"" if count is None else drops(count))
            for sec, nsec, count in messages
        ]
    )
    seconds, dropped = control_stamps(rows, used, lambda: -1.0)
    expected = [sec + nsec * 1e-9 if sec else -1.0 for sec, nsec, _ in messages]
    assert seconds.tolist() == expected
    counts = [count for _, _, count in messages if count is not None]
    assert dropped == (counts[-1] if counts else None)
