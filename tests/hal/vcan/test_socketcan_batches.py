"""The fast SocketCAN reader's two read paths on real vcan: ``recvmmsg`` batches (the default)
and one ``recvmsg`` per frame (where the C library or kernel has no ``recvmmsg``).

The rest of the vcan suite runs on the default path; here the per-frame path meets the whole
``CanPort`` contract too, and both paths read the same traffic side by side.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from edge.port_io import can_batches
from hal.can.frames import CAN_ERR_FLAG, FrameBatch
from hal.can.port import BusState
from hal.can.socketcan_error_frames import CAN_ERR_BUSOFF, CAN_ERR_CRTL, CAN_ERR_CRTL_RX_PASSIVE
from hal.can.socketcan_mmsg import UIO_MAXIOV
from hal.can.socketcan_raw import SocketCanRawOptions, SocketCanRawPort
from hal.can.socketcan_structs import pack_frame
from tests.hal.can_contract import CanPortContract, Pair, receive_exactly
from tests.hal.vcan.conftest import VCAN
from tests.support.waiting import eventually

PATHS = {"batches": True, "per frame": False}


def port(name: str, channel: str = VCAN, **options: object) -> SocketCanRawPort:
    return SocketCanRawPort(name, channel, SocketCanRawOptions(**options))  # type: ignore[arg-type]


class TestSocketCanRawPerFrame(CanPortContract):
    def make_port_pair(self, *, fd: bool = False) -> Pair:
        return port("sender", fd=fd), port("receiver", fd=fd, batch_reads=False)


def run(*argv: str) -> None:
    subprocess.run(argv, check=True, timeout=30, capture_output=True)


@pytest.fixture
def own_vcan() -> Iterator[str]:
    """A vcan interface of the test's own, which it may take down."""
    name = "rgbatch0"
    run("ip", "link", "add", "dev", name, "type", "vcan")
    run("ip", "link", "set", "dev", name, "mtu", "72", "up")
    yield name
    subprocess.run(["ip", "link", "delete", "dev", name], check=False, capture_output=True)


def receive_all(port: SocketCanRawPort, count: int) -> FrameBatch:
    return np.concatenate(receive_exactly(port, count, max_frames=4096))


def test_both_paths_read_the_same_frames_with_the_same_kernel_stamps() -> None:
    readers = {
        (batches, stamped): port(
            f"reader-{batches}-{stamped}", fd=True, batch_reads=batches, kernel_timestamps=stamped
        )
        for batches in (True, False)
        for stamped in (True, False)
    }
    with (
        socket.socket(socket.AF_CAN, socket.SOCK_RAW, socket.CAN_RAW) as injector,
        port("sender", fd=True) as sender,
    ):
        injector.bind((VCAN,))
        for reader in readers.values():
            reader.open()
        try:
            for i in range(200):
                sender.send(0x100 + i % 7, bytes([i]) * (i % 9))
                sender.send(0x18FEF100 + i, i.to_bytes(4, "big"), extended=True)
                sender.send(0x7F0, bytes([i]) * 64, fd=True, bitrate_switch=bool(i % 2))
                sender.send_remote(0x55, i % 9)
            injector.send(
                pack_frame(CAN_ERR_FLAG | CAN_ERR_CRTL, bytes([0, CAN_ERR_CRTL_RX_PASSIVE]))
            )
            injector.send(pack_frame(CAN_ERR_FLAG | CAN_ERR_BUSOFF, b""))
            assert sender.flush() == 0
            frames = {key: receive_all(reader, 802) for key, reader in readers.items()}
            states = {reader.state for reader in readers.values()}
            counters = [dict(reader.counters) for reader in readers.values()]
        finally:
            for reader in readers.values():
                reader.close()
    reference = frames[(False, False)]
    for key, batch in frames.items():
        for column in ("arbitration_id", "flags", "dlc", "data"):
            np.testing.assert_array_equal(batch[column], reference[column], err_msg=f"{key}")
    np.testing.assert_array_equal(
        frames[(True, True)]["timestamp"], frames[(False, True)]["timestamp"]
    )
    assert states == {BusState.BUS_OFF}
    for counted in counters:
        assert (counted["rx_frames"], counted["rx_error_frames"]) == (800, 2)
        assert (counted["bus_error_passive"], counted["bus_off"], counted["rx_kernel_drops"]) == (
            1,
            1,
            0,
        )


@pytest.mark.parametrize("stamped", [True, False], ids=["kernel stamps", "read time"])
def test_one_receive_takes_more_frames_than_the_kernel_gives_per_call(stamped: bool) -> None:
    sent = 2 * UIO_MAXIOV + 500
    with port("sender") as sender, port("reader", kernel_timestamps=stamped) as reader:
        for i in range(sent):
            sender.send(0x42, i.to_bytes(4, "little"))
        assert sender.flush() == 0
        time.sleep(0.2)  # every frame is queued before the one receive
        batch = reader.receive(max_frames=4096, timeout=1.0)
        rest = reader.receive(max_frames=4096, timeout=0.05)
    assert (len(batch), len(rest)) == (sent, 0)
    counters = batch["data"][:, :4].copy().view("<u4").ravel()
    assert counters.tolist() == list(range(sent))


@pytest.mark.parametrize("batches", PATHS.values(), ids=PATHS.keys())
def test_an_idle_receive_waits_its_timeout_and_a_zero_timeout_does_not_wait(
    batches: bool,
) -> None:
    with port("idle", batch_reads=batches) as idle:
        waits = []
        for timeout in (0.3, 0.0, 0.1, 0.3):  # changing timeouts: each is the one in force
            started = time.monotonic()
            assert len(idle.receive(timeout=timeout)) == 0
            waits.append(time.monotonic() - started)
    assert 0.25 < waits[0] < 1.0
    assert waits[1] < 0.05
    assert 0.08 < waits[2] < 0.5
    assert 0.25 < waits[3] < 1.0


