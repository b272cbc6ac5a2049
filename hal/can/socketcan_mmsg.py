"""Many SocketCAN records per syscall: ``recvmmsg(2)`` through ctypes, into frame slots.

The fast reader (``hal.can.socketcan_raw``) otherwise makes one ``recvmsg`` per frame, plus a
``poll`` and a last read that finds nothing; where syscalls are dear (user-mode-linux, small
ARM cores) those dominate. ``MmsgReceiver.receive`` waits for the first record and takes every
record queued behind it in one call (``MSG_WAITFORONE``, the wait bounded by the socket's
``SO_RCVTIMEO``), into the same 72-byte slots ``socketcan_structs.parse_slots`` reads, with
one control buffer per record for its ``SO_TIMESTAMPNS`` stamp and ``SO_RXQ_OVFL`` count.

``parse_received`` turns what a read left (slots, the headers' lengths, the control buffers)
into a frame batch: the usual burst in one pass of the compiled kernel (``received_kernel``),
anything else, or every burst where the kernel was not built, with ``control_stamps`` (a few
numpy operations for the layouts the kernel writes, the control messages walked one by one
for anything else: ``control_stamps_walk``, also the reference the tests compare against)
and ``parse_slots``.

The C structs are declared with ctypes, so their sizes and padding are the platform's own
(32-bit ARM included); ``recvmmsg`` comes from the C library already loaded (glibc since 2.12,
musl). ``load_recvmmsg()`` is ``None`` where it is missing: the reader then reads per frame.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import struct
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from hal.can.frames import FRAME_DTYPE, FrameBatch
from hal.can.received_kernel import ReceivedKernel, compiled_parse
from hal.can.socketcan_structs import CANFD_MTU, TIMESPEC, ParseStats, parse_slots
from hal.errors import TransmitError

# <asm-generic/socket.h> values, as in socketcan_raw (x86, x86-64, ARM).
SO_TIMESTAMPNS = 35
SO_RXQ_OVFL = 40
MSG_WAITFORONE = 0x10000  # <linux/socket.h>; not exported by Python's socket module
UIO_MAXIOV = 1024
"""The kernel handles at most this many messages per ``recvmmsg`` (it caps ``vlen``)."""

CONTROL_BYTES = socket.CMSG_SPACE(TIMESPEC.size) + socket.CMSG_SPACE(4)
"""Control room per record: a timestamp and a drop count."""
_HEADER = socket.CMSG_LEN(0)  # struct cmsghdr, aligned: where a control message's data starts
_STAMP_SPACE = socket.CMSG_SPACE(TIMESPEC.size)
_BOTH_SPACE = _STAMP_SPACE + socket.CMSG_SPACE(4)
_SIZE_T = ctypes.sizeof(ctypes.c_size_t)
_LONG = TIMESPEC.size // 2
_SIZE_FIELD = struct.Struct("@N")
_KIND_FIELDS = struct.Struct("@ii")
_COUNT_FIELD = struct.Struct("@I")
_NOTHING_CAME = frozenset((errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR))


class _IoVec(ctypes.Structure):
    _fields_ = (("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t))


class _MsgHdr(ctypes.Structure):
    _fields_ = (
        ("msg_name", ctypes.c_void_p),
        ("msg_namelen", ctypes.c_uint32),  # socklen_t
        ("msg_iov", ctypes.c_void_p),
        ("msg_iovlen", ctypes.c_size_t),
        ("msg_control", ctypes.c_void_p),
        ("msg_controllen", ctypes.c_size_t),
        ("msg_flags", ctypes.c_int),
    )


class _MMsgHdr(ctypes.Structure):
    _fields_ = (("msg_hdr", _MsgHdr), ("msg_len", ctypes.c_uint))


_MMSG_SIZE = ctypes.sizeof(_MMsgHdr)
HEADER_VIEW = np.dtype(
    {
        "names": ["controllen", "msg_len"],
        "formats": [f"=u{_SIZE_T}", "=u4"],
        "offsets": [_MsgHdr.msg_controllen.offset, _MMsgHdr.msg_len.offset],
        "itemsize": ctypes.sizeof(_MMsgHdr),
    }
)
"""The two fields of a ``struct mmsghdr`` the kernel writes back per message, through numpy."""
# A control buffer holding a timestamp, then maybe a drop count (what the kernel writes).
_CONTROL_VIEW = np.dtype(
    {
        "names": ["len1", "kind1", "sec", "nsec", "len2", "kind2", "drops"],
        "formats": [
            f"=u{_SIZE_T}",
            "=u8",
            f"=i{_LONG}",
            f"=i{_LONG}",
            f"=u{_SIZE_T}",
            "=u8",
            "=u4",
        ],
        "offsets": [
            0,
            _SIZE_T,
            _HEADER,
            _HEADER + _LONG,
            _STAMP_SPACE,
            _STAMP_SPACE + _SIZE_T,
            _STAMP_SPACE + _HEADER,
        ],
        "itemsize": CONTROL_BYTES,
    }
)


def _kind(level: int, kind: int) -> int:
    """``cmsg_level`` and ``cmsg_type`` as the one 64-bit word they are in memory."""
    return int(np.frombuffer(_KIND_FIELDS.pack(level, kind), dtype="=u8")[0])


_STAMP_KIND = _kind(socket.SOL_SOCKET, SO_TIMESTAMPNS)
_DROPS_KIND = _kind(socket.SOL_SOCKET, SO_RXQ_OVFL)

RecvMMsg = Callable[[int, int, int, int, Any], int]


def load_recvmmsg() -> RecvMMsg | None:
    """The C library's ``recvmmsg``, or ``None`` where it has none (or is not Linux)."""
    found: RecvMMsg | None = _libc_function(
        "recvmmsg", ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_void_p
    )
    return found


