"""The composition root binds the signal controller's UDP port and wires it to the pipeline."""

from __future__ import annotations

import socket
from contextlib import ExitStack
from pathlib import Path

import pytest

from firmware_py.box import SIGNAL_CONTROLLER_PORT, build_box
from firmware_py.config.loader import EXAMPLES_DIR, load_box_config
from hal.errors import PortOpenError
from hal.net.udp_port import UdpDatagramPort

ROADSIDE = (EXAMPLES_DIR / "roadside.toml").read_text()
PLAN = ROADSIDE[ROADSIDE.index("[roadside.signal_plan]") : ROADSIDE.index("\n]\n") + 3]


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_a_box_with_a_signal_controller_binds_its_port(tmp_path: Path) -> None:
    port = free_udp_port()
    controller = f"[roadside.signal_controller]\nport = {port}\nintersection_id = 101\n"
    path = tmp_path / "box.toml"
    path.write_text(
        ROADSIDE.replace(PLAN, controller) + f'\n[outbox]\npath = "{tmp_path / "o.sqlite3"}"\n'
    )
    config = load_box_config(path)
    with ExitStack() as stack:
        box = build_box(config, stack)
        counters = box.pipeline.health.snapshot().counters
        assert counters[f"udp.{SIGNAL_CONTROLLER_PORT}.rx_datagrams"] == 0
        assert counters["signal_controller.silences"] == 0
        with pytest.raises(PortOpenError, match="in use"):
            UdpDatagramPort("second", "127.0.0.1", port).open()
    with UdpDatagramPort("after", "127.0.0.1", port):  # released with the box
        pass
