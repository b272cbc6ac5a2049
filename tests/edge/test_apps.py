from __future__ import annotations

import pytest

from edge.apps.emergency_brake import EmergencyBrakeDetector
from edge.apps.speeding import SpeedingDetector
from protocols.schema.v1 import roadgate_pb2 as pb


def state(accel: float, brake: bool, speed: float = 14.0) -> pb.VehicleState:
    return pb.VehicleState(longitudinal_accel_mps2=accel, brake_applied=brake, speed_mps=speed)


def test_one_event_per_hard_braking_episode() -> None:
    eebl = EmergencyBrakeDetector("veh-1")
    decels = [0.0, -2.0, -5.0, -6.0, -3.5, -5.0, -1.0, -0.5, -4.5]
    events = [eebl.evaluate(state(a, brake=a < -1)) for a in decels]
    fired = [i for i, e in enumerate(events) if e is not None]
    # -5.0 starts an episode; -3.5 and -5.0 are still inside it (hysteresis at -2.0);
    # -1.0 ends it; -4.5 starts the next one.
    assert fired == [2, 8]
    first = events[2]
    assert first is not None
    assert first.type == pb.EVENT_TYPE_EMERGENCY_BRAKE
    assert first.severity == pb.SEVERITY_CRITICAL
    assert first.event_id == "veh-1-eebl-1"


def test_deceleration_without_the_brake_is_not_an_emergency_brake() -> None:
    eebl = EmergencyBrakeDetector("veh-1")
    assert eebl.evaluate(state(-6.0, brake=False)) is None


def test_threshold_must_be_a_deceleration() -> None:
    with pytest.raises(ValueError, match="negative"):
        EmergencyBrakeDetector("veh-1", threshold_mps2=1.0)


def objects(*speeds: tuple[int, float]) -> pb.ObjectList:
    return pb.ObjectList(objects=[pb.PerceivedObject(object_id=i, speed_mps=s) for i, s in speeds])


def test_speeding_once_per_object_until_it_slows_down() -> None:
    detector = SpeedingDetector("rsu-1", limit_mps=10.0, hysteresis_mps=1.0)
    assert [e.object_ids[0] for e in detector.evaluate(objects((1, 12.0), (2, 8.0)))] == [1]
    assert detector.evaluate(objects((1, 12.5), (2, 9.5))) == []
    assert detector.evaluate(objects((1, 9.5))) == []  # inside the hysteresis band
    assert detector.evaluate(objects((1, 8.5))) == []  # slowed down: re-armed
    assert [e.object_ids[0] for e in detector.evaluate(objects((1, 11.0)))] == [1]


def test_an_object_that_left_and_came_back_is_reported_again() -> None:
    detector = SpeedingDetector("rsu-1", limit_mps=10.0)
    assert len(detector.evaluate(objects((7, 15.0)))) == 1
    assert detector.evaluate(objects()) == []
    assert len(detector.evaluate(objects((7, 15.0)))) == 1


def test_lists_of_several_radars_interleaving_report_each_episode_once() -> None:
    # Found on the HIL bench: radar1's lists, which do not hold radar0's object 0, ended its
    # episode, and every radar0 list after one of radar1 reported it again.
    detector = SpeedingDetector("rsu-1", limit_mps=10.0)
    radar0 = objects((0, 15.0))
    radar0.sensor_id = "radar0"
    radar1 = objects((3, 8.0))
    radar1.sensor_id = "radar1"
    reported = [len(detector.evaluate(radar)) for radar in (radar0, radar1) * 5]
    assert reported == [1] + [0] * 9


def test_speeding_tolerance() -> None:
    detector = SpeedingDetector("rsu-1", limit_mps=10.0, tolerance_mps=1.5)
    assert detector.evaluate(objects((1, 11.4))) == []
    assert len(detector.evaluate(objects((1, 11.6)))) == 1
