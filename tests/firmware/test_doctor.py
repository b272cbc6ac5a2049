"""``roadgate doctor`` (issue 14, item 7): each check against real parts where this machine
has them (a pseudo-terminal GNSS, a private Mosquitto, the kernel's clock, the filesystem,
the instance lock), the CAN check against probe reports as the kernel would give them (this
kernel has no CAN), and the command end to end."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.clock_detection import KernelClockState
from edge.uplink.outbox import OutboxLimits
from firmware_py.box.instance_lock import InstanceLock, lock_path
from firmware_py.config.loader import EXAMPLES_DIR
from firmware_py.config.model import CanBusConfig, GnssConfig
from firmware_py.doctor.broker_check import check_broker
from firmware_py.doctor.can_check import check_can, error_counters
from firmware_py.doctor.clock_check import check_clock
from firmware_py.doctor.decoder_check import check_decoder
from firmware_py.doctor.disk_check import check_disk
from firmware_py.doctor.findings import Finding
from firmware_py.doctor.gnss_check import check_gnss
from firmware_py.doctor.lock_check import check_lock
from hal.can.received_kernel import compiled_parse
from hal.probe import CanInterface, ProbeReport, kernel_has_can
from protocols.dbc.kernels import compiled_kernels
from protocols.mqtt_connection import MqttConnection, MqttTls
from protocols.nmea.fields import checksum
from tests.support.certs import TestPki
from tests.support.mosquitto import Broker, free_port

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def bus(
    name: str = "vehicle", channel: str = "can0", bitrate: int | None = 500_000
) -> CanBusConfig:
    return CanBusConfig(name, "socketcan", channel, bitrate, False, Path("x.dbc"), None)


def report(*interfaces: CanInterface, supported: bool = True) -> ProbeReport:
    return ProbeReport(supported, interfaces, ())


def no_details(_name: str) -> dict[str, object]:
    return {}


# --- CAN -------------------------------------------------------------------------------------


def test_a_kernel_without_can_says_so_when_a_socketcan_bus_is_configured() -> None:
    [finding] = check_can([bus()], report(supported=False), no_details)
    assert not finding.ok
    assert finding.detail == "no CAN support in this kernel"
    assert "modprobe can can_raw" in finding.fix


def test_a_kernel_without_can_is_fine_for_virtual_buses_only() -> None:
    virtual = CanBusConfig("sim", "virtual", "x", 500_000, False, Path("x.dbc"), None)
    [finding] = check_can([virtual], report(supported=False), no_details)
    assert finding.ok
    assert "no CAN support in this kernel" in finding.detail


def test_a_missing_interface_is_named() -> None:
    [finding] = check_can(
        [bus(channel="can1")], report(CanInterface("can0", "can", "up")), no_details
    )
    assert not finding.ok
    assert "no CAN interface 'can1'" in finding.detail


def test_a_down_interface_gets_the_ip_link_commands_with_the_bitrate() -> None:
    down = CanInterface("can0", "can", "down", "STOPPED", 500_000)
    [finding] = check_can([bus()], report(down), no_details)
    assert not finding.ok
    assert "can0 is down" in finding.detail
    assert "type can bitrate 500000" in finding.fix


def test_a_wrong_bitrate_is_reported_against_the_config() -> None:
    up = CanInterface("can0", "can", "up", "ERROR-ACTIVE", 250_000)
    [finding] = check_can([bus()], report(up), no_details)
    assert not finding.ok
    assert "250000 bit/s, the config says 500000" in finding.detail


def test_a_bus_off_controller_shows_its_error_counters() -> None:
    off = CanInterface("can0", "can", "up", "BUS-OFF", 500_000)
    details = {
        "linkinfo": {
            "info_data": {"berr_counter": {"tx": 255, "rx": 3}},
            "info_xstats": {"bus_off": 2, "error_passive": 4, "restarts": 1},
        },
        "stats64": {"rx": {"dropped": 7}},
    }
    [finding] = check_can([bus()], report(off), lambda _n: details)
    assert not finding.ok
    assert "BUS-OFF (TEC 255, REC 3, bus-off 2, error-passive 4, restarts 1, rx dropped 7)" in (
        finding.detail
    )
    assert "termination" in finding.fix


def test_a_healthy_bus_holds() -> None:
    good = CanInterface("can0", "can", "up", "ERROR-ACTIVE", 500_000)
    [finding] = check_can([bus()], report(good), no_details)
    assert finding.ok, finding.line()
    assert finding.line().startswith("ok   can.vehicle: can0 (can) up at 500000 bit/s")


def test_without_a_config_every_interface_is_checked() -> None:
    found = check_can(
        None,
        report(CanInterface("vcan0", "vcan", "unknown"), CanInterface("can0", "can", "down")),
        no_details,
    )
    assert [f.ok for f in found] == [True, False]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)


@given(
    st.dictionaries(
        st.sampled_from(["linkinfo", "stats64", "info_data", "x"]),
        json_values
        | st.fixed_dictionaries(
            {"info_data": json_values, "info_xstats": json_values}, optional={"x": json_values}
        ),
    )
)
def test_error_counters_never_raise_on_whatever_ip_prints(details: dict[str, object]) -> None:
    counters = error_counters(details)
    for value in vars(counters).values():
        assert value is None or isinstance(value, int)
    assert isinstance(counters.describe(), str)


# --- GNSS ------------------------------------------------------------------------------------


def sentence(body: str) -> bytes:
    return f"${body}*{checksum(body):02X}\r\n".encode()


def epoch(second: int, *, fix: bool) -> bytes:
    hhmmss = f"1235{second % 60:02d}.00"
    if fix:
        gga = f"GPGGA,{hhmmss},3413.410,N,10853.430,E,4,12,0.8,415.0,M,-28.0,M,,"
        rmc = f"GPRMC,{hhmmss},A,3413.410,N,10853.430,E,0.0,0.0,041226,,"
    else:
        gga = f"GPGGA,{hhmmss},,,,,0,00,,,M,,M,,"
        rmc = f"GPRMC,{hhmmss},V,,,,,,,041226,,"
    return sentence(gga) + sentence(rmc)


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[Path, dict[str, bool]]]:
    """A GNSS receiver on a pseudo-terminal: NMEA epochs every 50 ms while ``talk`` is set,
    with a fix while ``fix`` is set."""
    master, slave = pty.openpty()
    link = tmp_path / "gnss0"
    link.symlink_to(os.ttyname(slave))
    os.set_blocking(master, False)
    flags = {"talk": True, "fix": True}
    stop = threading.Event()

    def run() -> None:
        second = 0
        while not stop.wait(0.05):
            second += 1
            if flags["talk"]:
                # Nobody reading and the buffer full: a receiver talks on regardless.
                with contextlib.suppress(OSError):
                    os.write(master, epoch(second, fix=flags["fix"]))

    thread = threading.Thread(target=run, name="nmea-pty", daemon=True)
    thread.start()
    try:
        yield link, flags
    finally:
        stop.set()
        thread.join()
        os.close(slave)
        os.close(master)


def test_a_receiver_with_a_fix_holds(receiver: tuple[Path, dict[str, bool]]) -> None:
    link, _ = receiver
    finding = check_gnss(GnssConfig(str(link), 115200, False), timeout_s=5)
    assert finding.ok, finding.line()
    assert "fix (RTK_FIXED, 12 satellites)" in finding.detail


def test_a_receiver_without_a_fix_is_told_to_see_the_sky(
    receiver: tuple[Path, dict[str, bool]],
) -> None:
    link, flags = receiver
    flags["fix"] = False
    finding = check_gnss(GnssConfig(str(link), 115200, False), timeout_s=1)
    assert not finding.ok
    assert "no fix in 1 s" in finding.detail
    assert "sky" in finding.fix


def test_a_silent_receiver_is_told_to_check_the_baud_rate(
    receiver: tuple[Path, dict[str, bool]],
) -> None:
    link, flags = receiver
    flags["talk"] = False
    finding = check_gnss(GnssConfig(str(link), 4800, False), timeout_s=0.5)
    assert not finding.ok
    assert f"no NMEA from {link}" in finding.detail
    assert "baudrate (4800)" in finding.fix


def test_a_missing_gnss_port_is_named(tmp_path: Path) -> None:
    finding = check_gnss(GnssConfig(str(tmp_path / "nope"), 9600, False), timeout_s=1)
    assert not finding.ok
    assert finding.detail == f"no GNSS port {tmp_path / 'nope'}"


# --- broker ----------------------------------------------------------------------------------


def test_the_broker_is_reached(mosquitto: Broker) -> None:
    finding = check_broker(MqttConnection(mosquitto.host, mosquitto.port), "dev-1", 5)
    assert finding.ok, finding.line()
    assert f"connected to {mosquitto.host}:{mosquitto.port} (plaintext)" in finding.detail


def test_a_closed_port_is_told_to_start_the_broker() -> None:
    finding = check_broker(MqttConnection("127.0.0.1", free_port()), "dev-1", 2)
    assert not finding.ok
    assert "start the broker" in finding.fix


def test_tls_against_a_plaintext_listener_points_at_the_tls_settings(
    mosquitto: Broker, tmp_path: Path
) -> None:
    pki = TestPki(tmp_path / "pki")
    tls = MqttTls(ca_certs=str(pki.ca_file))
    finding = check_broker(MqttConnection(mosquitto.host, mosquitto.port, tls=tls), "dev-1", 3)
    assert not finding.ok
    assert "(TLS)" in finding.detail
    assert "ca_file" in finding.fix


# --- clock, disk, lock -----------------------------------------------------------------------


def test_an_unsynchronised_clock_is_told_to_enable_a_time_daemon() -> None:
    finding = check_clock(KernelClockState(False, 16.0, False))
    assert not finding.ok
    assert "timedatectl set-ntp true" in finding.fix


def test_a_clock_synchronised_by_chrony_on_gnss_holds() -> None:
    finding = check_clock(KernelClockState(True, 0.002, False), lambda: "GPS")
    assert finding == Finding("clock", True, "synchronised (GNSS), max error 2.0 ms")


def test_a_clock_synchronised_without_chrony_is_ntp() -> None:
    finding = check_clock(KernelClockState(True, 0.05, False), lambda: None)
    assert finding.ok
    assert "(NTP)" in finding.detail


def test_the_outbox_has_room(tmp_path: Path) -> None:
    finding = check_disk(tmp_path / "state" / "outbox.sqlite3", OutboxLimits())
    assert finding.ok, finding.line()


def test_an_outbox_larger_than_the_disk_is_reported(tmp_path: Path) -> None:
    huge = 1 << 60
    limits = OutboxLimits(max_bytes=huge, hard_max_bytes=huge)
    finding = check_disk(tmp_path / "outbox.sqlite3", limits)
    assert not finding.ok
    assert "max_bytes" in finding.fix


def test_the_lock_is_free_then_held_by_a_box(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox.sqlite3"
    assert check_lock(outbox).ok
    path = lock_path(outbox)
    assert path is not None
    with InstanceLock(path):
        finding = check_lock(outbox)
    assert not finding.ok
    assert f"held by pid {os.getpid()}" in finding.detail
    assert check_lock(outbox).ok


def test_the_decoder_says_which_way_it_decodes_and_how_to_build_the_kernel() -> None:
    assert compiled_kernels is not None  # built with the package (see test_dbc_blocks)
    assert compiled_parse is not None  # likewise (see test_received_kernel)
    built = check_decoder(compiled_kernels, compiled_parse)
    assert built.ok
    assert built.detail == "compiled kernels parse CAN bursts and decode DBC signals"
    for kernels, reader, numpy in (
        (None, None, "parse CAN bursts and decode DBC signals"),
        (compiled_kernels, None, "parse CAN bursts ("),
        (None, compiled_parse, "decode DBC signals ("),
    ):
        missing = check_decoder(kernels, reader)
        assert missing.ok  # the box still parses and decodes, the same values
        assert f"numpy passes {numpy}" in missing.detail
        assert "apt-get install gcc python3-dev" in missing.detail


# --- the command -----------------------------------------------------------------------------


def doctor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "firmware_py.cli", "doctor", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=PROJECT_ROOT,
        check=False,
    )


def box_config(tmp_path: Path, port: int) -> Path:
    text = (EXAMPLES_DIR / "vehicle-toyota.toml").read_text()
    text = text.replace("port = 1883", f"port = {port}", 1)
    config = tmp_path / "vehicle.toml"
    config.write_text(
        text + f'\n[outbox]\npath = "{tmp_path / "outbox.sqlite3"}"\n', encoding="utf-8"
    )
    return config


def test_doctor_without_a_config_says_whether_this_kernel_has_can() -> None:
    done = doctor()
    if kernel_has_can():
        assert "no CAN support" not in done.stdout
    else:  # this development machine, and most containers
        assert "FAIL can: no CAN support in this kernel; fix: " in done.stdout
        assert done.returncode == 1
    assert done.returncode == (1 if "FAIL" in done.stdout else 0)


def test_doctor_on_a_simulated_box_with_its_broker_passes(
    mosquitto: Broker, tmp_path: Path
) -> None:
    done = doctor("--config", str(box_config(tmp_path, mosquitto.port)), "--json")
    result = json.loads(done.stdout)
    assert result["ok"], done.stdout
    assert [f["check"] for f in result["findings"]] == [
        "can",
        "gnss",
        "broker",
        "clock",
        "disk",
        "lock",
        "decoder",
    ]
    assert result["findings"][-1]["detail"] == (
        "compiled kernels parse CAN bursts and decode DBC signals"
    )
    assert done.returncode == 0


def test_doctor_fails_on_a_closed_broker_port_one_line_each(tmp_path: Path) -> None:
    done = doctor("--config", str(box_config(tmp_path, free_port())), "--broker-timeout", "2")
    lines = done.stdout.splitlines()
    assert len(lines) == 7
    [broker] = [line for line in lines if line.startswith("FAIL broker:")]
    assert "; fix: start the broker" in broker
    assert done.returncode == 1
