"""The fast SocketCAN reader on real vcan: the ``CanPort`` contract and what the kernel adds.

Runs where the kernel has CAN (inside the user-mode-linux guest, as root); see conftest.py.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from hal.can.frames import CAN_ERR_FLAG, FLAG_BRS, FLAG_ERROR, FLAG_EXTENDED, FLAG_FD, FrameBatch
from hal.can.port import BusState, CanPort
from hal.can.registry import create_can_port
from hal.can.socketcan_error_frames import (
    CAN_ERR_BUSOFF,
    CAN_ERR_CRTL,
    CAN_ERR_CRTL_RX_PASSIVE,
    CAN_ERR_CRTL_TX_WARNING,
    CAN_ERR_RESTARTED,
)
from hal.can.socketcan_raw import SocketCanRawOptions, SocketCanRawPort
from hal.can.socketcan_structs import pack_frame
from hal.errors import PortOpenError, TransmitError
from hil.uml import guest_modules
from tests.hal.can_contract import CanPortContract, Pair, receive_exactly
from tests.hal.vcan.conftest import VCAN

CANGEN_COUNTER_BURST = "cangen {vcan} -g 0 -n {count} -I 42 -L 8 -D i -p 100"


def port(name: str, channel: str = VCAN, **options: object) -> SocketCanRawPort:
    return SocketCanRawPort(name, channel, SocketCanRawOptions(**options))  # type: ignore[arg-type]


class TestSocketCanRaw(CanPortContract):
    def make_port_pair(self, *, fd: bool = False) -> Pair:
        return port("sender", fd=fd), port("receiver", fd=fd)


def run(*argv: str) -> None:
    subprocess.run(argv, check=True, timeout=30, capture_output=True)


@pytest.fixture
def spare_vcan() -> Iterator[str]:
    """A vcan interface of the test's own, which it may take down, plug or delete."""
    name = "rgspare0"
    run("ip", "link", "add", "dev", name, "type", "vcan")
    run("ip", "link", "set", "dev", name, "mtu", "72", "up")
    yield name
    subprocess.run(["ip", "link", "delete", "dev", name], check=False, capture_output=True)


def receive_until(port: SocketCanRawPort, count: int, deadline_s: float = 30.0) -> FrameBatch:
    batches: list[FrameBatch] = []
    received = 0
    deadline = time.monotonic() + deadline_s
    while received < count and time.monotonic() < deadline:
        batch = port.receive(max_frames=4096, timeout=0.05)
        received += len(batch)
        batches.append(batch)
    return np.concatenate(batches)


def test_registry_serves_socketcan_with_the_fast_reader() -> None:
    assert isinstance(create_can_port("vehicle", "socketcan", VCAN), SocketCanRawPort)
    assert not isinstance(
        create_can_port("vehicle", "socketcan-python-can", VCAN), SocketCanRawPort
    )


def test_timestamps_are_the_kernels_receive_times() -> None:
    with port("sender") as sender, port("receiver") as receiver:
        before = time.time()
        sender.send(0x10, b"\x01")
        time.sleep(0.3)
        sender.send(0x10, b"\x02")
        after = time.time()
        time.sleep(0.3)  # read well after arrival: a read-time stamp would be >= after + 0.3
        read_at = time.time()
        frames = np.concatenate(receive_exactly(receiver, 2))
    stamps = frames["timestamp"]
    assert before <= stamps[0] < stamps[0] + 0.25 < stamps[1] <= after < read_at - 0.25


def test_kernel_filter_passes_only_the_configured_ids() -> None:
    receiver = port(
        "receiver", standard_ids=frozenset({0x100, 0x200}), extended_ids=frozenset({0x18FEF100})
    )
    with port("sender") as sender, receiver:
        for arbitration_id, extended in [
            (0x100, False),
            (0x101, False),
            (0x100, True),
            (0x200, False),
            (0x18FEF101, True),
            (0x18FEF100, True),
            (0x7FF, False),
        ]:
            sender.send(arbitration_id, b"\xaa", extended=extended)
        time.sleep(0.1)
        frames = receiver.receive(timeout=0.5)
        assert len(receiver.receive(timeout=0.1)) == 0
    assert frames["arbitration_id"].tolist() == [0x100, 0x200, 0x18FEF100]
    assert frames["flags"].tolist() == [0, 0, FLAG_EXTENDED]


def test_receive_buffer_is_forced_beyond_rmem_max() -> None:
    rmem_max = int(Path("/proc/sys/net/core/rmem_max").read_text())
    asked = 2 * rmem_max  # only SO_RCVBUFFORCE (root) grants more than rmem_max
    with port("big", receive_buffer_bytes=asked) as big:
        assert big.receive_buffer_bytes == 2 * asked  # the kernel doubles what it was asked