def _libc_function(name: str, *argtypes: Any) -> Any:
    """``name`` from the C library already loaded, returning an int and setting errno; None
    where there is no such function (or no C library to ask)."""
    try:
        function = getattr(ctypes.CDLL(None, use_errno=True), name)
    except (OSError, AttributeError):
        return None
    function.argtypes = argtypes
    function.restype = ctypes.c_int
    return function


class MmsgReceiver:
    """Buffers for up to ``capacity`` records and their headers, filled by ``recvmmsg``.

    ``slots`` holds the records, ``CANFD_MTU`` bytes apart, as ``parse_slots`` reads them.
    With ``timestamps`` each record gets a control buffer; without, none (no stamp asked).
    Raises ``ValueError`` for a capacity below 1.
    """

    def __init__(self, recvmmsg: RecvMMsg, capacity: int, *, timestamps: bool) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self._recvmmsg = recvmmsg
        self.capacity = capacity
        self.timestamps = timestamps
        self._slots = (ctypes.c_char * (capacity * CANFD_MTU))()
        self.slots = memoryview(self._slots).cast("B")
        self._iovecs = (_IoVec * capacity)()
        self._headers = (_MMsgHdr * capacity)()
        control_room = CONTROL_BYTES if timestamps else 0
        self._control = (ctypes.c_char * max(1, capacity * control_room))()
        slots_at, control_at = ctypes.addressof(self._slots), ctypes.addressof(self._control)
        for i in range(capacity):
            self._iovecs[i].iov_base = slots_at + i * CANFD_MTU
            self._iovecs[i].iov_len = CANFD_MTU
            header = self._headers[i].msg_hdr
            header.msg_iov = ctypes.addressof(self._iovecs[i])
            header.msg_iovlen = 1
            if timestamps:
                header.msg_control = control_at + i * CONTROL_BYTES
                header.msg_controllen = CONTROL_BYTES
        self._headers_at = ctypes.addressof(self._headers)
        self._fields = np.frombuffer(memoryview(self._headers).cast("B"), dtype=HEADER_VIEW)
        self._control_rows = np.frombuffer(
            memoryview(self._control).cast("B"), dtype=np.uint8, count=capacity * control_room
        )
        self._used = 0  # headers whose control length the kernel overwrote

    def receive(self, fd: int, limit: int, flags: int) -> tuple[int, OSError | None]:
        """Read up to ``limit`` records (capped at ``capacity``) into the slots from the first.

        ``flags`` rule the first call (``MSG_WAITFORONE`` to wait for a record up to the
        socket's ``SO_RCVTIMEO``, ``MSG_DONTWAIT`` not to wait); the kernel takes at most
        ``UIO_MAXIOV`` records a call, so while calls come back full another follows without
        waiting. Returns how many records came and the error that ended the reading (``None``
        when it ended because nothing more was queued, the wait timed out or a signal came).
        """
        if self._used and self.timestamps:  # the kernel wrote back what it used of each
            self._fields["controllen"][: self._used] = CONTROL_BYTES
        limit = min(limit, self.capacity)
        count = 0
        failure: OSError | None = None
        while count < limit:
            asked = min(limit - count, UIO_MAXIOV)
            got = self._recvmmsg(fd, self._headers_at + count * _MMSG_SIZE, asked, flags, None)
            if got < 0:
                code = ctypes.get_errno()
                if code not in _NOTHING_CAME:
                    failure = OSError(code, os.strerror(code))
                break
            count += got
            if got < asked:  # the queue ran dry (or an error waits for the next call)
                break
            flags = socket.MSG_DONTWAIT
        self._used = count
        return count, failure

    def sizes(self, count: int) -> list[int]:
        """Bytes delivered into each of the first ``count`` slots."""
        sizes: list[int] = self._fields["msg_len"][:count].tolist()
        return sizes

    def parse(
        self, count: int, missing: Callable[[], float]
    ) -> tuple[FrameBatch, ParseStats, int | None]:
        """The first ``count`` records as a frame batch, what the parse found and the newest
        drop count; see ``parse_received``. Needs ``timestamps``."""
        rows = self._control_rows[: count * CONTROL_BYTES].reshape(count, CONTROL_BYTES)
        return parse_received(self.slots, self._fields[:count], rows, missing)

    def stamps(
        self, count: int, missing: Callable[[], float]
    ) -> tuple[npt.NDArray[np.float64], int | None]:
        """Receive times of the first ``count`` records and the newest drop count (or
        ``None``); see ``control_stamps``. Needs ``timestamps``."""
        rows = self._control_rows[: count * CONTROL_BYTES].reshape(count, CONTROL_BYTES)
        return control_stamps(rows, self._fields["controllen"][:count], missing)