@pytest.mark.parametrize("batches", PATHS.values(), ids=PATHS.keys())
def test_a_frame_ends_the_wait_at_once(batches: bool) -> None:
    with port("waiting", batch_reads=batches) as waiting:
        waiting.receive(timeout=0.0)  # the port is set up; now wait
        sent_at = time.monotonic()
        sender = subprocess.Popen(["sh", "-c", f"sleep 0.3; cansend {VCAN} 123#01"])
        batch = waiting.receive(timeout=5.0)
        waited = time.monotonic() - sent_at
        sender.wait(timeout=10)
    assert batch["arbitration_id"].tolist() == [0x123]
    assert 0.25 < waited < 2.0


@pytest.mark.parametrize("batches", PATHS.values(), ids=PATHS.keys())
def test_link_down_and_up_on_either_path(own_vcan: str, batches: bool) -> None:
    with (
        port("sender", own_vcan) as sender,
        port("receiver", own_vcan, reopen_interval=60.0, batch_reads=batches) as receiver,
    ):
        run("ip", "link", "set", "dev", own_vcan, "down")
        assert len(receiver.receive(timeout=0.5)) == 0
        down = receiver.state
        run("ip", "link", "set", "dev", own_vcan, "up")
        assert len(sender.receive(timeout=0.1)) == 0
        for i in range(20):
            sender.send(0x100 + i, bytes([i]))
        batches_got = receive_exactly(receiver, 20)
        counters = dict(receiver.counters)
        up = receiver.state
    assert (down, up) == (BusState.DOWN, BusState.ACTIVE)
    ids = [i for batch in batches_got for i in batch["arbitration_id"].tolist()]
    assert ids == [0x100 + i for i in range(20)]
    assert (counters["interface_down"], counters["interface_up"], counters["reopens"]) == (1, 1, 0)


def test_the_interface_deleted_and_added_reopens_the_batch_path(own_vcan: str) -> None:
    with port("receiver", own_vcan, reopen_interval=0.1) as receiver:
        run("ip", "link", "delete", "dev", own_vcan)
        assert len(receiver.receive(timeout=0.3)) == 0
        assert receiver.state is BusState.DOWN
        run("ip", "link", "add", "dev", own_vcan, "type", "vcan")
        run("ip", "link", "set", "dev", own_vcan, "up")
        deadline = time.monotonic() + 5
        while receiver.state is BusState.DOWN and time.monotonic() < deadline:
            receiver.receive(timeout=0.05)
        run("cansend", own_vcan, "321#cafe")
        (batch,) = receive_exactly(receiver, 1)
        # The new socket waits for frames as the first one did: timeouts still hold.
        started = time.monotonic()
        assert len(receiver.receive(timeout=0.3)) == 0
        waited = time.monotonic() - started
        counters = dict(receiver.counters)
    assert bytes(batch[0]["data"][:2]) == b"\xca\xfe"
    assert counters["reopens"] == 1
    assert 0.25 < waited < 1.0


@pytest.mark.parametrize("batches", PATHS.values(), ids=PATHS.keys())
def test_kernel_drops_are_counted_on_either_path(batches: bool) -> None:
    sent = 300
    with (
        port("sender") as sender,
        port("tiny", receive_buffer_bytes=1024, batch_reads=batches) as tiny,
    ):
        for i in range(sent):
            sender.send(0x55, i.to_bytes(2, "big"))
        assert sender.flush() == 0
        frames: list[FrameBatch] = []
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            frames.append(tiny.receive(max_frames=4096, timeout=0.05))
        got = np.concatenate(frames)
        drops = tiny.counters["rx_kernel_drops"]
    assert 0 < len(got) < sent
    assert len(got) + drops == sent


def test_the_event_loop_reads_the_port_itself_and_follows_a_reopen(own_vcan: str) -> None:
    """``edge.port_io.can_batches`` on SocketCAN: no reader thread, frames as they come, and
    after the interface is deleted and added the new socket is the one watched."""
    # A poll period beyond what the test waits for a frame: only the socket can wake the loop.
    poll_s = 3.0

    async def scenario() -> tuple[list[int], int, int]:
        got: list[int] = []

        async def collect(receiver: SocketCanRawPort) -> None:
            async for batch in can_batches(receiver, poll_s=poll_s):
                got.extend(batch["arbitration_id"].tolist())

        with port("receiver", own_vcan, reopen_interval=0.1) as receiver:
            threads = threading.active_count()
            reader = asyncio.create_task(collect(receiver))
            await asyncio.sleep(0.2)
            run("cansend", own_vcan, "101#01")
            await eventually(lambda: got == [0x101], 2.0, "the first frame read")
            thread_count = threading.active_count() - threads
            run("ip", "link", "delete", "dev", own_vcan)
            run("ip", "link", "add", "dev", own_vcan, "type", "vcan")
            run("ip", "link", "set", "dev", own_vcan, "up")
            # The next poll period's receive sees the socket gone, a later one reopens.
            await eventually(lambda: receiver.counters["reopens"] == 1, 4 * poll_s, "reopened")
            await asyncio.sleep(0.1)
            run("cansend", own_vcan, "102#02")
            await eventually(lambda: got == [0x101, 0x102], 0.5 * poll_s, "read after reopen")
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            return got, thread_count, receiver.counters["reopens"]

    got, new_threads, reopens = asyncio.run(scenario())
    assert (got, new_threads, reopens) == ([0x101, 0x102], 0, 1)
