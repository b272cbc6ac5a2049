"""The pyserial adapter on real pseudo-terminals: lines, garbage, unplug and replug."""

from __future__ import annotations

import contextlib
import gc
import itertools
import logging
import os
import sys
import threading
import time
import tty
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import serial

from hal.errors import PortClosedError, PortOpenError
from hal.serial import pyserial_port
from hal.serial.port import SerialLinePort
from hal.serial.pyserial_port import PySerialLinePort
from tests.hal.gnss_bytes import ACK_ACK, NAV_PVT
from tests.hal.port_leaks import PortLeakGuard

GGA = b"$GNGGA,102436.00,3420.40000,N,10856.40000,E,1,17,0.8,447.0,M,-26.0,M,,*5B"
RMC = b"$GNRMC,102436.00,A,3420.40000,N,10856.40000,E,0.012,,281126,,,A*6A"
DEADLINE_S = 5.0


@dataclass
class Pty:
    """A pseudo-terminal pair: the test writes on ``master``, the port opens ``path``."""

    master: int
    slave: int
    path: str

    @classmethod
    def open(cls) -> Pty:
        master, slave = os.openpty()
        # Raw before anyone writes, so the line discipline neither echoes nor turns CR into LF.
        tty.setraw(slave)
        return cls(master, slave, os.ttyname(slave))

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def unplug(self) -> None:
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):  # already closed by the test
                os.close(fd)


@pytest.fixture
def pty() -> Iterator[Pty]:
    device = Pty.open()
    yield device
    device.unplug()


def read_until(
    port: PySerialLinePort, done: Callable[[list[bytes]], bool], what: str
) -> list[bytes]:
    """Read lines until ``done(lines)``; fails after a deadline instead of sleeping blindly."""
    lines: list[bytes] = []
    deadline = time.monotonic() + DEADLINE_S
    while not done(lines):
        assert time.monotonic() < deadline, f"timed out waiting for {what}; got {lines}"
        lines += port.read_lines(timeout=0.05)
    return lines


def test_lines_written_on_the_device_arrive(pty: Pty) -> None:
    with PySerialLinePort("gnss", pty.path, baudrate=115200) as port:
        assert isinstance(port, SerialLinePort)
        assert port.connected
        pty.write(GGA + b"\r\n" + RMC[:20])
        assert read_until(port, lambda got: len(got) >= 1, "GGA") == [GGA]
        pty.write(RMC[20:] + b"\r\n")
        assert read_until(port, lambda got: len(got) >= 1, "RMC") == [RMC]
        assert port.counters["lines"] == 2
        assert port.counters["bytes"] == len(GGA) + len(RMC) + 4


def test_read_times_out_empty_when_the_device_is_silent(pty: Pty) -> None:
    with PySerialLinePort("gnss", pty.path) as port:
        started = time.monotonic()
        assert port.read_lines(timeout=0.05) == []
        assert 0.04 <= time.monotonic() - started < DEADLINE_S


def test_garbage_and_ubx_binary_are_dropped_and_counted(
    pty: Pty, caplog: pytest.LogCaptureFixture
) -> None:
    noise = b"\x00\xff\x13line noise "
    stream = noise + GGA + b"\r\n" + NAV_PVT + ACK_ACK + RMC + b"\r\n" + NAV_PVT + GGA + b"\n"
    with (
        caplog.at_level(logging.WARNING, logger="hal.serial"),
        PySerialLinePort("gnss", pty.path) as port,
    ):
        pty.write(stream)
        lines = read_until(port, lambda got: len(got) >= 3, "three sentences")
        counters = port.counters
    assert lines == [GGA, RMC, GGA]
    assert counters["bytes"] == len(stream)
    assert counters["binary_lines"] == 2
    # Everything but the sentences is garbage, except the CR and LF inside each NAV-PVT:
    # those end (empty) lines, so they count as line ends.
    assert counters["garbage_bytes"] == len(noise) + 2 * (len(NAV_PVT) - 2) + len(ACK_ACK)
    garbage_logs = [r for r in caplog.records if "not NMEA" in r.getMessage()]
    assert 1 <= len(garbage_logs) <= 3  # once per burst, not once per read or byte