def control_stamps(
    rows: npt.NDArray[np.uint8], used: npt.ArrayLike, missing: Callable[[], float]
) -> tuple[npt.NDArray[np.float64], int | None]:
    """Unix seconds from each record's control buffer and the newest ``SO_RXQ_OVFL`` count.

    ``rows``: one ``CONTROL_BYTES`` row per record; ``used[i]``: the bytes of row ``i`` the
    kernel filled (``msg_controllen`` after the call). A record without a stamp (or with a zero
    one) gets ``missing()``, called at most once. The drop count is ``None`` when no record
    carried one. Any bytes at all are accepted: what is not a well-formed control message is
    ignored.
    """
    count = len(rows)
    lengths = np.asarray(used, dtype=np.uint64)
    if count == 0:
        return np.zeros(0), None
    view = rows.reshape(count * CONTROL_BYTES).view(_CONTROL_VIEW)
    stamp_first = (view["len1"] == socket.CMSG_LEN(TIMESPEC.size)) & (view["kind1"] == _STAMP_KIND)
    stamp_only = lengths == _STAMP_SPACE
    with_drops = (
        (lengths == _BOTH_SPACE)
        & (view["len2"] == socket.CMSG_LEN(4))
        & (view["kind2"] == _DROPS_KIND)
    )
    if not (stamp_first & (stamp_only | with_drops)).all():
        return control_stamps_walk(rows, lengths.tolist(), missing)
    seconds: npt.NDArray[np.float64] = view["sec"] + view["nsec"] * 1e-9
    if not view["sec"].all():
        seconds[view["sec"] == 0] = missing()
    drops = int(view["drops"][with_drops][-1]) if with_drops.any() else None
    return seconds, drops


