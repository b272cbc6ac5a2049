"""The C-V2X radio emulator on real UDP sockets: it records what the box sends (kernel
receive times, decoded), sends remote stations' BSMs from the ground truth at its rate, and
the shipped scenarios render box configs with its ports."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.geo import GeoPoint
from firmware_py.config.loader import load_box_config
from firmware_py.simulation.world import INTERSECTION, Actor, Phase
from hal.net.udp_link import UdpLink
from hil.clock import ScenarioClock
from hil.commands import SCENARIO_DIR
from hil.emulators import CV2xRadioEmulator
from hil.emulators.cv2x_radio import REMOTE_STATION_BASE
from hil.runner import free_udp_port, render_box_config
from hil.scenario_engine import CV2xRadioSpec, load_scenario
from hil.world import GroundTruth
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.v2x import decode_message_frame, encode_bsm, encode_spat, station_id_bytes
from tests.support.waiting import wait_until

TRUTH = GroundTruth(
    INTERSECTION,
    {
        "other": Actor(
            "other",
            "car",
            start_east_m=80.0,
            start_north_m=1.75,
            heading_deg=270.0,
            speed_mps=10.0,
            phases=(Phase(60.0),),
            length_m=4.5,
            width_m=1.8,
            rcs_dbsm=10.0,
        )
    },
)


@pytest.fixture
def box() -> Iterator[tuple[UdpLink, int]]:
    """The box's side of the radio link, and the radio's port it sends to."""
    radio_port = free_udp_port()
    with UdpLink("v2x-radio", "127.0.0.1", 0, peer_host="127.0.0.1", peer_port=radio_port) as link:
        yield link, radio_port


def radio_for(box: tuple[UdpLink, int], **options: object) -> CV2xRadioEmulator:
    link, radio_port = box
    return CV2xRadioEmulator(
        "radio0",
        TRUTH,
        listen_port=radio_port,
        box_port=link.local_address[1],
        **options,  # type: ignore[arg-type]
    )


def test_it_records_what_the_box_sends_with_arrival_times(box: tuple[UdpLink, int]) -> None:
    link, _ = box
    radio = radio_for(box)
    clock = ScenarioClock()
    radio.start(clock)
    try:
        state = pb.VehicleState(
            position=pb.Position(latitude_deg=34.2, longitude_deg=108.9), speed_mps=12.0
        )
        link.send(encode_bsm(state, vehicle_id=station_id_bytes(7), msg_cnt=3, unix_s=time.time()))
        spat = pb.SignalPhaseTiming(
            intersection_id=101,
            phases=[pb.PhaseState(signal_group=1, state=pb.SIGNAL_STATE_GREEN, likely_end_s=2)],
        )
        link.send(encode_spat(spat, msg_cnt=0, unix_s=time.time()))
        link.send(b"\xff\xff")
        sent_s = clock.now_s()
        wait_until(lambda: len(radio.sent) >= 2, 2.0, "the BSM and the SPAT on the air")
    finally:
        radio.stop()
    (t_bsm, kind_bsm, bsm), (t_spat, kind_spat, _) = radio.sent
    assert (kind_bsm, kind_spat) == ("bsm", "spat")
    assert bsm["station_id"] == 7
    assert bsm["speed_mps"] == pytest.approx(12.0)
    assert abs(t_bsm - sent_s) < 0.1
    assert t_bsm <= t_spat
    assert radio.stats["received"] == 2
    assert radio.stats["rejected"] == 1
    assert radio.stats["received.bsm"] == 1


def test_it_broadcasts_remote_bsms_from_the_ground_truth(box: tuple[UdpLink, int]) -> None:
    link, _ = box
    radio = radio_for(box, remote_actors=("other",), rate_hz=20.0)
    clock = ScenarioClock()
    radio.start(clock)
    heard: list[tuple[float, dict[str, Any]]] = []
    try:
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            for data, stamp in link.receive(timeout=0.05):
                kind, fields = decode_message_frame(data)
                assert kind == "bsm"
                heard.append((stamp - clock.t0_unix, dict(fields)))
    finally:
        radio.stop()
    assert 15 <= len(heard) <= 22  # 20 Hz for 1 s
    # One may go out between the last read and the stop.
    assert len(heard) <= radio.stats["broadcast"] <= len(heard) + 1
    for t_s, fields in heard:
        assert fields["station_id"] == REMOTE_STATION_BASE
        assert fields["speed_mps"] == pytest.approx(10.0, abs=0.02)
        assert fields["heading_rad"] == pytest.approx(math.radians(270.0), abs=1e-3)
        where = TRUTH.position("other", t_s)
        east, north = where.east_north_of(GeoPoint(fields["latitude_deg"], fields["longitude_deg"]))
        assert math.hypot(east, north) < 1.0  # sent on the tick just before it arrived
    counts = [f["msg_cnt"] for _, f in heard]
    assert counts == list(range(counts[0], counts[0] + len(counts)))


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="no actors"):
        CV2xRadioEmulator("r", TRUTH, listen_port=1000, box_port=1001, remote_actors=("x",))
    with pytest.raises(ValueError, match="rate_hz"):
        CV2xRadioEmulator("r", TRUTH, listen_port=1000, box_port=1001, rate_hz=0)
    with pytest.raises(ValueError, match="port"):
        CV2xRadioEmulator("r", TRUTH, listen_port=0, box_port=1001)


@pytest.mark.parametrize(
    ("scenario_name", "role"),
    [("vehicle-gateway-v2x", "vehicle_gateway"), ("roadside-signal-controller", "roadside_unit")],
)
def test_the_shipped_scenarios_render_the_radio_ports(
    tmp_path: Path, scenario_name: str, role: str
) -> None:
    scenario = load_scenario(SCENARIO_DIR / f"{scenario_name}.toml")
    [radio] = [e for e in scenario.emulators if isinstance(e, CV2xRadioSpec)]
    values = {
        "mqtt_host": "127.0.0.1",
        "mqtt_port": "1883",
        "run_dir": str(tmp_path),
        "gnss_gnss0": str(tmp_path / "gnss0"),
        "spat_port_controller0": "6053",
        f"v2x_radio_port_{radio.name}": "40001",
        f"v2x_listen_port_{radio.name}": "40002",
    }
    config = load_box_config(render_box_config(scenario.box_template, values, tmp_path / "b.toml"))
    assert config.device.role == role
    assert config.v2x is not None
    assert (config.v2x.radio_port, config.v2x.listen_port) == (40001, 40002)
