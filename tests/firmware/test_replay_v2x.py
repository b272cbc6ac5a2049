"""``roadgate replay`` of what the radio heard: played onto a real UDP port and read by the box's
radio and reception filter at their arrival times, retimed messages are fresh (as the field box
found them) and messages played as recorded are stale; datagrams that are not frames go as
recorded and are counted."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from edge.recording.log_format import Kind
from edge.recording.writer import FlightRecorder
from edge.v2x.radio import V2xRadio
from edge.v2x.reception import ReceptionFilter
from firmware_py.cli import main
from firmware_py.cli.replay import ReplayReport, UdpTarget, open_targets, replay
from hal.net.port import Datagram
from hal.net.udp_link import UdpLink
from hal.net.udp_port import UdpDatagramPort
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.v2x import GeoPoint, encode_bsm, encode_rsm, encode_spat
from tests.firmware.test_replay import free_udp_port

TOPIC = "v2x/rx/v2x-radio"
GARBAGE = b"not a MessageFrame"
HEARD_AFTER_S = 0.02  # what the air and the radio took in the field
RSU = bytes.fromhex("0102030405060708")


def heard_frames(t0: float) -> list[tuple[bytes, float]]:
    """One second of what a radio hears at 10 Hz (a car's BSM, a signal's SPAT, an RSU's RSM,
    each stamped when sent) and one datagram that is not a frame: (datagram, heard at)."""
    state = pb.VehicleState(speed_mps=0.0, heading_rad=0.5)
    state.position.latitude_deg, state.position.longitude_deg = 31.2, 121.5
    phase = pb.PhaseState(signal_group=1, state=pb.SIGNAL_STATE_RED, likely_end_s=8)
    objects = pb.ObjectList(sensor_id="fused", kind=pb.OBJECT_LIST_KIND_FUSED)
    objects.objects.add(object_id=1, object_class=pb.OBJECT_CLASS_CAR, x_m=3.0, speed_mps=0)
    heard = []
    for k in range(10):
        sent = t0 + k * 0.1
        heard += [
            (encode_bsm(state, vehicle_id=b"CAR00001", msg_cnt=k, unix_s=sent), sent),
            (
                encode_spat(
                    pb.SignalPhaseTiming(intersection_id=7, phases=[phase]), msg_cnt=k, unix_s=sent
                ),
                sent + 0.001,
            ),
            (
                encode_rsm(
                    objects, reference=GeoPoint(31.2, 121.5), rsu_id=RSU, msg_cnt=k, unix_s=sent
                ).frames[0],
                sent + 0.002,
            ),
        ]
    heard.append((GARBAGE, t0 + 0.55))
    return sorted(((data, at + HEARD_AFTER_S) for data, at in heard), key=lambda item: item[1])


def record(directory: Path, heard: list[tuple[bytes, float]]) -> list[Path]:
    recorder = FlightRecorder(directory, prefix="field")
    recorder.datagrams(Kind.V2X_RX, "v2x-radio", heard)
    recorder.close()
    return sorted(directory.glob("*.mcap"))


def received_by_the_box(
    files: list[Path], *, retime: bool
) -> tuple[ReplayReport, list[bytes], Mapping[str, int], Counter[str]]:
    """Replay ``files`` at speed 1 onto a UDP port; what arrived, fed (at its arrival time) to
    the box's radio and reception filter: (report, datagrams, filter counters, kinds passed)."""
    port = free_udp_port()
    passed: Counter[str] = Counter()

    def downstream(kind: str, fields: Mapping[str, Any], received_s: float) -> None:
        del fields, received_s
        passed[kind] += 1

    reception = ReceptionFilter(downstream)
    with ExitStack() as stack:
        # The radio's link as the box opens it (its peer: the radio module, here nobody).
        box_port = stack.enter_context(
            UdpLink("v2x", "127.0.0.1", port, peer_host="127.0.0.1", peer_port=free_udp_port())
        )
        radio = V2xRadio(box_port, station_id=99, on_heard=reception)
        targets = open_targets(stack, [], [], UdpTarget("127.0.0.1", port), None, retime_v2x=retime)
        report = replay(files, targets, speed=1.0)
        arrived: list[Datagram] = []
        deadline = time.monotonic() + 5
        while len(arrived) < 31 and time.monotonic() < deadline:
            arrived += box_port.receive(0.1)
    for data, received_s in arrived:
        radio.datagram(data, received_s)
    return report, [data for data, _ in arrived], reception.counters, passed


@pytest.fixture
def field_log(tmp_path: Path) -> tuple[list[Path], list[tuple[bytes, float]]]:
    # Recorded days ago, 20 s into another minute: unmoved, a BSM's secMark (ms in the minute)
    # is 20 s off, well clear of the filter's 30 s "nearest minute" ambiguity.
    heard = heard_frames(time.time() - 3 * 86_400 - 20.0)
    return record(tmp_path / "log", heard), heard


def test_retimed_v2x_passes_the_reception_filter_as_it_did_in_the_field(
    field_log: tuple[list[Path], list[tuple[bytes, float]]],
) -> None:
    files, heard = field_log
    report, arrived, counters, passed = received_by_the_box(files, retime=True)
    assert report.sent == {TOPIC: 31}
    assert report.kept_times == {TOPIC: 1}
    assert any("1 sent with their recorded times" in line for line in report.lines())
    assert report.shift_s > 3 * 86_400
    assert len(arrived) == 31
    assert GARBAGE in arrived  # played as recorded
    assert not (set(arrived) - {GARBAGE}) & {data for data, _ in heard}  # every frame moved
    assert passed == {"bsm": 10, "spat": 10, "rsm": 10}
    assert counters == {"passed": 30}


def test_v2x_played_with_its_recorded_times_is_stale(
    field_log: tuple[list[Path], list[tuple[bytes, float]]],
) -> None:
    files, heard = field_log
    report, arrived, counters, passed = received_by_the_box(files, retime=False)
    assert report.sent == {TOPIC: 31}
    assert not report.kept_times
    assert arrived == [data for data, _ in heard]
    assert not passed
    assert counters == {"passed": 0, "rejects.stale": 30}


def test_the_command_line_retimes_v2x_unless_told_to_keep_its_time(
    field_log: tuple[list[Path], list[tuple[bytes, float]]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    files, heard = field_log
    recorded = [data for data, _ in heard]
    for flags, same in (([], False), (["--keep-v2x-time"], True)):
        port = free_udp_port()
        with UdpDatagramPort("v2x", "127.0.0.1", port) as box_port:
            status = main(["replay", *map(str, files), "--v2x", str(port), *flags])
            got = [data for data, _ in box_port.receive(1.0)]
        assert status == 0
        assert len(got) == 31
        assert (got == recorded) is same
        out = capsys.readouterr().out
        assert f"{TOPIC}: 31 sent" in out
        assert ("1 sent with their recorded times" in out) is not same