def parse_received(
    slots: Any,
    headers: npt.NDArray[Any],
    rows: npt.NDArray[np.uint8],
    missing: Callable[[], float],
    kernel: ReceivedKernel | None = compiled_parse,
) -> tuple[FrameBatch, ParseStats, int | None]:
    """Records ``recvmmsg`` read as a frame batch: ``slots`` as ``parse_slots`` reads them,
    ``headers`` (``HEADER_VIEW``, one per record) what the kernel wrote back, ``rows`` each
    record's control buffer (``CONTROL_BYTES``). Returns the batch, what the parse found and
    the newest drop count (``None``: none came); ``missing()`` stamps records without a
    stamp, called at most once.

    The usual burst (classic data frames with 11-bit ids, each stamped) goes through the
    compiled ``kernel`` in one pass where there is one; anything else, or no kernel, through
    ``control_stamps`` and ``parse_slots``, with the same result.
    """
    count = len(headers)
    # The kernel reads the buffers as they lie: contiguous, in these layouts.
    if (
        kernel is not None
        and count
        and headers.dtype == HEADER_VIEW
        and rows.shape == (count, CONTROL_BYTES)
        and headers.flags.c_contiguous
        and rows.flags.c_contiguous
    ):
        batch = np.empty(count, dtype=FRAME_DTYPE)
        found = kernel.parse_received(
            slots,
            count,
            headers,
            HEADER_VIEW.itemsize,
            _MMsgHdr.msg_len.offset,
            _MsgHdr.msg_controllen.offset,
            rows,
            CONTROL_BYTES,
            batch,
        )
        if found is not None:
            unstamped, drops = found
            if unstamped:
                times = batch["timestamp"]
                times[np.isnan(times)] = missing()
            return batch, ParseStats(data_frames=count), drops
    stamps, drops = control_stamps(rows, headers["controllen"], missing)
    sizes: list[int] = headers["msg_len"].tolist()
    batch, stats = parse_slots(slots, sizes, stamps)
    return batch, stats, drops


def control_buffer(sec: int, nsec: int, drops: int | None = None) -> bytes:
    """A record's control buffer as the kernel fills it: its ``SO_TIMESTAMPNS`` stamp, then
    its ``SO_RXQ_OVFL`` count when ``drops`` is given; its length is the ``msg_controllen``
    the kernel writes back. For whoever fills a receiver's buffers without a socket (the
    decode benchmark)."""
    stamp = _control_message(SO_TIMESTAMPNS, TIMESPEC.pack(sec, nsec))
    if drops is None:
        return stamp
    return stamp + _control_message(SO_RXQ_OVFL, _COUNT_FIELD.pack(drops))


def _control_message(kind: int, data: bytes) -> bytes:
    header = _SIZE_FIELD.pack(socket.CMSG_LEN(len(data))) + _KIND_FIELDS.pack(
        socket.SOL_SOCKET, kind
    )
    return (header + data).ljust(socket.CMSG_SPACE(len(data)), b"\0")


def control_stamps_walk(
    rows: npt.NDArray[np.uint8], used: list[int], missing: Callable[[], float]
) -> tuple[npt.NDArray[np.float64], int | None]:
    """``control_stamps`` by walking each row's control messages (any layout, any bytes)."""
    seconds = np.zeros(len(rows))
    drops: int | None = None
    late: float | None = None
    for i, row in enumerate(rows):
        stamp, row_drops = _walk(bytes(row[: min(int(used[i]), CONTROL_BYTES)]))
        if row_drops is not None:
            drops = row_drops
        if stamp is None:
            late = missing() if late is None else late
            stamp = late
        seconds[i] = stamp
    return seconds, drops


