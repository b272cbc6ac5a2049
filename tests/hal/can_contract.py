"""The contract every ``CanPort`` adapter must meet, as a test base class.

Subclass ``CanPortContract`` in a ``test_*.py`` module (name the subclass ``Test...``) and
implement ``make_port_pair``; pytest then runs every test below against that adapter. The
python-can ``virtual`` adapter runs everywhere; a SocketCAN vcan subclass runs where the kernel
has CAN (the HIL VM).
"""

from __future__ import annotations

import abc
import time
from collections.abc import Iterator

import numpy as np
import pytest

from hal.can.frames import (
    FLAG_BRS,
    FLAG_EXTENDED,
    FLAG_FD,
    FLAG_REMOTE,
    FRAME_DTYPE,
    MAX_DATA,
    FrameBatch,
)
from hal.can.port import BusState, CanPort
from hal.errors import PortClosedError

Pair = tuple[CanPort, CanPort]

DEADLINE_S = 5.0


def receive_exactly(port: CanPort, count: int, *, max_frames: int = 1024) -> list[FrameBatch]:
    """The batches ``port`` returns until ``count`` frames arrived; fails after a deadline."""
    batches: list[FrameBatch] = []
    received = 0
    deadline = time.monotonic() + DEADLINE_S
    while received < count:
        assert time.monotonic() < deadline, f"only {received} of {count} frames arrived"
        batch = port.receive(max_frames=max_frames, timeout=0.05)
        assert batch.dtype == FRAME_DTYPE
        received += len(batch)
        if len(batch):
            batches.append(batch)
    assert received == count, f"{received} frames arrived, {count} were sent"
    return batches


