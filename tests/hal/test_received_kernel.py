"""The CAN reader's compiled kernel (``hal/can/_received.c``) against the numpy passes it
replaces (``control_stamps``, the sizes, ``parse_slots``): the same batch, counts and drop
count, bit for bit, for bursts as the kernel delivers them and for any bytes at all; bad
parameters raise ``ValueError`` (never a read or write out of bounds)."""

from __future__ import annotations

import socket
import struct
import time
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hal.can.frames import CAN_EFF_FLAG, CAN_ERR_FLAG, CAN_RTR_FLAG, FRAME_DTYPE
from hal.can.received_kernel import KERNEL_FRAME_LAYOUT, KERNEL_FRAME_SIZE, compiled_parse
from hal.can.socketcan_mmsg import (
    CONTROL_BYTES,
    HEADER_VIEW,
    SO_TIMESTAMPNS,
    MmsgReceiver,
    control_buffer,
    load_recvmmsg,
    parse_received,
)
from hal.can.socketcan_structs import CAN_MTU, CANFD_MTU, pack_frame, parse_slots

LONG = struct.calcsize("@l")
SO_SNDBUFFORCE = 32


def _kernel() -> Any:
    assert compiled_parse is not None, (
        "the CAN reader's kernel is not built: install gcc and python3-dev, then "
        "scripts/bootstrap.sh test (pip install -e . builds hal/can/_received.c)"
    )
    return compiled_parse


class Clock:
    """A ``missing`` callback that counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> float:
        self.calls += 1
        return 1234.5


def _both(
    slots: bytes, headers: np.ndarray[Any, Any], rows: np.ndarray[Any, Any]
) -> tuple[tuple[Any, ...], tuple[Any, ...], int, int]:
    """``parse_received`` with the kernel and with numpy: results and ``missing`` calls."""
    kernel_clock, numpy_clock = Clock(), Clock()
    compiled = parse_received(slots, headers, rows, kernel_clock, kernel=_kernel())
    numpy = parse_received(slots, headers, rows, numpy_clock, kernel=None)
    return compiled, numpy, kernel_clock.calls, numpy_clock.calls


def _assert_same(compiled: tuple[Any, ...], numpy: tuple[Any, ...]) -> None:
    (batch, stats, drops), (want, want_stats, want_drops) = compiled, numpy
    assert batch.dtype == want.dtype == FRAME_DTYPE
    assert batch.tobytes() == want.tobytes()  # timestamps bit for bit, every byte of data
    assert (stats, drops) == (want_stats, want_drops)


def _burst(
    records: list[tuple[bytes, int, bytes]],
) -> tuple[bytes, np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Slots, headers and control rows of ``(record, size delivered, control buffer)``."""
    slots = bytearray(len(records) * CANFD_MTU)
    headers = np.zeros(len(records), dtype=HEADER_VIEW)
    rows = np.zeros((len(records), CONTROL_BYTES), dtype=np.uint8)
    for i, (record, size, control) in enumerate(records):
        slots[i * CANFD_MTU : i * CANFD_MTU + len(record)] = record
        rows[i, : len(control)] = np.frombuffer(control, dtype=np.uint8)
        headers[i] = (len(control), size)
    return bytes(slots), headers, rows


def test_the_kernel_writes_the_batch_s_layout() -> None:
    _kernel()
    fields: Any = FRAME_DTYPE.fields or {}
    assert {name: fields[name][1] for name in fields} == KERNEL_FRAME_LAYOUT
    assert FRAME_DTYPE.itemsize == KERNEL_FRAME_SIZE


_SECONDS = st.integers(-(2 ** (8 * LONG - 1)), 2 ** (8 * LONG - 1) - 1)


@st.composite
def _records(draw: st.DrawFn, usual: bool) -> tuple[bytes, int, bytes]:
    """A record as the kernel delivers one: mostly classic data frames with 11-bit ids;
    unless ``usual``, also extended, error, remote, FD and truncated ones."""
    can_id = draw(st.integers(0, 0x7FF))
    kind = draw(st.sampled_from(["data"] if usual else ["data", "ext", "err", "rtr", "fd", "cut"]))
    length = draw(st.integers(0, 8))
    data = draw(st.binary(min_size=length, max_size=length))
    flag = {"ext": CAN_EFF_FLAG, "err": CAN_ERR_FLAG, "rtr": CAN_RTR_FLAG}.get(kind, 0)
    record = pack_frame(can_id | flag, data, fd=kind == "fd")
    # Stale bytes past the payload, as a reused slot keeps them.
    record = record[: 8 + length] + draw(st.binary(min_size=8 - length, max_size=8 - length))
    size = {"fd": CANFD_MTU, "cut": draw(st.integers(0, CANFD_MTU - 1))}.get(kind, CAN_MTU)
    if kind == "fd":
        record = pack_frame(can_id, bytes(draw(st.sampled_from([0, 12, 64]))), fd=True)
    sec = draw(st.one_of(st.just(0), _SECONDS))
    nsec = draw(st.one_of(st.integers(0, 999_999_999), _SECONDS))
    drops = draw(st.one_of(st.none(), st.integers(0, 2**32 - 1)))
    return record, size, control_buffer(sec, nsec, drops)


