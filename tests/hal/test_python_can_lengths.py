"""Frames of a length no CAN or CAN FD frame has are dropped where they enter: the python-can
adapter on python-can's ``virtual`` interface, which passes any ``can.Message`` on as sent."""

from __future__ import annotations

from collections.abc import Iterator

import can
import pytest

from hal.can.frames import FD_DATA_LENGTHS, FLAG_FD
from hal.can.python_can_port import PythonCanPort
from tests.hal.can_contract import receive_exactly

BAD_FD_LENGTHS = [n for n in range(65) if n not in FD_DATA_LENGTHS]


@pytest.fixture
def port(channel: str) -> Iterator[PythonCanPort]:
    with PythonCanPort("vehicle", "virtual", channel, fd=True) as opened:
        yield opened


def test_fd_frames_of_every_invalid_length_are_dropped_and_counted(
    port: PythonCanPort, raw_bus: can.BusABC
) -> None:
    for length in BAD_FD_LENGTHS:
        raw_bus.send(can.Message(arbitration_id=0x100, is_fd=True, data=bytes(length)))
    for length in sorted(FD_DATA_LENGTHS):
        raw_bus.send(can.Message(arbitration_id=0x200, is_fd=True, data=bytes(length)))
    batches = receive_exactly(port, len(FD_DATA_LENGTHS))
    lengths = [int(n) for batch in batches for n in batch["dlc"]]
    assert lengths == sorted(FD_DATA_LENGTHS)
    assert all(int(f) & FLAG_FD for batch in batches for f in batch["flags"])
    assert {int(i) for batch in batches for i in batch["arbitration_id"]} == {0x200}
    assert port.counters["rx_bad_length"] == len(BAD_FD_LENGTHS)
    assert port.counters["rx_frames"] == len(FD_DATA_LENGTHS)


@pytest.mark.parametrize("length", [9, 12, 64])
def test_a_classic_frame_longer_than_8_is_dropped_and_counted(
    port: PythonCanPort, raw_bus: can.BusABC, length: int
) -> None:
    raw_bus.send(can.Message(arbitration_id=0x100, is_fd=False, data=bytes(length)))
    raw_bus.send(can.Message(arbitration_id=0x101, is_fd=False, data=bytes(8)))
    (batch,) = receive_exactly(port, 1)
    assert batch["arbitration_id"].tolist() == [0x101]
    assert port.counters["rx_bad_length"] == 1


def test_a_remote_request_for_more_than_8_bytes_is_dropped_and_counted(
    port: PythonCanPort, raw_bus: can.BusABC
) -> None:
    raw_bus.send(can.Message(arbitration_id=0x100, is_remote_frame=True, dlc=12))
    raw_bus.send(can.Message(arbitration_id=0x101, is_remote_frame=True, dlc=8))
    (batch,) = receive_exactly(port, 1)
    assert batch["arbitration_id"].tolist() == [0x101]
    assert batch["dlc"].tolist() == [8]
    assert port.counters["rx_bad_length"] == 1


def test_bad_frames_never_make_a_receive_exceed_max_frames(
    port: PythonCanPort, raw_bus: can.BusABC
) -> None:
    for _ in range(10):
        raw_bus.send(can.Message(arbitration_id=0x100, is_fd=True, data=bytes(10)))
    raw_bus.send(can.Message(arbitration_id=0x200, data=bytes(1)))
    # Four messages at most per call: bad ones count against the bound too.
    received: list[int] = []
    while port.counters["rx_bad_length"] < 10 or not received:
        batch = port.receive(max_frames=4, timeout=0.5)
        assert len(batch) <= 4
        received.extend(batch["arbitration_id"].tolist())
        assert port.counters["rx_bad_length"] <= 10
    assert received == [0x200]
