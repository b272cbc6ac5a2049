"""The python-can adapter on python-can's in-process ``virtual`` interface."""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Iterator

import can
import can.interfaces.virtual
import pytest

from hal.can import python_can_port
from hal.can.frames import FLAG_ERROR, FLAG_EXTENDED
from hal.can.port import BusState, CanPort
from hal.can.python_can_port import PythonCanPort
from hal.can.registry import create_can_port
from hal.errors import PortClosedError, PortOpenError, TransmitError
from tests.hal.can_contract import CanPortContract, Pair, receive_exactly
from tests.hal.port_leaks import PortLeakGuard
from tests.hal.virtual_can import unique_channel


class TestPythonCanVirtual(CanPortContract):
    def make_port_pair(self, *, fd: bool = False) -> Pair:
        channel = unique_channel()
        return (
            PythonCanPort("sender", "virtual", channel, fd=fd),
            PythonCanPort("receiver", "virtual", channel, fd=fd),
        )


@pytest.fixture
def port(channel: str) -> Iterator[PythonCanPort]:
    with PythonCanPort("radar", "virtual", channel) as opened:
        yield opened


def test_error_frames_are_flagged_and_counted(port: PythonCanPort, raw_bus: can.BusABC) -> None:
    raw_bus.send(can.Message(arbitration_id=0x123, data=b"\x01\x02", is_extended_id=False))
    # CAN_ERR_CRTL | CAN_ERR_BUSOFF class bits, as the kernel reports them
    raw_bus.send(can.Message(is_error_frame=True, arbitration_id=0x44, data=bytes(8)))
    frames = receive_exactly(port, 2)[0]
    assert frames["flags"].tolist() == [0, FLAG_EXTENDED | FLAG_ERROR]
    assert frames["arbitration_id"].tolist() == [0x123, 0x44]
    assert port.counters == {
        "rx_frames": 1,
        "rx_error_frames": 1,
        "rx_bad_length": 0,
        "tx_frames": 0,
        "tx_errors": 0,
        "disconnects": 0,
        "reopens": 0,
    }


def test_remote_frames_report_the_requested_length(
    port: PythonCanPort, raw_bus: can.BusABC
) -> None:
    raw_bus.send(can.Message(arbitration_id=0x7DF, is_remote_frame=True, dlc=8))
    (frames,) = receive_exactly(port, 1)
    assert int(frames[0]["dlc"]) == 8
    assert not frames[0]["data"].any()


@pytest.mark.parametrize(
    ("theirs", "ours"),
    [
        (can.BusState.ACTIVE, BusState.ACTIVE),
        (can.BusState.PASSIVE, BusState.PASSIVE),
        (can.BusState.ERROR, BusState.BUS_OFF),
    ],
)
def test_state_follows_python_can(
    port: PythonCanPort, monkeypatch: pytest.MonkeyPatch, theirs: can.BusState, ours: BusState
) -> None:
    monkeypatch.setattr(can.interfaces.virtual.VirtualBus, "state", property(lambda _: theirs))
    assert port.state is ours


def test_driver_send_failure_becomes_transmit_error(
    port: PythonCanPort, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: can.BusABC, msg: can.Message, timeout: float | None = None) -> None:
        raise can.CanOperationError("Transmit buffer full")

    monkeypatch.setattr(can.interfaces.virtual.VirtualBus, "send", refuse)
    with pytest.raises(TransmitError, match="buffer full") as caught:
        port.send(0x10, b"\x00")
    assert isinstance(caught.value.__cause__, can.CanOperationError)
    assert port.counters["tx_errors"] == 1
    assert port.counters["tx_frames"] == 0


def test_a_failing_driver_takes_the_port_down_and_it_comes_back(
    channel: str,
    raw_bus: can.BusABC,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # An adapter unplugged mid-stream: the driver's recv fails, then (replugged) works again.
    real_recv = can.interfaces.virtual.VirtualBus.recv
    unplugged = [True]

    def flaky(self: can.BusABC, timeout: float | None = None) -> can.Message | None:
        if unplugged[0]:
            raise can.CanOperationError("Network is down")
        return real_recv(self, timeout)

    monkeypatch.setattr(can.interfaces.virtual.VirtualBus, "recv", flaky)
    with PythonCanPort("vehicle", "virtual", channel, reopen_interval=0.05) as port:
        assert len(port.receive(timeout=0)) == 0  # no exception out of the port
        assert port.state is BusState.DOWN
        assert port.counters["disconnects"] == 1
        with pytest.raises(TransmitError, match="down"):
            port.send(0x10, b"\x00")
        unplugged[0] = False
        deadline = time.monotonic() + 5
        while port.counters["reopens"] == 0:
            assert time.monotonic() < deadline, "the port did not reopen"
            port.receive(timeout=0.01)
        raw_bus.send(can.Message(arbitration_id=0x321, data=b"\x01", is_extended_id=False))
        (frames,) = receive_exactly(port, 1)
        assert frames["arbitration_id"].tolist() == [0x321]
        assert port.state is not BusState.DOWN
    messages = [r.getMessage() for r in caplog.records]
    assert sum("unavailable" in m for m in messages) == 1
    assert sum("is back" in m for m in messages) == 1


def test_receive_rejects_bad_arguments(port: PythonCanPort) -> None:
    with pytest.raises(ValueError, match="max_frames"):
        port.receive(max_frames=0)
    with pytest.raises(ValueError, match="timeout"):
        port.receive(timeout=-1)


def test_close_shuts_the_bus_down(channel: str) -> None:
    with PythonCanPort("radar", "virtual", channel):
        assert channel in can.interfaces.virtual.channels
    assert channel not in can.interfaces.virtual.channels


def test_a_send_with_no_room_fails_after_the_send_timeout(channel: str) -> None:
    # A receiver whose queue holds one frame and is never read: python-can's virtual bus
    # waits for room as long as it is told to, forever without a timeout.
    with (
        can.Bus(interface="virtual", channel=channel, rx_queue_size=1, ignore_config=True),
        PythonCanPort("sim", "virtual", channel, send_timeout=0.05) as port,
    ):
        port.send(0x1, b"\x01")
        started = time.monotonic()
        with pytest.raises(TransmitError, match="cannot send id 0x2"):
            port.send(0x2, b"\x02")
        waited = time.monotonic() - started
    assert 0.04 <= waited < 5
    assert (port.counters["tx_frames"], port.counters["tx_errors"]) == (1, 1)


def test_constructor_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="channel"):
        PythonCanPort("radar", "virtual", "")
    with pytest.raises(ValueError, match="send_timeout"):
        PythonCanPort("radar", "virtual", "x", send_timeout=0)
    with pytest.raises(ValueError, match="bitrate"):
        PythonCanPort("radar", "virtual", "x", bitrate=0)


