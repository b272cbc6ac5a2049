"""The emulators of the Day-1 application scenarios on this host: the car's CAN driven by an
actor (python-can's virtual bus), the radio's remote vehicles' lights and emergency calls, the
roadside unit it plays (MAP, RSI, SPAT, RSM through the real codec) and the HMI display (real
UDP sockets)."""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterator
from typing import Any

import can
import cantools.database
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.apps.day1.hmi import hmi_line
from edge.geo import GeoPoint
from edge.roadside.signal_plan import FixedTimePlan, SignalGroupPlan
from firmware_py.config.loader import EXAMPLES_DIR
from firmware_py.simulation.world import INTERSECTION, Actor, Phase
from hal.net.udp_link import UdpLink
from hil.clock import ScenarioClock
from hil.emulators import CV2xRadioEmulator, HmiDisplayEmulator, RsuAir, VehicleCanEmulator
from hil.emulators.cv2x_radio import remote_bsm
from hil.emulators.hmi_display import HmiLineError, parse_hmi_line
from hil.emulators.rsu_air import RSU_STATION_ID
from hil.runner import free_udp_port
from hil.scenarios.data import generate
from hil.world import GroundTruth
from protocols.dbc import load_dbc
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.v2x import decode_map, decode_message_frame, decode_rsi, decode_rsm
from protocols.v2x.intersection_file import read_intersection_file
from tests.support.waiting import wait_until

INTERSECTION_FILE = EXAMPLES_DIR / "intersection-101.toml"


def actor(name: str, kind: str, east: float, north: float, heading: float, speed: float,
          phases: tuple[Phase, ...] = (Phase(60.0),)) -> Actor:  # fmt: skip
    return Actor(
        name,
        kind,
        start_east_m=east,
        start_north_m=north,
        heading_deg=heading,
        speed_mps=speed,
        phases=phases,
        length_m=4.6 if kind == "car" else 0.6,
        width_m=1.8 if kind == "car" else 0.6,
        rcs_dbsm=10.0,
    )


TRUTH = GroundTruth(
    INTERSECTION,
    {
        # Northbound, pulling away at 2 m/s^2 with the left blinker, then braking hard.
        "ego": actor(
            "ego",
            "car",
            5.25,
            -100.0,
            0.0,
            5.0,
            (
                Phase(1.0, accel_mps2=2.0, turn_signal="left"),
                Phase(59.0, accel_mps2=-6.0, brake=True),
            ),
        ),
        "hazard": actor("hazard", "car", 8.75, -40.0, 0.0, 0.0, (Phase(60.0, hazard=True),)),
        "ambulance": actor("ambulance", "car", -1.75, 80.0, 180.0, 15.0),
        "walker": actor("walker", "pedestrian", -14.0, 8.0, 90.0, 1.4),
    },
)


# --- vehicle CAN ----------------------------------------------------------------------------


@pytest.fixture
def toyota_db() -> cantools.database.can.Database:
    return load_dbc(generate.TOYOTA_DBC).database


def signals(db: cantools.database.can.Database, frame: can.Message) -> dict[str, Any]:
    decoded = db.decode_message(frame.arbitration_id, bytes(frame.data))
    assert isinstance(decoded, dict)  # not a container message
    return decoded


def test_the_cars_frames_carry_the_actors_motion_live(
    toyota_db: cantools.database.can.Database,
) -> None:
    channel = f"hil-test-{uuid.uuid4().hex}"
    emulator = VehicleCanEmulator(
        "powertrain", TRUTH, channel=channel, interface="virtual", actor="ego", db=toyota_db
    )
    ids = {name: toyota_db.get_message_by_name(name).frame_id for name in ("SPEED", "BRAKE_MODULE")}
    blinkers = toyota_db.get_message_by_name("BLINKERS_STATE").frame_id
    frames: list[can.Message] = []
    with can.Bus(interface="virtual", channel=channel) as bus:
        clock = ScenarioClock()
        emulator.start(clock)
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            message = bus.recv(timeout=0.05)
            if message is not None:
                frames.append(message)
        emulator.stop()
        while (message := bus.recv(timeout=0.05)) is not None:  # sent before the stop
            frames.append(message)
    speeds = [f for f in frames if f.arbitration_id == ids["SPEED"]]
    assert 60 <= len(speeds) <= 78  # 50 Hz for 1.5 s, and a few until the stop
    assert 12 <= sum(1 for f in frames if f.arbitration_id == blinkers) <= 16  # 10 Hz
    assert sum(emulator.delivered.values()) == emulator.stats["sent"] == len(frames)
    for frame in speeds:
        kph = float(signals(toyota_db, frame)["SPEED"])
        sent_s = frame.timestamp - clock.t0_unix
        # The state of a tick at most 20 ms (plus a scheduling delay) before it was sent.
        error = min(
            abs(kph / 3.6 - TRUTH.state("ego", sent_s - 0.005 * k).speed_mps) for k in range(11)
        )
        assert error < 0.02
    braking = [
        f.timestamp - clock.t0_unix
        for f in frames
        if f.arbitration_id == ids["BRAKE_MODULE"] and signals(toyota_db, f)["BRAKE_PRESSED"]
    ]
    assert braking
    assert min(braking) >= 1.0


