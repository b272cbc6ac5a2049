"""Sample T/CSAE 53-2017 frames for ``roadgate bench v2x`` and the tests: BSM and SPAT from
random values of ours through ``encode_bsm``/``encode_spat``, MAP, RSM and RSI from the JER
values below (written by hand from the ASN.1 modules: an intersection of two nodes, a car
and a pedestrian seen by a radar and a camera, a roadworks event and a speed limit sign)."""

from __future__ import annotations

import math
import random
from typing import Any

from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.v2x import encode_bsm, encode_spat, station_id_bytes

UNIX_S = 1772446542.25
"""2026-03-02 10:15:42.25 UTC: the sample frames' time."""

_REF_POS = {"lat": 342237000, "long": 1088906000}
MAP_SAMPLE: dict[str, Any] = {
    "mapFrame": {
        "msgCnt": 5,
        "timeStamp": 90000,
        "nodes": [
            {
                "name": "Gaoxin-Keji",
                "id": {"region": 1, "id": 12},
                "refPos": {**_REF_POS, "elevation": 4150},
            },
            {"id": {"region": 1, "id": 13}, "refPos": {"lat": 342240000, "long": 1088950000}},
        ],
    }
}
RSM_SAMPLE: dict[str, Any] = {
    "rsmFrame": {
        "msgCnt": 9,
        "id": "5253550000000001",
        "refPos": _REF_POS,
        "participants": [
            {
                "ptcType": "motor",
                "ptcId": 1,
                "source": "microwaveRadar",
                "secMark": 42250,
                "pos": {"offsetLL": {"position-LL1": {"lon": 120, "lat": -340}}},
                "posConfidence": {"pos": "a1m"},
                "speed": 500,
                "heading": 7200,
                "size": {"width": 180, "length": 460},
            },
            {
                "ptcType": "pedestrian",
                "ptcId": 2,
                "source": "video",
                "secMark": 42250,
                "pos": {"offsetLL": {"position-LL1": {"lon": -50, "lat": 80}}},
                "posConfidence": {"pos": "a2m"},
                "speed": 70,
                "heading": 14400,
                "size": {"width": 50, "length": 50},
            },
        ],
    }
}
RSI_SAMPLE: dict[str, Any] = {
    "rsiFrame": {
        "msgCnt": 3,
        "moy": 90000,
        "id": "5253550000000001",
        "refPos": _REF_POS,
        "rtes": [
            {
                "rteId": 1,
                "eventType": 401,  # GB/T 29100-2012: roadworks
                "eventSource": "police",
                "eventPos": {"offsetLL": {"position-LL1": {"lon": 200, "lat": 100}}},
                "eventRadius": 50,
            }
        ],
        "rtss": [{"rtsId": 1, "signType": 85}],  # GB 5768.2: speed limit
    }
}
JSON_SAMPLES = {"map": MAP_SAMPLE, "rsm": RSM_SAMPLE, "rsi": RSI_SAMPLE}


def random_state(rng: random.Random) -> pb.VehicleState:
    """A vehicle state with every field a BSM carries drawn in its usual range."""
    return pb.VehicleState(
        position=pb.Position(
            latitude_deg=rng.uniform(18.0, 53.0),
            longitude_deg=rng.uniform(73.0, 135.0),
            altitude_m=rng.uniform(-100.0, 4000.0),
            horizontal_accuracy_m=rng.choice([0.0, 0.03, 0.5, 3.0]),
        ),
        speed_mps=rng.uniform(0.0, 40.0),
        heading_rad=rng.uniform(0.0, 2 * math.pi),
        yaw_rate_rad_s=rng.uniform(-0.5, 0.5),
        longitudinal_accel_mps2=rng.uniform(-8.0, 4.0),
        lateral_accel_mps2=rng.uniform(-4.0, 4.0),
        steering_wheel_angle_rad=rng.uniform(-3.0, 3.0),
        brake_applied=rng.random() < 0.2,
        gear=rng.choice([pb.GEAR_PARK, pb.GEAR_DRIVE, pb.GEAR_REVERSE, pb.GEAR_NEUTRAL]),
        length_m=rng.uniform(3.5, 12.0),
        width_m=rng.uniform(1.5, 2.6),
    )


def random_spat(rng: random.Random) -> pb.SignalPhaseTiming:
    """One intersection with 2-16 phases in random states and times."""
    phases = []
    for group in range(1, rng.randint(2, 16) + 1):
        low = rng.uniform(0.0, 30.0)
        high = low + rng.uniform(0.0, 60.0)
        phases.append(
            pb.PhaseState(
                signal_group=group,
                state=rng.choice(
                    [pb.SIGNAL_STATE_RED, pb.SIGNAL_STATE_GREEN, pb.SIGNAL_STATE_AMBER]
                ),
                min_end_s=low,
                max_end_s=high,
                likely_end_s=rng.uniform(low, high),
            )
        )
    return pb.SignalPhaseTiming(intersection_id=rng.randrange(1, 65536), phases=phases)


def bsm_frame(state: pb.VehicleState, station: int, msg_cnt: int) -> bytes:
    """``encode_bsm`` of ``state`` at ``UNIX_S``."""
    return encode_bsm(
        state, vehicle_id=station_id_bytes(station), msg_cnt=msg_cnt % 128, unix_s=UNIX_S
    )


def spat_frame(spat: pb.SignalPhaseTiming, msg_cnt: int) -> bytes:
    """``encode_spat`` of ``spat`` at ``UNIX_S`` (region 1)."""
    return encode_spat(spat, msg_cnt=msg_cnt % 128, unix_s=UNIX_S, region=1)
