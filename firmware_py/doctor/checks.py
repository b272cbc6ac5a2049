"""Every check of ``roadgate doctor`` for one box config, in the order a user fixes them."""

from __future__ import annotations

from dataclasses import dataclass

from edge.clock_detection import read_kernel_clock
from firmware_py.config.model import BoxConfig
from firmware_py.doctor.broker_check import check_broker
from firmware_py.doctor.can_check import check_can
from firmware_py.doctor.clock_check import check_clock
from firmware_py.doctor.decoder_check import check_decoder
from firmware_py.doctor.disk_check import check_disk
from firmware_py.doctor.findings import Finding
from firmware_py.doctor.gnss_check import check_gnss
from firmware_py.doctor.lock_check import check_lock
from hal.can.received_kernel import compiled_parse
from hal.probe import ip_link_details, probe
from protocols.dbc.kernels import compiled_kernels


@dataclass(frozen=True)
class DoctorSettings:
    """How long the checks that wait may wait."""

    gnss_timeout_s: float = 10.0
    broker_timeout_s: float = 5.0


def run_checks(config: BoxConfig | None, settings: DoctorSettings) -> list[Finding]:
    """The findings for ``config``; without one, only the board (CAN interfaces, clock)."""
    report = probe()
    findings = check_can(None if config is None else config.can, report, ip_link_details)
    if config is None:
        findings.append(check_clock(read_kernel_clock()))
        findings.append(check_decoder(compiled_kernels, compiled_parse))
        return findings
    findings.append(check_gnss(config.gnss, settings.gnss_timeout_s))
    findings.append(
        check_broker(config.uplink.mqtt, config.device.device_id, settings.broker_timeout_s)
    )
    findings.append(check_clock(read_kernel_clock(), simulated=config.simulation.enabled))
    findings.append(check_disk(config.outbox.path, config.outbox.limits))
    findings.append(check_lock(config.outbox.path))
    findings.append(check_decoder(compiled_kernels, compiled_parse))
    return findings