def test_unknown_interface_names_the_valid_ones() -> None:
    port = PythonCanPort("radar", "no-such-interface", "can0")
    with pytest.raises(
        PortOpenError, match=r"no-such-interface.*Known python-can interfaces: .*virtual"
    ):
        port.open()
    assert port.state is BusState.DOWN


def test_missing_socketcan_channel_says_how_to_set_it_up() -> None:
    # Fails on any machine: without SocketCAN ("modprobe"), or with it ("ip link add").
    port = PythonCanPort("vehicle", "socketcan", "rgnosuch0")
    with pytest.raises(PortOpenError, match=r"rgnosuch0.*(modprobe|ip link)"):
        port.open()


def test_missing_python_can_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "can", None)  # makes ``import can`` raise ImportError
    with pytest.raises(PortOpenError, match="pip install python-can"):
        PythonCanPort("radar", "virtual", "x").open()


def test_registry_builds_an_unopened_python_can_port(channel: str) -> None:
    port = create_can_port("radar", "virtual", channel, bitrate=500_000)
    assert isinstance(port, PythonCanPort)
    assert isinstance(port, CanPort)
    assert port.name == "radar"
    states = [port.state]
    with port:
        states.append(port.state)
    assert states == [BusState.DOWN, BusState.ACTIVE]


def test_a_port_collected_while_open_is_shut_down_and_counted(
    channel: str, port_leak_guard: PortLeakGuard
) -> None:
    leaked_before = python_can_port.leaked_ports()
    PythonCanPort("forgotten", "virtual", channel).open()
    gc.collect()
    assert python_can_port.leaked_ports() == leaked_before + 1
    assert channel not in can.interfaces.virtual.channels  # its bus was shut down
    assert any("garbage-collected" in problem for problem in port_leak_guard.problems())
    port_leak_guard.expect_leaks(1)
    assert port_leak_guard.problems() == []


def test_leak_guard_reports_a_port_left_open(channel: str, port_leak_guard: PortLeakGuard) -> None:
    port = PythonCanPort("left-open", "virtual", channel)
    port.open()
    assert python_can_port.open_ports() == [port]
    assert any("left-open" in problem for problem in port_leak_guard.problems())
    port.close()
    assert python_can_port.open_ports() == []
    assert port_leak_guard.problems() == []


def test_close_from_another_thread_during_receive_raises_port_closed(
    port: PythonCanPort, monkeypatch: pytest.MonkeyPatch
) -> None:
    def closed_meanwhile(self: can.BusABC, timeout: float | None = None) -> can.Message | None:
        port.close()  # what another thread's close() does while this one waits in recv
        raise can.CanOperationError("Cannot operate on a closed bus")

    monkeypatch.setattr(can.interfaces.virtual.VirtualBus, "recv", closed_meanwhile)
    with pytest.raises(PortClosedError):
        port.receive(timeout=1)


def test_a_short_batch_does_not_pin_a_max_frames_buffer(channel: str) -> None:
    with (
        PythonCanPort("a", "virtual", channel) as sender,
        PythonCanPort("b", "virtual", channel) as receiver,
    ):
        sender.send(0x1, b"\x01")
        (batch,) = receive_exactly(receiver, 1, max_frames=4096)
    assert batch.base is None or batch.base.nbytes == batch.nbytes


def test_a_send_only_port_does_not_keep_what_others_send(channel: str) -> None:
    # python-can's virtual bus queues every frame for every bus on the channel, unbounded:
    # a simulator's port that never reads grew by every frame of the box's other simulators.
    from hal.can.registry import SEND_ONLY

    with (
        create_can_port("sim-a", "virtual", channel, wanted=SEND_ONLY) as quiet,
        create_can_port("sim-b", "virtual", channel, wanted=SEND_ONLY) as busy,
        create_can_port("kept", "virtual", channel) as reader,
    ):
        for _ in range(500):
            busy.send(0x100, b"\x01\x02")
        quiet.send(0x200, b"\x03")
        quiet_bus = quiet._bus  # type: ignore[attr-defined]
        reader_bus = reader._bus  # type: ignore[attr-defined]
        assert isinstance(quiet_bus, can.interfaces.virtual.VirtualBus)
        assert quiet_bus.queue.qsize() == 0
        # A port that reads keeps everything for its reader.
        assert reader_bus.queue.qsize() == 501