class CanPortContract(abc.ABC):
    """Tests any ``CanPort`` adapter must pass. Not collected itself (no ``Test`` prefix)."""

    @abc.abstractmethod
    def make_port_pair(self, *, fd: bool = False) -> Pair:
        """Two unopened ports on one bus that no other test uses (FD-capable if ``fd``)."""

    @pytest.fixture
    def pair(self) -> Iterator[Pair]:
        sender, receiver = self.make_port_pair()
        with sender, receiver:
            yield sender, receiver

    def test_is_a_can_port(self) -> None:
        sender, receiver = self.make_port_pair()
        assert isinstance(sender, CanPort)
        assert isinstance(receiver, CanPort)
        assert sender.name != receiver.name

    def test_open_and_close_are_idempotent(self) -> None:
        port, _ = self.make_port_pair()
        states = [port.state]
        port.open()
        port.open()
        states.append(port.state)
        port.close()
        port.close()
        states.append(port.state)
        assert states == [BusState.DOWN, BusState.ACTIVE, BusState.DOWN]

    @pytest.mark.parametrize(
        ("arbitration_id", "extended", "data"),
        [
            (0x000, False, b""),
            (0x123, False, b"\x01"),
            (0x7FF, False, bytes(range(0xF8, 0x100))),
            (0x0AB, True, b"\x00\xff"),  # small id, still an extended frame
            (0x18FEF100, True, b"\xde\xad\xbe\xef\x00\x01\x02"),  # J1939-style id
            (0x1FFFFFFF, True, bytes(8)),
        ],
    )
    def test_round_trip_keeps_id_kind_length_and_data(
        self, pair: Pair, arbitration_id: int, extended: bool, data: bytes
    ) -> None:
        sender, receiver = pair
        sender.send(arbitration_id, data, extended=extended)
        (batch,) = receive_exactly(receiver, 1)
        frame = batch[0]
        assert int(frame["arbitration_id"]) == arbitration_id
        assert bool(frame["flags"] & FLAG_EXTENDED) is extended
        assert not frame["flags"] & FLAG_FD
        assert int(frame["dlc"]) == len(data)
        assert bytes(frame["data"][: len(data)]) == data
        assert not frame["data"][len(data) :].any()
        assert abs(float(frame["timestamp"]) - time.time()) < 60

    def test_fd_round_trip_carries_64_bytes(self) -> None:
        sender, receiver = self.make_port_pair(fd=True)
        payloads = [bytes(range(64)), bytes(range(100, 112)), b"\x07"]
        with sender, receiver:
            for payload in payloads:
                sender.send(0x456, payload, fd=True)
            frames = np.concatenate(receive_exactly(receiver, len(payloads)))
        assert [bytes(f["data"][: f["dlc"]]) for f in frames] == payloads
        assert (frames["flags"] & FLAG_FD).all()

    def test_a_batch_returned_is_the_callers(self, pair: Pair) -> None:
        # The roadside unit holds a radar's reads until they may complete a list: a later
        # receive must not write into a batch already returned.
        sender, receiver = pair
        sender.send(0x101, b"\x01\x02")
        (first,) = receive_exactly(receiver, 1)
        kept = first.copy()
        for i in range(20):
            sender.send(0x200 + i, bytes([i] * 8))
        later = receive_exactly(receiver, 20)
        assert first.tobytes() == kept.tobytes()
        assert not any(np.shares_memory(first, batch) for batch in later)

    def test_batch_of_500_frames_arrives_complete_and_in_order(self, pair: Pair) -> None:
        sender, receiver = pair
        count = 500
        for i in range(count):
            sender.send(i, i.to_bytes(2, "big") + bytes([i % 7] * (i % 7)), extended=True)
        batches = receive_exactly(receiver, count)
        frames = np.concatenate(batches)
        assert frames["arbitration_id"].tolist() == list(range(count))
        assert frames["dlc"].tolist() == [2 + i % 7 for i in range(count)]
        assert [int.from_bytes(bytes(f["data"][:2]), "big") for f in frames] == list(range(count))
        assert max(len(b) for b in batches) > 1, "frames were not batched"
        assert sender.counters["tx_frames"] == count
        assert receiver.counters["rx_frames"] == count

    def test_receive_returns_at_most_max_frames(self, pair: Pair) -> None:
        sender, receiver = pair
        for i in range(10):
            sender.send(0x100 + i, bytes([i]))
        first = receive_exactly(receiver, 4, max_frames=4)
        assert [len(b) for b in first] == [4]
        rest = np.concatenate(receive_exactly(receiver, 6))
        assert rest["arbitration_id"].tolist() == list(range(0x104, 0x10A))

    def test_timeout_returns_an_empty_batch(self, pair: Pair) -> None:
        _, receiver = pair
        started = time.monotonic()
        batch = receiver.receive(timeout=0.05)
        waited = time.monotonic() - started
        assert batch.dtype == FRAME_DTYPE
        assert batch.shape == (0,)
        assert 0.04 <= waited < DEADLINE_S

    def test_sender_does_not_receive_its_own_frames(self, pair: Pair) -> None:
        sender, receiver = pair
        sender.send(0x321, b"own")
        receive_exactly(receiver, 1)
        assert len(sender.receive(timeout=0.05)) == 0

    def test_send_rejects_impossible_frames(self, pair: Pair) -> None:
        sender, _ = pair
        with pytest.raises(ValueError, match="id"):
            sender.send(0x800, b"")
        with pytest.raises(ValueError, match="id"):
            sender.send(0x2000_0000, b"", extended=True)
        with pytest.raises(ValueError, match="id"):
            sender.send(-1, b"")
        with pytest.raises(ValueError, match="8 bytes"):
            sender.send(0x1, bytes(9))
        with pytest.raises(ValueError, match="fd"):
            sender.send(0x1, bytes(12), fd=True)  # the pair was opened without FD
        assert sender.counters["tx_frames"] == 0

    def test_remote_requests_arrive_with_their_requested_length(self, pair: Pair) -> None:
        sender, receiver = pair
        sender.send_remote(0x7FF, 6)
        sender.send_remote(0x18FEF100, 0, extended=True)
        frames = np.concatenate(receive_exactly(receiver, 2))
        assert frames["arbitration_id"].tolist() == [0x7FF, 0x18FEF100]
        assert frames["flags"].tolist() == [FLAG_REMOTE, FLAG_REMOTE | FLAG_EXTENDED]
        assert frames["dlc"].tolist() == [6, 0]
        assert not frames["data"].any()
        assert sender.counters["tx_frames"] == 2

    def test_send_remote_rejects_impossible_requests(self, pair: Pair) -> None:
        sender, _ = pair
        with pytest.raises(ValueError, match="id"):
            sender.send_remote(0x800, 1)
        with pytest.raises(ValueError, match=r"0\.\.8"):
            sender.send_remote(0x1, 9)
        with pytest.raises(ValueError, match=r"0\.\.8"):
            sender.send_remote(0x1, -1)
        assert sender.counters["tx_frames"] == 0

    def test_bit_rate_switch_is_carried_and_only_for_fd(self) -> None:
        sender, receiver = self.make_port_pair(fd=True)
        with sender, receiver:
            with pytest.raises(ValueError, match="bit-rate switch"):
                sender.send(0x1, b"x", bitrate_switch=True)
            sender.send(0x1, bytes(16), fd=True, bitrate_switch=True)
            sender.send(0x2, bytes(16), fd=True)
            frames = np.concatenate(receive_exactly(receiver, 2))
        assert frames["flags"].tolist() == [FLAG_FD | FLAG_BRS, FLAG_FD]

    def test_fd_frames_need_a_valid_fd_length(self) -> None:
        sender, _ = self.make_port_pair(fd=True)
        with sender, pytest.raises(ValueError, match="CAN FD"):
            sender.send(0x1, bytes(MAX_DATA - 1), fd=True)

    def test_operations_on_a_closed_port_raise(self) -> None:
        port, _ = self.make_port_pair()
        with pytest.raises(PortClosedError):
            port.receive(timeout=0)
        with pytest.raises(PortClosedError):
            port.send(0x1, b"")
        with pytest.raises(PortClosedError):
            port.send_remote(0x1, 0)
        port.open()
        port.close()
        with pytest.raises(PortClosedError):
            port.receive(timeout=0)
        with pytest.raises(PortClosedError):
            port.send(0x1, b"")

    def test_context_manager_opens_and_closes(self) -> None:
        port, _ = self.make_port_pair()
        with port as entered:
            assert entered is port
            states = [port.state]
            assert len(port.receive(timeout=0)) == 0
        states.append(port.state)
        assert states == [BusState.ACTIVE, BusState.DOWN]
        with pytest.raises(PortClosedError):
            port.receive(timeout=0)

    def test_context_manager_closes_when_the_body_raises(self) -> None:
        port, _ = self.make_port_pair()
        with pytest.raises(RuntimeError, match="boom"), port:
            raise RuntimeError("boom")
        assert port.state is BusState.DOWN

    def test_a_port_can_be_reopened_after_close(self, pair: Pair) -> None:
        sender, receiver = pair
        receiver.close()
        receiver.open()
        sender.send(0x42, b"again")
        (batch,) = receive_exactly(receiver, 1)
        assert bytes(batch[0]["data"][:5]) == b"again"