def test_the_car_needs_a_known_actor_and_a_dbc_with_its_messages(
    toyota_db: cantools.database.can.Database,
) -> None:
    with pytest.raises(ValueError, match="no actor 'nobody'"):
        VehicleCanEmulator("p", TRUTH, channel="vcan0", actor="nobody", db=toyota_db)
    radar_db = load_dbc(generate.TOYOTA_DBC.with_name("ars408_id0.dbc")).database
    with pytest.raises(ValueError, match="SPEED"):
        VehicleCanEmulator("p", TRUTH, channel="vcan0", actor="ego", db=radar_db)


# --- remote vehicles' BSMs ------------------------------------------------------------------


def bsm_fields(name: str, t_s: float, *, emergency: bool = False) -> dict[str, object]:
    data = remote_bsm(
        TRUTH, name, t_s, station_id=7, msg_cnt=1, unix_s=1_767_225_600.0, emergency=emergency
    )
    kind, fields = decode_message_frame(data)
    assert kind == "bsm"
    return dict(fields)


def test_remote_bsms_say_the_actors_lights_braking_and_emergency_calls() -> None:
    hazard = bsm_fields("hazard", 1.0)
    assert hazard["turn_signal"] == pb.TURN_SIGNAL_HAZARD
    assert hazard["events"] == frozenset({"hazard_lights"})
    assert hazard["emergency_response"] is None
    signalling = bsm_fields("ego", 0.5)
    assert signalling["turn_signal"] == pb.TURN_SIGNAL_LEFT
    assert signalling["events"] == frozenset()
    braking = bsm_fields("ego", 1.5)
    assert braking["events"] == frozenset({"hard_braking"})
    assert braking["turn_signal"] == pb.TURN_SIGNAL_UNSPECIFIED  # blinker off: no lights sent
    ambulance = bsm_fields("ambulance", 1.0, emergency=True)
    assert ambulance["emergency_response"] == "emergency"
    assert (ambulance["siren_in_use"], ambulance["lightbar_in_use"]) == (True, True)
    assert bsm_fields("ambulance", 1.0)["siren_in_use"] is None


def test_emergency_actors_must_be_remote_actors() -> None:
    with pytest.raises(ValueError, match="not remote actors"):
        CV2xRadioEmulator(
            "r", TRUTH, listen_port=1000, box_port=1001, emergency_actors=("ambulance",)
        )
    with pytest.raises(ValueError, match="no actors"):
        RsuAir(TRUTH, rsm_actors=("nobody",))


# --- the roadside unit ----------------------------------------------------------------------

PLAN = FixedTimePlan(101, 30.0, (SignalGroupPlan(1, 0.0, 12.0), SignalGroupPlan(2, 15.0, 12.0)))


def rsu() -> RsuAir:
    return RsuAir(
        TRUTH,
        intersection=read_intersection_file(INTERSECTION_FILE),
        plan=PLAN,
        rsm_actors=("walker",),
    )


def test_the_roadside_unit_sends_map_and_rsi_at_1_hz_spat_and_rsm_at_10_hz() -> None:
    air = rsu()
    description = read_intersection_file(INTERSECTION_FILE)
    sent: list[tuple[float, str, bytes]] = []
    for tick in range(25):  # 10 Hz for 2.5 s
        t_s = tick / 10
        sent += [(t_s, kind, data) for kind, data in air.frames(t_s, 1_767_225_600.0 + t_s)]
    kinds = [kind for _, kind, _ in sent]
    assert {k: kinds.count(k) for k in set(kinds)} == {"map": 3, "rsi": 3, "spat": 25, "rsm": 25}
    counts: dict[str, list[int]] = {}
    for t_s, kind, data in sent:
        if kind == "map":
            decoded_map = decode_map(data)
            (node,) = decoded_map.nodes
            assert node.node_id == 101
            assert [len(link.lanes) for link in node.links] == [5, 5, 5, 5]
            counts.setdefault(kind, []).append(decoded_map.msg_cnt)
        elif kind == "rsi":
            rsi = decode_rsi(data)
            assert rsi.rsu_id == RSU_STATION_ID.to_bytes(8, "big")
            assert len(rsi.signs) == len(description.signs) == 2
        elif kind == "spat":
            _, fields = decode_message_frame(data)
            (item,) = fields["intersections"]
            assert item["intersection_id"] == 101
            expected = {p.signal_group: p.state for p in PLAN.spat(t_s).phases}
            assert {p["signal_group"]: p["state"] for p in item["phases"]} == expected
            counts.setdefault(kind, []).append(fields["msg_cnt"])
        else:
            rsm = decode_rsm(data)
            (walker,) = rsm.participants
            assert walker.object_class == pb.OBJECT_CLASS_PEDESTRIAN
            truth = TRUTH.position("walker", t_s)
            east, north = truth.east_north_of(
                GeoPoint(walker.position.latitude_deg, walker.position.longitude_deg)
            )
            assert math.hypot(east, north) < 0.05
            counts.setdefault(kind, []).append(rsm.msg_cnt)
    assert counts == {"map": [0, 1, 2], "spat": list(range(25)), "rsm": list(range(25))}