def test_unplug_and_replug_through_a_udev_style_symlink(
    pty: Pty, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link = tmp_path / "gnss0"  # what a udev rule would make: /dev/gnss0 -> ttyACM0
    link.symlink_to(pty.path)
    caplog.set_level(logging.INFO, logger="hal.serial")
    with PySerialLinePort("gnss", str(link), reopen_interval=0.05) as port:
        pty.write(GGA + b"\r\n")
        assert read_until(port, lambda got: len(got) >= 1, "the first line") == [GGA]
        pty.write(RMC[:25])  # half a sentence when the cable is pulled
        read_until(port, lambda _: port.counters["bytes"] == len(GGA) + 27, "the half line")

        pty.unplug()
        read_until(port, lambda _: not port.connected, "the port to notice the unplug")
        for _ in range(5):  # more reads while unplugged: no raise, no new log lines
            assert port.read_lines(timeout=0.02) == []
        assert not port.connected
        assert port.counters["disconnects"] == 1
        assert port.counters["reopens"] == 0

        replugged = Pty.open()
        try:
            tmp_link = tmp_path / "gnss0.new"
            tmp_link.symlink_to(replugged.path)
            tmp_link.replace(link)  # re-point atomically, as udev does
            # pyserial flushes the input on open, so the device talks once the port is back.
            read_until(port, lambda _: port.connected, "the port to reopen")
            replugged.write(RMC + b"\r\n")
            assert read_until(port, lambda got: len(got) >= 1, "a line after replug") == [RMC]
            assert port.connected
            counters = port.counters
        finally:
            replugged.unplug()
    assert counters["disconnects"] == 1
    assert counters["reopens"] == 1
    assert counters["lines"] == 2
    assert counters["garbage_bytes"] == 25  # the half line cut off by the unplug
    messages = [r.getMessage() for r in caplog.records if r.name == "hal.serial"]
    assert len([m for m in messages if "unavailable" in m]) == 1
    assert len([m for m in messages if "is back" in m]) == 1


def test_reopen_is_attempted_at_most_every_interval(
    pty: Pty, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts: list[float] = []
    real_serial_for_url = serial.serial_for_url

    def counting_serial_for_url(url: str, **kwargs: Any) -> object:
        attempts.append(time.monotonic())
        return real_serial_for_url(url, **kwargs)

    monkeypatch.setattr(serial, "serial_for_url", counting_serial_for_url)
    with PySerialLinePort("gnss", pty.path, reopen_interval=0.2) as port:
        attempts.clear()
        pty.unplug()
        read_until(port, lambda _: not port.connected, "the unplug")
        deadline = time.monotonic() + 0.7
        while time.monotonic() < deadline:
            port.read_lines(timeout=0.01)
        assert 2 <= len(attempts) <= 4
        gaps = [b - a for a, b in itertools.pairwise(attempts)]
        assert all(gap >= 0.19 for gap in gaps), gaps


def test_opening_a_missing_device_fails_fast_with_a_helpful_message(tmp_path: Path) -> None:
    port = PySerialLinePort("gnss", str(tmp_path / "ttyNOPE"))
    with pytest.raises(PortOpenError, match=r"ttyNOPE.*plugged in.*dialout"):
        port.open()
    assert not port.is_open
    assert not port.connected


def test_missing_pyserial_says_what_to_install(pty: Pty, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "serial", None)  # makes ``import serial`` raise ImportError
    with pytest.raises(PortOpenError, match="pip install pyserial"):
        PySerialLinePort("gnss", pty.path).open()


def test_close_is_idempotent_and_reads_after_close_raise(pty: Pty) -> None:
    port = PySerialLinePort("gnss", pty.path)
    with pytest.raises(PortClosedError):
        port.read_lines(timeout=0)
    with port as entered:
        assert entered is port
        assert port.is_open
    assert not port.connected
    port.close()
    with pytest.raises(PortClosedError):
        port.read_lines(timeout=0)


def test_constructor_and_read_reject_bad_arguments(pty: Pty) -> None:
    with pytest.raises(ValueError, match="baudrate"):
        PySerialLinePort("gnss", pty.path, baudrate=0)
    with pytest.raises(ValueError, match="reopen_interval"):
        PySerialLinePort("gnss", pty.path, reopen_interval=0)
    with PySerialLinePort("gnss", pty.path) as port, pytest.raises(ValueError, match="timeout"):
        port.read_lines(timeout=-1)


def test_a_port_collected_while_open_is_closed_and_counted(
    pty: Pty, port_leak_guard: PortLeakGuard
) -> None:
    leaked_before = pyserial_port.leaked_ports()
    PySerialLinePort("forgotten", pty.path).open()
    gc.collect()
    assert pyserial_port.leaked_ports() == leaked_before + 1
    assert pyserial_port.open_ports() == []
    assert any("garbage-collected" in problem for problem in port_leak_guard.problems())
    port_leak_guard.expect_leaks(1)
    assert port_leak_guard.problems() == []


def test_close_from_another_thread_during_a_read_is_not_an_unplug(
    pty: Pty, caplog: pytest.LogCaptureFixture
) -> None:
    port = PySerialLinePort("gnss", pty.path, reopen_interval=0.01)
    port.open()
    outcome: list[object] = []

    def reader() -> None:
        try:
            outcome.append(port.read_lines(timeout=1.0))
        except PortClosedError as err:
            outcome.append(err)

    with caplog.at_level(logging.WARNING, logger="hal.serial"):
        thread = threading.Thread(target=reader)
        thread.start()
        time.sleep(0.1)  # let the reader block in the read; either order is a valid outcome
        port.close()
        thread.join(timeout=DEADLINE_S)
    assert not thread.is_alive()
    (result,) = outcome
    assert isinstance(result, PortClosedError) or result == [], result
    assert port.counters["disconnects"] == 0
    assert port.counters["reopens"] == 0
    assert not port.connected
    assert [r.getMessage() for r in caplog.records if "unavailable" in r.getMessage()] == []