def test_kernel_drops_are_counted_when_the_buffer_overflows() -> None:
    sent = 300
    with port("sender") as sender, port("tiny", receive_buffer_bytes=1024) as tiny:
        for i in range(sent):
            sender.send(0x55, i.to_bytes(2, "big"))
        assert sender.flush() == 0
        frames = receive_until(tiny, sent, deadline_s=1.0)
        drops = tiny.counters["rx_kernel_drops"]
    assert 0 < len(frames) < sent
    assert len(frames) + drops == sent
    sequence = [int.from_bytes(bytes(f["data"][:2]), "big") for f in frames]
    assert sequence == sorted(sequence)


def test_fd_frames_from_cansend_keep_their_flags_and_skip_classic_ports() -> None:
    with port("fd", fd=True) as fd_port, port("classic") as classic:
        run("cansend", VCAN, "123##1" + bytes(range(64)).hex())  # flags 1: bit-rate switch
        run("cansend", VCAN, "124##0" + "ab" * 12)
        frames = np.concatenate(receive_exactly(fd_port, 2))
        assert len(classic.receive(timeout=0.1)) == 0
    assert frames["flags"].tolist() == [FLAG_FD | FLAG_BRS, FLAG_FD]
    assert frames["dlc"].tolist() == [64, 12]
    assert bytes(frames[0]["data"]) == bytes(range(64))


def test_error_frames_become_bus_states_and_counters() -> None:
    # vcan has no controller; a raw socket can put error frames on it as a driver would.
    with (
        socket.socket(socket.AF_CAN, socket.SOCK_RAW, socket.CAN_RAW) as injector,
        port("watcher") as watcher,
        port("deaf", error_classes=0) as deaf,
    ):
        injector.bind((VCAN,))
        states = [watcher.state]

        def inject(class_bits: int, controller: int = 0) -> None:
            injector.send(pack_frame(CAN_ERR_FLAG | class_bits, bytes([0, controller, 0, 0])))
            receive_exactly(watcher, 1)
            states.append(watcher.state)

        inject(CAN_ERR_CRTL, CAN_ERR_CRTL_TX_WARNING)
        inject(CAN_ERR_CRTL, CAN_ERR_CRTL_RX_PASSIVE)
        inject(CAN_ERR_BUSOFF)
        inject(CAN_ERR_RESTARTED)
        assert len(deaf.receive(timeout=0.1)) == 0
        counters = dict(watcher.counters)
    assert states == [
        BusState.ACTIVE,
        BusState.WARNING,
        BusState.PASSIVE,
        BusState.BUS_OFF,
        BusState.ACTIVE,
    ]
    assert counters["rx_error_frames"] == 4
    assert counters["rx_frames"] == 0
    assert [counters[k] for k in ("bus_error_warning", "bus_error_passive", "bus_off")] == [1] * 3
    assert counters["bus_restarted"] == 1


def test_an_error_frame_batch_is_flagged() -> None:
    with (
        socket.socket(socket.AF_CAN, socket.SOCK_RAW, socket.CAN_RAW) as injector,
        port("watcher") as watcher,
    ):
        injector.bind((VCAN,))
        injector.send(pack_frame(CAN_ERR_FLAG | CAN_ERR_BUSOFF, b""))
        (batch,) = receive_exactly(watcher, 1)
    assert batch["flags"].tolist() == [FLAG_ERROR]
    assert batch["arbitration_id"].tolist() == [CAN_ERR_BUSOFF]


def test_port_reopens_after_interface_down_up_and_delete_add(spare_vcan: str) -> None:
    with (
        port("sender", spare_vcan, reopen_interval=0.1) as sender,
        port("receiver", spare_vcan, reopen_interval=0.1) as receiver,
    ):
        run("ip", "link", "set", "dev", spare_vcan, "down")
        assert len(receiver.receive(timeout=1.0)) == 0
        assert receiver.state is BusState.DOWN
        with pytest.raises(TransmitError):
            sender.send(0x1, b"")  # the sender notices on its first send
        with pytest.raises(TransmitError, match="down"):
            sender.send(0x1, b"")
        run("ip", "link", "delete", "dev", spare_vcan)
        for _ in range(3):  # reopening an interface that is gone fails quietly
            assert len(receiver.receive(timeout=0.15)) == 0
        run("ip", "link", "add", "dev", spare_vcan, "type", "vcan")
        run("ip", "link", "set", "dev", spare_vcan, "up")
        deadline = time.monotonic() + 5
        while receiver.state is BusState.DOWN and time.monotonic() < deadline:
            receiver.receive(timeout=0.05)
        while sender.state is BusState.DOWN and time.monotonic() < deadline:
            sender.receive(timeout=0.05)  # the sender reopens in receive, like every port
        sender.send(0x2, b"back")
        (batch,) = receive_exactly(receiver, 1)
        counters = dict(receiver.counters)
    assert bytes(batch[0]["data"][:4]) == b"back"
    assert counters["interface_down"] == 1
    assert counters["reopens"] == 1


def current_state(port: CanPort) -> BusState:
    """``port.state`` read anew (mypy keeps an earlier ``assert port.state is ...``)."""
    return port.state