def test_a_roadside_unit_ticks_no_faster_than_its_rates() -> None:
    air = RsuAir(TRUTH, plan=PLAN)
    kinds = [kind for tick in range(40) for kind, _ in air.frames(tick / 40, 0.0)]
    assert kinds == ["spat"] * 10  # 40 Hz ticks for 1 s: SPAT at 10 Hz, nothing else
    assert not RsuAir(TRUTH).active


@pytest.fixture
def box() -> Iterator[tuple[UdpLink, int]]:
    """The box's side of the radio link, and the radio's port it sends to."""
    radio_port = free_udp_port()
    with UdpLink("v2x-radio", "127.0.0.1", 0, peer_host="127.0.0.1", peer_port=radio_port) as link:
        yield link, radio_port


def test_the_radio_plays_the_roadside_unit_and_the_emergency_vehicle(
    box: tuple[UdpLink, int],
) -> None:
    link, radio_port = box
    radio = CV2xRadioEmulator(
        "radio0",
        TRUTH,
        listen_port=radio_port,
        box_port=link.local_address[1],
        remote_actors=("ambulance", "hazard"),
        emergency_actors=("ambulance",),
        rsu=rsu(),
    )
    heard: list[tuple[str, dict[str, object]]] = []
    radio.start(ScenarioClock())
    try:
        deadline = time.monotonic() + 1.25
        while time.monotonic() < deadline:
            for data, _ in link.receive(timeout=0.05):
                kind, fields = decode_message_frame(data)
                heard.append((kind, dict(fields)))
    finally:
        radio.stop()
    for data, _ in link.receive(timeout=0.1, max_datagrams=256):  # sent before the stop
        kind, fields = decode_message_frame(data)
        heard.append((kind, dict(fields)))
    kinds = [kind for kind, _ in heard]
    assert 1 <= kinds.count("map") <= 2  # 1 Hz for 1.25 s
    assert kinds.count("map") == kinds.count("rsi")
    assert 10 <= kinds.count("spat") == kinds.count("rsm") <= 14  # 10 Hz
    assert kinds.count("bsm") == 2 * kinds.count("spat")
    stats = radio.stats
    assert stats["broadcast"] == kinds.count("bsm")
    assert stats["rsu.spat"] == kinds.count("spat")
    calls = {f["emergency_response"] for kind, f in heard if kind == "bsm"}
    assert calls == {"emergency", None}


# --- the HMI display ------------------------------------------------------------------------


def warning(app: str = "FCW") -> pb.TrafficEvent:
    return pb.TrafficEvent(
        event_id=f"veh-1-{app.lower()}-1",
        application=app,
        type=pb.EVENT_TYPE_FORWARD_COLLISION_WARNING,
        severity=pb.SEVERITY_WARNING,
        time_to_collision_s=2.5,
    )


def test_the_display_records_each_line_with_its_arrival_time() -> None:
    port = free_udp_port()
    display = HmiDisplayEmulator("hmi0", port=port)
    clock = ScenarioClock()
    display.start(clock)
    try:
        with UdpLink("box-hmi", "127.0.0.1", 0, peer_host="127.0.0.1", peer_port=port) as link:
            link.send(hmi_line("start", warning(), time.time()))
            link.send(b"\xff not json")
            link.send(b'{"v": 2, "change": "start", "app": "FCW"}')
            link.send(hmi_line("end", warning(), time.time()))
            sent_s = clock.now_s()
            wait_until(lambda: display.stats["received"] == 2, 2.0, "two lines")
            wait_until(lambda: display.stats["rejected"] == 2, 2.0, "two rejects")
    finally:
        display.stop()
    (t_start, start), (t_end, end) = display.lines
    assert (start["change"], end["change"]) == ("start", "end")
    assert start["app"] == "FCW"
    assert start["ttc_s"] == 2.5
    assert abs(t_start - sent_s) < 0.1
    assert t_start <= t_end
    assert display.stats["received.start"] == display.stats["received.end"] == 1


def test_the_display_needs_a_port() -> None:
    with pytest.raises(ValueError, match="port"):
        HmiDisplayEmulator("hmi0", port=0)


def test_every_line_the_box_makes_parses() -> None:
    for change in ("start", "update", "end"):
        line = parse_hmi_line(hmi_line(change, warning("GLOSA"), 1_767_225_600.0))
        assert (line["change"], line["app"], line["v"]) == (change, "GLOSA", 1)


@given(st.binary(max_size=200))
def test_any_datagram_parses_or_is_rejected_with_a_reason(data: bytes) -> None:
    try:
        line = parse_hmi_line(data)
    except HmiLineError:
        return  # the one way it may fail: any other exception fails the test
    assert line["v"] == 1
    assert line["change"] in ("start", "update", "end")
