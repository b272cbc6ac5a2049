"""``roadgate hal probe`` on this machine (no CAN in its kernel) and on a fake sysfs."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from firmware_py.cli import main
from firmware_py.cli.hal import NO_CAN, format_report
from hal.probe import ARPHRD_CAN, ProbeReport, kernel_has_can, list_can_interfaces, probe


@pytest.fixture
def pty_name() -> Iterator[str]:
    controller, device = os.openpty()
    try:
        yield os.ttyname(device)
    finally:
        os.close(controller)
        os.close(device)


def test_this_kernel_has_no_can_and_the_probe_says_so(
    pty_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert not kernel_has_can(), "this test describes a machine whose kernel lacks CAN"
    assert main(["hal", "probe"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(NO_CAN)
    assert "no SocketCAN support" in out
    assert f"  {pty_name}\n" in out.split("Serial ports:")[1]


def test_json_report_lists_the_pseudo_terminal(
    pty_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["hal", "probe", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["can_supported"] is False
    assert {"path": pty_name, "target": None} in report["serial_ports"]


def fake_interface(sys_net: Path, name: str, link_type: int, operstate: str = "up") -> None:
    (sys_net / name).mkdir(parents=True)
    (sys_net / name / "type").write_text(f"{link_type}\n")
    (sys_net / name / "operstate").write_text(f"{operstate}\n")
    (sys_net / name / "mtu").write_text("72\n")


def test_can_interfaces_are_found_by_link_type(tmp_path: Path) -> None:
    fake_interface(tmp_path, "eth0", 1)
    fake_interface(tmp_path, "rgfakecan1", ARPHRD_CAN, "down")
    fake_interface(tmp_path, "rgfakecan0", ARPHRD_CAN)
    found = list_can_interfaces(tmp_path)
    assert [(c.name, c.operstate, c.mtu) for c in found] == [
        ("rgfakecan0", "up", 72),
        ("rgfakecan1", "down", 72),
    ]
    # ip knows no such interfaces: state and bitrate stay unknown rather than failing.
    assert all(c.bitrate is None and c.state is None for c in found)


def test_report_with_can_interfaces_and_udev_names(tmp_path: Path) -> None:
    fake_interface(tmp_path / "net", "rgfakecan0", ARPHRD_CAN)
    dev = tmp_path / "dev"
    (dev / "serial" / "by-id").mkdir(parents=True)
    (dev / "ttyACM0").write_text("")
    (dev / "gnss0").symlink_to(dev / "ttyACM0")
    (dev / "serial" / "by-id" / "usb-u-blox_AG_ZED-F9P-if00").symlink_to(dev / "ttyACM0")
    report = probe(tmp_path / "net", dev)
    text = format_report(ProbeReport(True, report.can_interfaces, report.serial_ports))
    assert "CAN interfaces:\n  rgfakecan0: can, link up, bitrate unknown\n" in text
    assert [p.path for p in report.serial_ports] == [
        str(dev / "serial/by-id/usb-u-blox_AG_ZED-F9P-if00"),
        str(dev / "gnss0"),
        str(dev / "ttyACM0"),
    ]
    assert report.serial_ports[1].target == str(dev / "ttyACM0")
    empty = format_report(ProbeReport(True, (), ()))
    assert "no CAN interface" in empty
    assert "Serial ports: none found" in empty