@settings(max_examples=300)
@given(records=st.lists(_records(usual=True), min_size=1, max_size=40))
def test_usual_bursts_parse_as_numpy_parses_them_in_the_kernel(
    records: list[tuple[bytes, int, bytes]],
) -> None:
    slots, headers, rows = _burst(records)
    out = np.empty(len(records), dtype=FRAME_DTYPE)
    assert _call(slots, headers, rows, out, len(records)) is not None  # the kernel took it
    compiled, numpy, kernel_calls, numpy_calls = _both(slots, headers, rows)
    _assert_same(compiled, numpy)
    assert kernel_calls == numpy_calls <= 1  # the fallback time asked for once at most


@settings(max_examples=300)
@given(records=st.lists(_records(usual=False), min_size=1, max_size=40))
def test_any_burst_of_records_parses_as_numpy_parses_it(
    records: list[tuple[bytes, int, bytes]],
) -> None:
    compiled, numpy, kernel_calls, numpy_calls = _both(*_burst(records))
    _assert_same(compiled, numpy)
    assert kernel_calls == numpy_calls <= 1


@settings(max_examples=300)
@given(count=st.integers(1, 12), data=st.data())
def test_any_bytes_at_all_parse_as_numpy_parses_them(count: int, data: st.DataObject) -> None:
    slots = data.draw(st.binary(min_size=count * CANFD_MTU, max_size=count * CANFD_MTU))
    headers = np.frombuffer(
        data.draw(
            st.binary(min_size=count * HEADER_VIEW.itemsize, max_size=count * HEADER_VIEW.itemsize)
        ),
        dtype=HEADER_VIEW,
    ).copy()
    # Lengths the kernel could have written (the numpy path reads no further than a row).
    headers["controllen"] %= CONTROL_BYTES + 1
    headers["msg_len"] = data.draw(
        st.lists(st.sampled_from([CAN_MTU, CAN_MTU, CANFD_MTU, 3]), min_size=count, max_size=count)
    )
    rows = np.frombuffer(
        data.draw(st.binary(min_size=count * CONTROL_BYTES, max_size=count * CONTROL_BYTES)),
        dtype=np.uint8,
    ).reshape(count, CONTROL_BYTES)
    compiled, numpy, kernel_calls, numpy_calls = _both(slots, headers, rows)
    _assert_same(compiled, numpy)
    assert kernel_calls == numpy_calls <= 1


def test_unstamped_records_get_the_fallback_time_and_the_newest_drop_count_comes_out() -> None:
    records = [
        (pack_frame(0x10, b"\x01"), CAN_MTU, control_buffer(100, 5)),
        (pack_frame(0x11, b""), CAN_MTU, control_buffer(0, 0, drops=3)),
        (pack_frame(0x12, bytes(8)), CAN_MTU, control_buffer(0, 7)),
        (pack_frame(0x13, b"\xff" * 8), CAN_MTU, control_buffer(101, 0, drops=9)),
    ]
    clock = Clock()
    batch, stats, drops = parse_received(*_burst(records), clock, kernel=_kernel())
    assert batch["timestamp"].tolist() == [100 + 5e-9, 1234.5, 1234.5, 101.0]
    assert clock.calls == 1
    assert (stats.data_frames, drops) == (4, 9)
    assert batch["arbitration_id"].tolist() == [0x10, 0x11, 0x12, 0x13]
    assert batch["dlc"].tolist() == [1, 0, 8, 8]
    assert bytes(batch[0]["data"]) == b"\x01" + bytes(63)


def test_records_the_kernel_leaves_to_numpy_make_it_say_so() -> None:
    usual = (pack_frame(0x10, b"\x01"), CAN_MTU, control_buffer(100, 5))
    for odd in (
        (pack_frame(CAN_EFF_FLAG | 0x1234, b""), CAN_MTU, control_buffer(100, 5)),
        (pack_frame(0x10, bytes(12), fd=True), CANFD_MTU, control_buffer(100, 5)),
        (pack_frame(0x10, b""), 15, control_buffer(100, 5)),
        (pack_frame(0x10, b""), CAN_MTU, control_buffer(100, 5)[:-1]),  # a short control
        (pack_frame(0x10, b""), CAN_MTU, b""),  # no stamp at all
    ):
        slots, headers, rows = _burst([usual, odd])
        out = np.empty(2, dtype=FRAME_DTYPE)
        assert _call(slots, headers, rows, out) is None


