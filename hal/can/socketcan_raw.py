"""The fast SocketCAN adapter: raw ``AF_CAN`` sockets read in batches into frame arrays.

python-can builds one ``Message`` per frame, which on a Raspberry Pi caps a bus at a few
thousand frames/s. Here ``receive()`` reads every queued ``can_frame``/``canfd_frame`` straight
into preallocated slots, many per syscall with ``recvmmsg`` (``hal.can.socketcan_mmsg``: one
call waits for the first frame and takes the queue behind it; no Python object per frame), or
where the C library or kernel lacks it one ``recvmsg_into`` per frame after a ``poll``, and
parses the whole burst with numpy (``hal.can.socketcan_structs``; error frames to bus states in
``hal.can.socketcan_error_frames``, id filters in ``hal.can.socketcan_filters``). The kernel
does the rest: receive timestamps (``SO_TIMESTAMPNS``), id filters (``CAN_RAW_FILTER``), a
large receive buffer (``SO_RCVBUFFORCE``) and a drop counter (``SO_RXQ_OVFL``).

Only the ``socket`` module and ctypes are used: importing this module needs nothing else; a
kernel without SocketCAN fails at ``open()`` with ``PortOpenError`` saying what to load.

Over 500 lines on purpose: it is one port whose receive, link-down/reopen and send paths share
one socket's state; the pure parts (structs, error frames, filters) already live elsewhere.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import select
import socket
import struct
import sys
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from hal.can.adapter_base import CanAdapterBase
from hal.can.frames import (
    CAN_EFF_FLAG,
    CAN_ERR_MASK,
    CAN_RTR_FLAG,
    FLAG_BRS,
    FLAG_EXTENDED,
    FLAG_FD,
    FLAG_REMOTE,
    FrameBatch,
    empty_batch,
)
from hal.can.port import BusState
from hal.can.socketcan_error_frames import summarize_error_frames
from hal.can.socketcan_filters import compute_filters, pack_filters
from hal.can.socketcan_mmsg import (
    MSG_WAITFORONE,
    SO_RXQ_OVFL,
    SO_TIMESTAMPNS,
    MmsgReceiver,
    RecvMMsg,
    load_recvmmsg,
)
from hal.can.socketcan_structs import (
    CANFD_BRS,
    CANFD_FDF,
    ParseStats,
    pack_frame,
    parse_slots,
    timespec_seconds,
)
from hal.errors import HalError, PortOpenError, TransmitError
from hal.port_tracking import OpenPorts

_log = logging.getLogger("hal.can")

# Socket options Python's socket module does not export. Values of <asm-generic/socket.h>,
# which x86, x86-64 and ARM (every Raspberry Pi) use; alpha, mips, parisc and sparc differ.
# SO_TIMESTAMPNS (also the control message type) and SO_RXQ_OVFL: in socketcan_mmsg.
SO_RCVBUFFORCE = 33
SO_MEMINFO = 55
SK_MEMINFO_DROPS = 8
_MEMINFO = struct.Struct("=9I")  # <linux/sock_diag.h> SK_MEMINFO_VARS
CAN_RAW_ERR_FILTER = 2  # <linux/can/raw.h>

_SLOT = 72  # CANFD_MTU: every slot can take an FD frame
_TIMESPEC = struct.Struct("@ll")  # what SCM_TIMESTAMPNS carries (struct timespec, native)
_NO_STAMP = bytes(_TIMESPEC.size)
_ANCILLARY_BYTES = socket.CMSG_SPACE(_TIMESPEC.size) + socket.CMSG_SPACE(4)
_WOULD_BLOCK = (errno.EAGAIN, errno.ENOBUFS)  # ENOBUFS: the device's tx queue is full
_GONE = (errno.ENETDOWN, errno.ENODEV, errno.ENXIO)
_NO_BATCHES = (errno.ENOSYS, errno.EOPNOTSUPP)  # a kernel (or seccomp filter) without recvmmsg
_TIMEVAL = struct.Struct("@ll")  # SO_RCVTIMEO's struct timeval (native longs)
_RECVMMSG = load_recvmmsg()

_open_ports: OpenPorts[SocketCanRawPort] = OpenPorts("CAN port", _log)


def open_ports() -> list[SocketCanRawPort]:
    """The ports of this adapter that are open right now (for leak checks and diagnostics)."""
    return _open_ports.ports()


def leaked_ports() -> int:
    """How many ports were garbage-collected while still open (each was shut down then)."""
    return _open_ports.leaked


@dataclass(frozen=True)
class SocketCanRawOptions:
    """Read-only settings of a fast SocketCAN port.

    ``standard_ids`` / ``extended_ids``: the ids the application needs; when either is set the
    kernel drops every other data frame (``CAN_RAW_FILTER``, at most ``max_filters`` filters,
    merged into mask filters beyond that). ``None`` for both: receive everything.
    ``error_classes``: ``CAN_ERR_*`` classes of error frames to receive (0: none).
    ``receive_buffer_bytes``: the socket's receive buffer (``SO_RCVBUFFORCE`` as root, else
    ``SO_RCVBUF`` capped by ``net.core.rmem_max``); 8 MiB holds about 10,000 frames.
    ``tx_queue_frames``: frames waiting for the kernel beyond which ``send`` fails.
    ``min_send_interval``: arbitration id -> seconds that must pass between two sends.
    ``reopen_interval``: seconds between reopen attempts while the interface is down.
    ``kernel_timestamps``: stamp each frame with the kernel's receive time (``SO_TIMESTAMPNS``,
    one control message per frame); ``False`` stamps a whole burst with the time it was read.
    With ``recvmmsg`` the stamps cost no measurable CPU; read one frame per call they double
    it (both measured in user-mode-linux, where syscalls are dear).
    ``batch_reads``: read many frames per syscall with ``recvmmsg`` where the C library and
    kernel have it; ``False`` reads one frame per ``recvmsg`` (the fallback path, kept
    selectable so that both are tested).
    """

    fd: bool = False
    standard_ids: frozenset[int] | None = None
    extended_ids: frozenset[int] | None = None
    max_filters: int = 64
    error_classes: int = CAN_ERR_MASK
    receive_buffer_bytes: int = 8 * 1024 * 1024
    tx_queue_frames: int = 256
    min_send_interval: Mapping[int, float] = field(default_factory=dict)
    reopen_interval: float = 1.0
    kernel_timestamps: bool = True
    batch_reads: bool = True

    def __post_init__(self) -> None:
        if self.receive_buffer_bytes < 1024:
            raise ValueError(f"receive_buffer_bytes must be >= 1024: {self.receive_buffer_bytes}")
        if self.tx_queue_frames < 1:
            raise ValueError(f"tx_queue_frames must be at least 1, got {self.tx_queue_frames}")
        if self.reopen_interval <= 0:
            raise ValueError(f"reopen_interval must be positive, got {self.reopen_interval}")
        if not 0 <= self.error_classes <= CAN_ERR_MASK:
            raise ValueError(f"error_classes must be 0..{CAN_ERR_MASK:#x}")
        for can_id, interval in self.min_send_interval.items():
            if interval < 0:
                raise ValueError(f"min_send_interval[{can_id:#x}] must not be negative")
        # Raises ValueError for ids out of range, before any socket exists.
        self.kernel_filters()

    def kernel_filters(self) -> bytes | None:
        """The ``CAN_RAW_FILTER`` value, or ``None`` to receive every id."""
        if self.standard_ids is None and self.extended_ids is None:
            return None
        filters = compute_filters(
            self.standard_ids or (), self.extended_ids or (), max_filters=self.max_filters
        )
        return pack_filters(filters)


class _SocketHolder:
    """The port's current socket, closable without the port (for the leak finalizer, which
    must not refer to the port itself); the socket changes when the port reopens."""

    def __init__(self) -> None:
        self.sock: socket.socket | None = None

    def close(self) -> None:
        sock, self.sock = self.sock, None
        if sock is not None:
            sock.close()


class SocketCanRawPort(CanAdapterBase):
    """A ``CanPort`` on a raw SocketCAN socket. Created closed: call ``open()`` or use ``with``.

    Counters: ``rx_frames`` (data and remote frames), ``rx_error_frames``, ``rx_kernel_drops``
    (frames the kernel dropped because the receive buffer was full), ``rx_truncated``,
    ``rx_bad_length``, ``tx_frames`` (handed to the kernel), ``tx_errors``, ``tx_queue_full``,
    ``tx_rate_limited``, ``interface_down``, ``interface_up`` (frames again on the same socket
    after the link was down), ``reopens`` (a new socket after the interface was deleted and
    added again), and bus events from error frames:
    ``bus_error_warning``, ``bus_error_passive``, ``bus_off``, ``bus_restarted``, ``bus_errors``.
    """

    def __init__(self, name: str, channel: str, options: SocketCanRawOptions | None = None) -> None:
        """Raises ``ValueError`` for an empty name or channel."""
        for label, value in (("name", name), ("channel", channel)):
            if not value:
                raise ValueError(f"CAN port {label} must not be empty")
        self._name = name
        self._channel = channel
        self._options = options or SocketCanRawOptions()
        self._fd = self._options.fd
        self._filters = self._options.kernel_filters()
        self._is_open = False  # open() was called and close() was not
        self._sock: socket.socket | None = None  # None while open but the interface is gone
        self._holder = _SocketHolder()
        self._poll = select.poll()
        self._state = BusState.DOWN
        self._next_reopen = 0.0
        self._drops_base = 0  # kernel drop counts of sockets already closed
        self._drops_now = 0
        self._bad_burst = False
        self._tx_queue: deque[bytes] = deque()
        self._last_sent: dict[int, float] = {}
        self._counts = dict.fromkeys(
            (
                "rx_frames",
                "rx_error_frames",
                "rx_truncated",
                "rx_bad_length",
                "tx_frames",
                "tx_errors",
                "tx_queue_full",
                "tx_rate_limited",
                "interface_down",
                "interface_up",
                "reopens",
                "bus_error_warning",
                "bus_error_passive",
                "bus_off",
                "bus_restarted",
                "bus_errors",
            ),
            0,
        )
        self._slots = bytearray()
        self._slot_lists: list[list[memoryview]] = []
        self._sizes: list[int] = []
        self._stamps: list[bytes] = []
        self._recvmmsg: RecvMMsg | None = _RECVMMSG if self._options.batch_reads else None
        self._batches: MmsgReceiver | None = None
        self._wait_set = -1.0  # the SO_RCVTIMEO of the current socket (-1: not set yet)

    def __repr__(self) -> str:
        status = "open" if self._is_open else "closed"
        return f"<SocketCanRawPort {self._name!r} {self._channel} {status}>"

    @property
    def channel(self) -> str:
        return self._channel

    def fileno(self) -> int | None:
        """The socket's descriptor, for an event loop to wait on (``PollableCanPort``);
        ``None`` while there is no socket. A socket is dropped inside ``receive`` (or by
        ``close``) and reopened only in a later ``receive``, so a caller that asks after each
        ``receive`` sees ``None`` between the old socket and the new."""
        return None if self._sock is None else self._sock.fileno()

    @property
    def state(self) -> BusState:
        """``ACTIVE`` after opening, then what error frames report; ``DOWN`` when closed or
        while the interface is gone."""
        return self._state

    @property
    def counters(self) -> Mapping[str, int]:
        """Monotonic counters (see the class docstring); ``rx_kernel_drops`` is current even
        when no frame arrived after the drops (asked from the kernel)."""
        self._refresh_drops()
        return {**self._counts, "rx_kernel_drops": self._drops_base + self._drops_now}

    def _refresh_drops(self) -> None:
        if self._sock is None:
            return
        try:
            info = self._sock.getsockopt(socket.SOL_SOCKET, SO_MEMINFO, _MEMINFO.size)
        except OSError:  # kernels before 4.6 lack it; the SO_RXQ_OVFL messages still count
            return
        if len(info) == _MEMINFO.size:
            self._drops_now = max(self._drops_now, _MEMINFO.unpack(info)[SK_MEMINFO_DROPS])

    @property
    def tx_pending(self) -> int:
        """Frames queued by ``send`` that the kernel has not taken yet."""
        return len(self._tx_queue)

    @property
    def receive_buffer_bytes(self) -> int:
        """The receive buffer the kernel granted (it reports twice the size asked for, the
        rest being bookkeeping room); 0 while no socket is open."""
        if self._sock is None:
            return 0
        return self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)

    # -- opening and closing -------------------------------------------------------------------

    def open(self) -> None:
        """Open and bind the socket; harmless when already open.

        Raises ``PortOpenError`` when the kernel has no SocketCAN, the interface is missing or
        down, or a socket option is refused; the message says what to do.
        """
        if self._is_open:
            return
        self._sock = self._connect()
        self._is_open = True
        self._state = BusState.ACTIVE
        _open_ports.track(self, self._name, self._holder.close)

    def _connect(self) -> socket.socket:
        try:
            sock = socket.socket(socket.AF_CAN, socket.SOCK_RAW, socket.CAN_RAW)
        except (OSError, AttributeError) as err:  # AttributeError: Python built without AF_CAN
            raise PortOpenError(
                f"CAN port {self._name!r}: this kernel has no SocketCAN ({err}): load it "
                "(modprobe can_raw; modprobe vcan) or use a python-can interface such as "
                "'virtual'"
            ) from err
        try:
            self._configure(sock)
            sock.bind((self._channel,))
            # Binding to an interface that is down succeeds and leaves ENETDOWN pending.
            pending = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if pending:
                raise OSError(pending, errno.errorcode.get(pending, str(pending)))
        except OSError as err:
            sock.close()
            raise PortOpenError(
                f"CAN port {self._name!r}: cannot open SocketCAN {self._channel!r}: "
                f"{err.strerror or err}. {self._hint(err)}"
            ) from err
        self._poll.register(sock.fileno(), select.POLLIN)
        self._drops_now = 0
        self._wait_set = -1.0
        self._holder.sock = sock
        return sock

    def _configure(self, sock: socket.socket) -> None:
        options = self._options
        if options.fd:
            sock.setsockopt(socket.SOL_CAN_RAW, socket.CAN_RAW_FD_FRAMES, 1)
        try:  # beyond net.core.rmem_max; needs CAP_NET_ADMIN
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, options.receive_buffer_bytes)
        except PermissionError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, options.receive_buffer_bytes)
        if options.kernel_timestamps:
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            sock.setsockopt(socket.SOL_SOCKET, SO_RXQ_OVFL, 1)
        sock.setsockopt(socket.SOL_CAN_RAW, CAN_RAW_ERR_FILTER, options.error_classes)
        if self._filters is not None:
            sock.setsockopt(socket.SOL_CAN_RAW, socket.CAN_RAW_FILTER, self._filters)
        # recvmmsg waits for its first frame (SO_RCVTIMEO bounds the wait); every other read
        # and every send passes MSG_DONTWAIT, so they never block either way.
        sock.setblocking(self._recvmmsg is not None)

    def _hint(self, err: OSError) -> str:
        if err.errno == errno.ENODEV:
            return (
                f"No network interface {self._channel!r}: for a test bus run 'ip link add dev "
                f"{self._channel} type vcan && ip link set up {self._channel}'; for hardware "
                "check the CAN HAT's device-tree overlay (see hal/profiles) and 'ip link set "
                f"{self._channel} up type can bitrate <N>'."
            )
        if err.errno == errno.ENETDOWN:
            return f"Bring the interface up: 'ip link set {self._channel} up ...'."
        if err.errno == errno.EINVAL and self._options.fd:
            return f"CAN FD needs an FD-capable interface (mtu 72) on {self._channel!r}."
        return "Check the interface with 'roadgate hal probe'."

    def close(self) -> None:
        """Close the socket; harmless when already closed. Never raises.

        Frames still waiting in the transmit queue are dropped and counted as ``tx_errors``.
        """
        if not self._is_open:
            return
        self._is_open = False
        self._state = BusState.DOWN
        self._counts["tx_errors"] += len(self._tx_queue)
        self._tx_queue.clear()
        self._drop_socket()
        _open_ports.untrack(self)

    def _drop_socket(self) -> None:
        sock, self._sock = self._sock, None
        if sock is None:
            return
        self._drops_base += self._drops_now
        self._drops_now = 0
        with contextlib.suppress(KeyError, ValueError):
            self._poll.unregister(sock.fileno())
        self._holder.close()

    # -- receiving -----------------------------------------------------------------------------

    def _receive_internal(self, max_frames: int, timeout: float) -> FrameBatch:
        """Wait up to ``timeout`` s for frames, then read every queued one, up to ``max_frames``.

        Error frames are in the batch with ``FLAG_ERROR`` and also update ``state`` and the
        ``bus_*`` counters. Bad records are counted, never raised. While the interface is gone
        the batch is empty, ``state`` is ``DOWN`` and the port reopens by itself every
        ``reopen_interval``.
        """
        sock = self._sock or self._try_reopen(timeout)
        if sock is None:
            return empty_batch()
        if self._tx_queue:
            self._flush_quietly(sock)
        read = self._read_batches(sock, max_frames, timeout) if self._recvmmsg else None
        if read is not None:
            count, failure = read
            batch = self._parse_batches(count) if count else empty_batch()
        elif not self._poll.poll(int(timeout * 1000 + 0.999)):
            return empty_batch()
        else:
            count, failure, batch = self._read_per_frame(sock, max_frames)
        if failure is not None:
            self._went_down(failure)
        elif count and self._state is BusState.DOWN:
            self._came_up()
        return batch

    def _read_batches(
        self, sock: socket.socket, limit: int, timeout: float
    ) -> tuple[int, OSError | None] | None:
        """Wait up to ``timeout`` s for a frame, then read every queued one, up to ``limit``,
        with ``recvmmsg``. Returns how many were read and the error that ended the reading
        (interface gone), or ``None`` when this kernel has no ``recvmmsg`` (the port then
        reads per frame from now on)."""
        receiver = self._batches
        if receiver is None or receiver.capacity < limit:
            assert self._recvmmsg is not None
            timestamps = self._options.kernel_timestamps
            receiver = self._batches = MmsgReceiver(self._recvmmsg, limit, timestamps=timestamps)
        flags: int = socket.MSG_DONTWAIT
        if timeout > 0:
            self._wait_at_most(sock, timeout)
            flags = MSG_WAITFORONE
        count, failure = receiver.receive(sock.fileno(), limit, flags)
        if failure is None:
            return count, None
        if failure.errno in _NO_BATCHES and not count:
            _log.warning(
                "CAN port %r: no recvmmsg here (%s); reading one frame per call",
                self._name,
                failure.strerror,
            )
            self._recvmmsg = self._batches = None
            sock.setblocking(False)
            return None
        return count, self._gone_or_raise(failure)

    def _wait_at_most(self, sock: socket.socket, timeout: float) -> None:
        """Bound the wait for the first frame (``SO_RCVTIMEO``; set only when it changes)."""
        if timeout == self._wait_set:
            return
        # At least 1 us: a zero timeval means waiting for ever.
        micros = max(1, min(round(timeout * 1e6), 86_400 * 10**6))
        seconds, micros = divmod(micros, 10**6)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _TIMEVAL.pack(seconds, micros))
        self._wait_set = timeout

    def _parse_batches(self, count: int) -> FrameBatch:
        """Parse the first ``count`` records ``recvmmsg`` read, with their stamps."""
        receiver = self._batches
        assert receiver is not None
        if not receiver.timestamps:
            stamps = np.full(count, time.time())
            return self._account(*parse_slots(receiver.slots, receiver.sizes(count), stamps))
        batch, stats, drops = receiver.parse(count, time.time)
        if drops is not None:  # the socket's drop count so far (cumulative)
            self._drops_now = drops
        return self._account(batch, stats)

    def _read_per_frame(
        self, sock: socket.socket, max_frames: int
    ) -> tuple[int, OSError | None, FrameBatch]:
        """Read and parse every queued frame, up to ``max_frames``, one syscall each."""
        self._grow(max_frames)
        if self._options.kernel_timestamps:
            count, failure = self._read_burst(sock, max_frames)
            batch = self._parse(count, None) if count else empty_batch()
        else:
            count, failure = self._read_burst_plain(sock, max_frames)
            batch = self._parse(count, time.time()) if count else empty_batch()
        return count, failure, batch

    def _grow(self, max_frames: int) -> None:
        """Make room for ``max_frames`` slots; done once per larger size, not per call."""
        if len(self._sizes) >= max_frames:
            return
        self._slots = bytearray(max_frames * _SLOT)
        view = memoryview(self._slots)
        # One-element lists made once, so the read loop builds no list per frame.
        self._slot_lists = [[view[i * _SLOT : (i + 1) * _SLOT]] for i in range(max_frames)]
        self._sizes = [0] * max_frames
        self._stamps = [_NO_STAMP] * max_frames

    def _read_burst(self, sock: socket.socket, limit: int) -> tuple[int, OSError | None]:
        """Read queued records into the slots until none is left or ``limit`` is reached.

        Returns how many were read and the error that ended the burst (interface gone).
        """
        recvmsg_into = sock.recvmsg_into
        slot_lists, sizes, stamps = self._slot_lists, self._sizes, self._stamps
        count = 0
        # The hot loop: one syscall per frame, results stored in preallocated lists.
        try:
            while count < limit:
                nbytes, ancillary, _, _ = recvmsg_into(
                    slot_lists[count], _ANCILLARY_BYTES, socket.MSG_DONTWAIT
                )
                sizes[count] = nbytes
                if len(ancillary) == 1:  # the timestamp alone: the usual case
                    stamps[count] = ancillary[0][2]
                else:
                    stamps[count] = self._take_ancillary(ancillary)
                count += 1
        except BlockingIOError:
            pass
        except OSError as err:
            return count, self._gone_or_raise(err)
        return count, None

    def _read_burst_plain(self, sock: socket.socket, limit: int) -> tuple[int, OSError | None]:
        """``_read_burst`` without control messages: ``recv_into``, the cheapest read."""
        recv_into = sock.recv_into
        slot_lists, sizes = self._slot_lists, self._sizes
        count = 0
        try:
            while count < limit:
                sizes[count] = recv_into(slot_lists[count][0], _SLOT, socket.MSG_DONTWAIT)
                count += 1
        except BlockingIOError:
            pass
        except OSError as err:
            return count, self._gone_or_raise(err)
        return count, None

    def _gone_or_raise(self, err: OSError) -> OSError:
        """``err`` when it means the interface went away (the caller reopens later); any other
        receive failure raises ``HalError``."""
        if err.errno not in _GONE:
            raise HalError(
                f"CAN port {self._name!r}: receive failed on {self._channel!r}: {err}"
            ) from err
        return err

    def _take_ancillary(self, ancillary: list[tuple[int, int, bytes]]) -> bytes:
        """The timestamp among the control messages; notes the drop counter if present."""
        stamp = _NO_STAMP
        for level, kind, data in ancillary:
            if level != socket.SOL_SOCKET:
                continue
            if kind == SO_TIMESTAMPNS and len(data) == _TIMESPEC.size:
                stamp = data
            elif kind == SO_RXQ_OVFL and len(data) >= 4:
                # The socket's drop count so far (cumulative, unsigned 32-bit).
                self._drops_now = int.from_bytes(data[:4], sys.byteorder)
        return stamp

    def _parse(self, count: int, read_at: float | None) -> FrameBatch:
        """Parse ``count`` slots; ``read_at`` stamps them all, else the kernel's stamps do."""
        if read_at is not None:
            stamps = np.full(count, read_at)
        else:
            stamps = timespec_seconds(self._stamps[:count], time.time())
        return self._account(*parse_slots(self._slots, self._sizes[:count], stamps))

    def _account(self, batch: FrameBatch, stats: ParseStats) -> FrameBatch:
        """Count what a parse found and apply its error frames; returns ``batch``."""
        counts = self._counts
        counts["rx_frames"] += stats.data_frames
        if stats.error_frames:
            counts["rx_error_frames"] += stats.error_frames
            self._apply_error_frames(batch)
        if stats.rejected:
            counts["rx_truncated"] += stats.truncated
            counts["rx_bad_length"] += stats.bad_length
            if not self._bad_burst:  # once per burst, not once per bad record
                _log.warning(
                    "CAN port %r: dropped %d truncated and %d over-long records",
                    self._name,
                    stats.truncated,
                    stats.bad_length,
                )
            self._bad_burst = True
        else:
            self._bad_burst = False
        return batch

    def _apply_error_frames(self, batch: FrameBatch) -> None:
        summary = summarize_error_frames(batch)
        for key, value in summary.events.items():
            self._counts[key] = self._counts.get(key, 0) + value
        if summary.state is not None and summary.state is not self._state:
            _log.warning("CAN port %r: bus %s -> %s", self._name, self._state, summary.state)
            self._state = summary.state

    # -- interface gone and back ---------------------------------------------------------------

    def _went_down(self, err: OSError) -> None:
        if err.errno == errno.ENETDOWN and self._sock is not None:
            # Link down: the socket stays bound to the interface and receives again as soon
            # as the link is up. Reopening instead would lose what arrives until the next
            # reopen attempt (measured on the HIL bench: up to reopen_interval of frames).
            if self._state is not BusState.DOWN:
                self._state = BusState.DOWN
                self._counts["interface_down"] += 1
                _log.warning(
                    "CAN port %r: %s is down; reading on when it is up",
                    self._name,
                    self._channel,
                )
            return
        was_down = self._state is BusState.DOWN
        self._drop_socket()
        self._state = BusState.DOWN
        if not was_down:
            self._counts["interface_down"] += 1
        self._next_reopen = time.monotonic() + self._options.reopen_interval
        _log.warning(
            "CAN port %r: %s is unavailable (%s); reopening every %.1f s",
            self._name,
            self._channel,
            err.strerror or err,
            self._options.reopen_interval,
        )

    def _came_up(self) -> None:
        self._state = BusState.ACTIVE
        self._counts["interface_up"] += 1
        _log.warning("CAN port %r: %s is up again", self._name, self._channel)

    def _try_reopen(self, timeout: float) -> socket.socket | None:
        """Reopen when due; otherwise wait out ``timeout`` (so receive loops do not spin)."""
        sock = self._reopen_if_due()
        if sock is None:
            time.sleep(max(0.0, min(timeout, self._next_reopen - time.monotonic())))
        return sock

    def _reopen_if_due(self) -> socket.socket | None:
        now = time.monotonic()
        if now < self._next_reopen:
            return None
        try:
            self._sock = self._connect()
        except PortOpenError:
            self._next_reopen = now + self._options.reopen_interval
            return None
        self._state = BusState.ACTIVE
        self._counts["reopens"] += 1
        _log.warning("CAN port %r: %s is back", self._name, self._channel)
        return self._sock

    # -- sending -------------------------------------------------------------------------------

    def _send_internal(self, arbitration_id: int, data: bytes, length: int, flags: int) -> None:
        """Queue the frame and hand queued frames to the kernel as far as it takes them.

        Raises ``TransmitError`` when the transmit queue is full, the id was sent less than
        its ``min_send_interval`` ago, or the interface is gone or refuses the frame.
        """
        record = _pack(arbitration_id, data, length, flags)
        sock = self._sock or self._reopen_if_due()
        if sock is None:
            self._counts["tx_errors"] += 1
            raise TransmitError(f"CAN port {self._name!r}: {self._channel} is down")
        interval = self._options.min_send_interval.get(arbitration_id)
        now = time.monotonic()
        if interval is not None:
            last = self._last_sent.get(arbitration_id)
            if last is not None and now - last < interval:
                self._counts["tx_rate_limited"] += 1
                raise TransmitError(
                    f"CAN port {self._name!r}: id {arbitration_id:#x} sent {now - last:.4f} s "
                    f"ago, its minimum interval is {interval} s"
                )
        if len(self._tx_queue) >= self._options.tx_queue_frames:
            self._flush(sock)
            if len(self._tx_queue) >= self._options.tx_queue_frames:
                self._counts["tx_queue_full"] += 1
                raise TransmitError(
                    f"CAN port {self._name!r}: transmit queue full "
                    f"({self._options.tx_queue_frames} frames waiting for {self._channel})"
                )
        self._tx_queue.append(record)
        if interval is not None:
            self._last_sent[arbitration_id] = now
        self._flush(sock)

    def flush(self) -> int:
        """Hand queued frames to the kernel as far as it takes them; returns how many still wait.

        Raises ``PortClosedError`` when not open, ``TransmitError`` when the interface is gone
        or refuses a frame (that frame is dropped and counted).
        """
        self._require_open()
        sock = self._sock or self._reopen_if_due()
        if sock is None:
            raise TransmitError(f"CAN port {self._name!r}: {self._channel} is down")
        self._flush(sock)
        return len(self._tx_queue)

    def _flush(self, sock: socket.socket) -> None:
        queue = self._tx_queue
        while queue:
            try:
                sock.send(queue[0], socket.MSG_DONTWAIT)
            except OSError as err:
                if err.errno in _WOULD_BLOCK:
                    return  # the kernel is full for now; the frames wait in our queue
                queue.popleft()
                self._counts["tx_errors"] += 1
                if err.errno in _GONE:
                    self._went_down(err)
                raise TransmitError(
                    f"CAN port {self._name!r}: {self._channel} refused a frame: {err}"
                ) from err
            queue.popleft()
            self._counts["tx_frames"] += 1
            if self._state is BusState.DOWN:
                self._came_up()  # a port that only sends learns it this way

    def _flush_quietly(self, sock: socket.socket) -> None:
        """``_flush`` from ``receive``, which must not fail for a send's sake."""
        try:
            self._flush(sock)
        except TransmitError as err:
            _log.warning("%s", err)


def _pack(arbitration_id: int, data: bytes, length: int, flags: int) -> bytes:
    """The kernel record of a checked frame (``flags``: the batch's ``FLAG_*`` bits)."""
    can_id = arbitration_id | (CAN_EFF_FLAG if flags & FLAG_EXTENDED else 0)
    if flags & FLAG_REMOTE:
        return pack_frame(can_id | CAN_RTR_FLAG, b"", length=length)
    fd_flags = CANFD_FDF | (CANFD_BRS if flags & FLAG_BRS else 0)
    return pack_frame(can_id, data, fd=bool(flags & FLAG_FD), fd_flags=fd_flags)