def _walk(control: bytes) -> tuple[float | None, int | None]:
    """The stamp and drop count among ``control``'s messages (``CMSG_FIRSTHDR``/``NXTHDR``)."""
    stamp: float | None = None
    drops: int | None = None
    offset = 0
    while offset + _HEADER <= len(control):
        (length,) = _SIZE_FIELD.unpack_from(control, offset)
        if length < _HEADER:
            break
        level, kind = _KIND_FIELDS.unpack_from(control, offset + _SIZE_T)
        data = control[offset + _HEADER : offset + min(length, len(control) - offset)]
        if level == socket.SOL_SOCKET:
            if kind == SO_TIMESTAMPNS and len(data) == TIMESPEC.size:
                sec, nsec = TIMESPEC.unpack(data)
                stamp = sec + nsec * 1e-9 if sec else None
            elif kind == SO_RXQ_OVFL and len(data) >= _COUNT_FIELD.size:
                (drops,) = _COUNT_FIELD.unpack_from(data)
        offset += (length + _SIZE_T - 1) // _SIZE_T * _SIZE_T
    return stamp, drops


SendMMsg = Callable[[int, int, int, int], int]


def load_sendmmsg() -> SendMMsg | None:
    """The C library's ``sendmmsg``, or ``None`` where it has none (or is not Linux)."""
    found: SendMMsg | None = _libc_function(
        "sendmmsg", ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int
    )
    return found


class MmsgSender:
    """Sends ranges of prepared records, many per ``sendmmsg`` call.

    ``records`` holds ``count`` records of ``record_size`` bytes each (``can_frame`` or
    ``canfd_frame`` as ``socketcan_structs.pack_frame`` writes them); a header per record is
    built once, so a range costs one call and no per-record work. Raises ``ValueError`` when
    ``records`` is not ``count`` whole records.
    """

    def __init__(self, sendmmsg: SendMMsg, records: bytes, record_size: int) -> None:
        if record_size < 1 or len(records) % record_size:
            raise ValueError(f"{len(records)} bytes are not whole {record_size}-byte records")
        self._sendmmsg = sendmmsg
        self.count = len(records) // record_size
        self._records = ctypes.create_string_buffer(records, len(records))
        self._iovecs = (_IoVec * max(1, self.count))()
        self._headers = (_MMsgHdr * max(1, self.count))()
        records_at = ctypes.addressof(self._records)
        for i in range(self.count):
            self._iovecs[i].iov_base = records_at + i * record_size
            self._iovecs[i].iov_len = record_size
            self._headers[i].msg_hdr.msg_iov = ctypes.addressof(self._iovecs[i])
            self._headers[i].msg_hdr.msg_iovlen = 1
        self._headers_at = ctypes.addressof(self._headers)

    def send(self, fd: int, start: int, stop: int) -> int:
        """Send records ``start`` to ``stop`` (exclusive) on socket ``fd``, as many calls as
        the kernel's per-call cap asks; return how many went (fewer when the socket's buffer
        is full: ``ENOBUFS``/``EAGAIN``). Raises ``TransmitError`` for any other failure and
        ``ValueError`` for a range outside the records."""
        if not 0 <= start <= stop <= self.count:
            raise ValueError(f"records {start}..{stop} outside 0..{self.count}")
        sent = start
        while sent < stop:
            asked = min(stop - sent, UIO_MAXIOV)
            got = self._sendmmsg(fd, self._headers_at + sent * _MMSG_SIZE, asked, 0)
            if got < 0:
                code = ctypes.get_errno()
                if code in _BUFFER_FULL:
                    break
                raise TransmitError(f"sendmmsg failed: {os.strerror(code)}")
            sent += got
            if got < asked:
                break
        return sent - start


_BUFFER_FULL = frozenset((errno.ENOBUFS, errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR))