def test_buffers_in_other_layouts_go_to_numpy_with_the_same_result() -> None:
    usual = [
        (pack_frame(0x10 + i, bytes([i])), CAN_MTU, control_buffer(100 + i, 5)) for i in range(6)
    ]
    slots, headers, rows = _burst(usual)
    want = parse_received(slots, headers, rows, Clock(), kernel=None)
    every_other = parse_received(
        slots[: 3 * CANFD_MTU], headers[::2], rows[::2], Clock(), kernel=_kernel()
    )
    copies = parse_received(
        slots[: 3 * CANFD_MTU], headers[::2].copy(), rows[::2].copy(), Clock(), kernel=None
    )
    _assert_same(every_other, copies)
    assert every_other[0]["timestamp"].tolist() == [100 + 5e-9, 102 + 5e-9, 104 + 5e-9]
    packed = np.zeros(6, dtype=[("controllen", "=u8"), ("msg_len", "=u4")])
    packed["controllen"], packed["msg_len"] = headers["controllen"], headers["msg_len"]
    _assert_same(parse_received(slots, packed, rows, Clock(), kernel=_kernel()), want)


def _call(
    slots: Any, headers: Any, rows: Any, out: Any, count: int = 2, **change: int
) -> tuple[int, int | None] | None:
    fields: Any = HEADER_VIEW.fields
    arguments = {
        "header_size": HEADER_VIEW.itemsize,
        "msg_len_at": fields["msg_len"][1],
        "controllen_at": fields["controllen"][1],
        "control_size": CONTROL_BYTES,
    } | change
    found: tuple[int, int | None] | None = _kernel().parse_received(
        slots,
        count,
        headers,
        arguments["header_size"],
        arguments["msg_len_at"],
        arguments["controllen_at"],
        rows,
        arguments["control_size"],
        out,
    )
    return found


@pytest.mark.parametrize(
    ("count", "change", "message"),
    [
        (3, {}, "too small for 3 records"),
        (-1, {}, "bad count"),
        (2, {"header_size": 0}, "bad count"),
        (2, {"msg_len_at": -1}, "bad count"),
        (2, {"msg_len_at": HEADER_VIEW.itemsize - 3}, "bad count"),
        (2, {"controllen_at": HEADER_VIEW.itemsize - 1}, "bad count"),
        (2, {"control_size": CONTROL_BYTES + 8}, "bad count"),
        (2, {"header_size": HEADER_VIEW.itemsize * 2}, "too small for 2 records"),
    ],
)
def test_bad_parameters_raise_value_error(count: int, change: dict[str, int], message: str) -> None:
    usual = (pack_frame(0x10, b"\x01"), CAN_MTU, control_buffer(100, 5))
    slots, headers, rows = _burst([usual, usual])
    with pytest.raises(ValueError, match=message):
        _call(slots, headers, rows, np.empty(2, dtype=FRAME_DTYPE), count, **change)
    with pytest.raises(ValueError, match="too small"):  # an output too short
        _call(slots, headers, rows, np.empty(1, dtype=FRAME_DTYPE))
    with pytest.raises(TypeError):  # an output that cannot be written
        _call(slots, headers, rows, bytes(2 * KERNEL_FRAME_SIZE))


def test_a_receiver_s_real_buffers_parse_as_numpy_parses_them() -> None:
    recvmmsg = load_recvmmsg()
    assert recvmmsg is not None, "this C library has no recvmmsg (glibc >= 2.12 or musl has)"
    sender, receiver = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    with sender, receiver:
        receiver.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sender.setsockopt(socket.SOL_SOCKET, SO_SNDBUFFORCE, 16 * 1024 * 1024)  # root, as CI is
        sender.settimeout(10)  # a full queue fails the test, never hangs it
        sent = [pack_frame(i & 0x7FF, bytes([i & 0xFF]) * (i % 9)) for i in range(300)]
        before = time.time()
        for record in sent:
            sender.send(record)
        batches = MmsgReceiver(recvmmsg, 512, timestamps=True)
        count, failure = batches.receive(receiver.fileno(), 512, socket.MSG_DONTWAIT)
    assert (count, failure) == (300, None)
    clock = Clock()
    batch, stats, drops = batches.parse(count, clock)
    assert (stats.data_frames, drops, clock.calls) == (300, None, 0)
    assert (batch["timestamp"] >= before).all()
    assert batch["dlc"].tolist() == [i % 9 for i in range(300)]
    # The numpy passes on the same buffers, as the reader made them before the kernel.
    stamps, _ = batches.stamps(count, clock)
    want, want_stats = parse_slots(batches.slots, batches.sizes(count), stamps)
    _assert_same((batch, stats, drops), (want, want_stats, None))
