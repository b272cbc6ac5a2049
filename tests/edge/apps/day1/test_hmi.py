"""The HMI output: each warning change is one JSON line in one UDP datagram, on a real socket."""

from __future__ import annotations

import json
import socket

from edge.apps.day1.hmi import HmiOutput, hmi_line
from hal.net.udp_link import UdpLink
from protocols.schema.v1 import roadgate_pb2 as pb

EVENT = pb.TrafficEvent(
    event_id="veh-1-fcw-3",
    application="FCW",
    type=pb.EVENT_TYPE_FORWARD_COLLISION_WARNING,
    severity=pb.SEVERITY_CRITICAL,
    description="vehicle ahead 30 m",
    remote_id="000000000000002a",
    time_to_collision_s=1.84,
    distance_m=30.0,
    position=pb.Position(latitude_deg=34.2235, longitude_deg=108.8905),
)


def test_a_line_says_what_the_hmi_shows() -> None:
    line = hmi_line("start", EVENT, 1_767_225_600.123456)
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    body = json.loads(line)
    assert body == {
        "v": 1,
        "change": "start",
        "id": "veh-1-fcw-3",
        "app": "FCW",
        "type": "FORWARD_COLLISION_WARNING",
        "severity": "critical",
        "time": 1_767_225_600.123,
        "description": "vehicle ahead 30 m",
        "remote_id": "000000000000002a",
        "ttc_s": 1.84,
        "distance_m": 30.0,
        "advised_speed_kph": None,
        "latitude_deg": 34.2235,
        "longitude_deg": 108.8905,
    }


def test_warnings_arrive_at_the_hmi_as_datagrams() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as hmi:
        hmi.bind(("127.0.0.1", 0))
        hmi.settimeout(5.0)
        port = hmi.getsockname()[1]
        with UdpLink("hmi", "127.0.0.1", 0, peer_host="127.0.0.1", peer_port=port) as link:
            output = HmiOutput(link)
            for change in ("start", "update", "end"):
                output.warning(change, EVENT, 1_767_225_600.0)
            lines = [json.loads(hmi.recv(65536)) for _ in range(3)]
    assert [line["change"] for line in lines] == ["start", "update", "end"]
    assert output.counters == {"sent": 3, "errors": 0}


def test_a_refused_send_is_counted_not_raised() -> None:
    link = UdpLink("hmi", "127.0.0.1", 0, peer_host="127.0.0.1", peer_port=9)
    output = HmiOutput(link)  # never opened: every send is refused
    output.warning("start", EVENT, 0.0)
    assert output.counters == {"sent": 0, "errors": 1}