def test_link_down_then_up_loses_nothing_sent_after_it_is_up(spare_vcan: str) -> None:
    # The socket stays bound through a link down/up: frames are read again at once, without
    # waiting for a reopen (found on the HIL bench, which lost up to reopen_interval of them).
    with (
        port("sender", spare_vcan) as sender,
        port("receiver", spare_vcan, reopen_interval=60.0) as receiver,
    ):
        run("ip", "link", "set", "dev", spare_vcan, "down")
        assert len(receiver.receive(timeout=0.5)) == 0
        assert receiver.state is BusState.DOWN
        run("ip", "link", "set", "dev", spare_vcan, "up")
        # The kernel reports the link's going down once per socket: a sender that did not
        # read meanwhile gets it on its next call, as here.
        assert len(sender.receive(timeout=0.1)) == 0
        for i in range(20):
            sender.send(0x100 + i, bytes([i]))
        batches = receive_exactly(receiver, 20)
        counters = dict(receiver.counters)
        state_after = current_state(receiver)
    assert state_after is BusState.ACTIVE
    ids = [i for batch in batches for i in batch["arbitration_id"].tolist()]
    assert ids == [0x100 + i for i in range(20)]
    assert (counters["interface_down"], counters["interface_up"], counters["reopens"]) == (1, 1, 0)


def test_open_fails_clearly_for_a_missing_or_down_interface(spare_vcan: str) -> None:
    with pytest.raises(PortOpenError, match="ip link add dev rgnosuch0 type vcan"):
        port("x", "rgnosuch0").open()
    run("ip", "link", "set", "dev", spare_vcan, "down")
    with pytest.raises(PortOpenError, match="Bring the interface up"):
        port("x", spare_vcan).open()


def test_rate_limit_and_a_full_queue_are_errors_the_caller_sees(spare_vcan: str) -> None:
    # A plug qdisc holds every frame the interface is given: the kernel stops taking frames
    # (ENOBUFS/EAGAIN), our queue fills, and releasing the plug lets the frames through.
    sch_plug = guest_modules() / "kernel/net/sched/sch_plug.ko"
    subprocess.run(["insmod", str(sch_plug)], check=False, capture_output=True)  # maybe loaded
    run("tc", "qdisc", "add", "dev", spare_vcan, "root", "plug", "limit", "2000")
    limited = {0x10: 60.0}
    with (
        port("sender", spare_vcan, tx_queue_frames=8, min_send_interval=limited) as sender,
        port("receiver", spare_vcan) as receiver,
    ):
        sender.send(0x10, b"first")
        with pytest.raises(TransmitError, match="minimum interval"):
            sender.send(0x10, b"again")
        sent = fill_until_refused(sender, 0x20, limit=10_000)
        with pytest.raises(TransmitError, match="queue full"):
            sender.send(0x20, sent.to_bytes(2, "big"))
        assert sender.tx_pending == 8
        run("tc", "qdisc", "change", "dev", spare_vcan, "root", "plug", "release_indefinite")
        deadline = time.monotonic() + 5
        while sender.flush() and time.monotonic() < deadline:
            time.sleep(0.01)
        frames = receive_until(receiver, sent + 1, deadline_s=5)
        counters = dict(sender.counters)
    assert frames["arbitration_id"].tolist() == [0x10] + [0x20] * sent
    assert [int.from_bytes(bytes(f["data"][:2]), "big") for f in frames[1:]] == list(range(sent))
    assert counters["tx_rate_limited"] == 1
    assert counters["tx_queue_full"] == 2  # the refusal that ended the filling, and ours
    assert counters["tx_frames"] == sent + 1


def fill_until_refused(sender: SocketCanRawPort, arbitration_id: int, *, limit: int) -> int:
    """Send numbered frames until the queue refuses one; returns how many were accepted."""
    for i in range(limit):
        try:
            sender.send(arbitration_id, i.to_bytes(2, "big"))
        except TransmitError:
            return i
    raise AssertionError(f"{limit} frames were all accepted")


def test_a_burst_from_cangen_arrives_complete_and_in_order() -> None:
    count = 20_000
    with port("receiver", standard_ids=frozenset({0x42})) as receiver:
        cangen = subprocess.Popen(
            # -D i: the payload is a little-endian counter; -p: wait on ENOBUFS, never skip.
            CANGEN_COUNTER_BURST.format(vcan=VCAN, count=count).split(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            frames = receive_until(receiver, count, deadline_s=40)
        finally:
            cangen.wait(timeout=10)
        drops = receiver.counters["rx_kernel_drops"]
    counter = frames["data"][:, :8].copy().view("<u8").ravel()
    assert (len(frames), drops) == (count, 0)
    assert (np.diff(counter.astype(np.int64)) == 1).all()


def test_without_kernel_timestamps_a_burst_is_stamped_when_read() -> None:
    with port("sender") as sender, port("plain", kernel_timestamps=False) as plain:
        for i in range(300):
            sender.send(0x77, i.to_bytes(2, "big"))
        time.sleep(0.3)
        read_from = time.time()
        frames = np.concatenate(receive_exactly(plain, 300))
    assert [int.from_bytes(bytes(f["data"][:2]), "big") for f in frames] == list(range(300))
    assert (frames["timestamp"] >= read_from).all()
