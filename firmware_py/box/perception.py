"""A roadside unit's perception from its config: the radars placed in the intersection's local
frame, the tracker, and (``[perception] cooperative``) the vehicles' own reports: the region's
``state`` streams and the BSMs its radio hears."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from edge.geodesy import LocalFrame
from edge.pipelines.health import CounterSource, counters_of
from edge.pipelines.roles import BackgroundFeed
from edge.roadside.bsm_feed import BsmFeed
from edge.roadside.cooperative import CooperativeAssociator, CooperativeSettings
from edge.roadside.cooperative_reports import bsm_vehicle_id
from edge.roadside.fused_objects import IntersectionFusion
from edge.roadside.intersection_tracker import IntersectionTracker
from edge.roadside.radar_noise import RADAR_NOISE
from edge.roadside.radar_site import RADAR_BEAMS, RadarSite
from edge.roadside.state_feed import StateFeed
from edge.tracking.builders import ConstantVelocity, gnn_tracker
from edge.uplink.publisher import UplinkPublisher
from edge.v2x.reception import ReceptionFilter
from firmware_py.config.loader import heading_rad
from firmware_py.config.model import BoxConfig

if TYPE_CHECKING:
    from edge.recording.sink import RecordingSink

Heard = Callable[[str, Mapping[str, Any], float], None]
INTERSECTION_ACCEL_NOISE_M_S2 = 2.0


@dataclass(frozen=True)
class Perception:
    """What the pipeline and the radio take: the fusion, the feeds to run beside the ports,
    counters for the health report, and what the radio calls with each message it hears."""

    fusion: IntersectionFusion
    feeds: Mapping[str, BackgroundFeed] = field(default_factory=dict)
    health_sources: Mapping[str, CounterSource] = field(default_factory=dict)
    on_heard: Heard | None = None


def intersection_frame(config: BoxConfig) -> LocalFrame:
    """The intersection's local frame: about ``[perception] reference``, else the first
    radar."""
    return LocalFrame.of(config.perception.reference or config.radars[0].position)


def radar_sites(config: BoxConfig, frame: LocalFrame) -> list[RadarSite]:
    """Every radar's pose in ``frame``, with its kind's (or its own) noise and beams."""
    sites = []
    for radar in config.radars:
        p = radar.position
        enu = frame.geodetic_to_enu(p.latitude_deg, p.longitude_deg, p.altitude_m)
        sites.append(
            RadarSite(
                sensor_id=radar.sensor,
                east_m=float(enu.east_m),
                north_m=float(enu.north_m),
                height_m=radar.height_m,
                yaw_rad=heading_rad(radar),
                noise=radar.noise or RADAR_NOISE[radar.kind],
                beams=RADAR_BEAMS[radar.kind],
            )
        )
    return sites


def intersection_id(config: BoxConfig) -> int:
    """``[perception] intersection_id``, else the signal controller's or plan's, else 0."""
    if config.perception.intersection_id:
        return config.perception.intersection_id
    roadside = config.roadside
    if roadside is not None and roadside.signal_controller is not None:
        return roadside.signal_controller.intersection_id
    if roadside is not None and roadside.signal_plan is not None:
        return roadside.signal_plan.intersection_id
    return 0


def build_perception(
    config: BoxConfig,
    uplink: UplinkPublisher | None = None,
    *,
    recording: RecordingSink | None = None,
) -> Perception:
    """The unit's perception; with ``uplink`` (whose connection and identity the state feed
    shares) and ``[perception] cooperative``, vehicles' own reports join the tracks. With
    ``recording`` (the box's recorder), the state feed records every message it receives."""
    frame = intersection_frame(config)
    perception = config.perception
    # Constant velocity driven by 2 m/s^2 of white acceleration: urban road users brake and
    # turn that hard, and with less the position covariance was optimistic in the turning
    # scene (tests/edge/roadside/test_scene_tracking.py). CTRV, tried there, was far worse
    # (NEES 8 for 2 degrees of freedom): the box does not offer it.
    model = ConstantVelocity(accel_noise_m_s2=INTERSECTION_ACCEL_NOISE_M_S2)
    associator = None
    if perception.cooperative and uplink is not None:
        aliases = tuple(
            (bsm_vehicle_id(station), device) for device, station in config.perception.station_ids
        )
        associator = CooperativeAssociator(CooperativeSettings(aliases=aliases))
    tracker = IntersectionTracker(
        radar_sites(config, frame), gnn_tracker(model), cooperative=associator
    )
    fusion = IntersectionFusion(tracker, frame, intersection_id=intersection_id(config))
    if associator is None or uplink is None:
        return Perception(fusion)
    feed = StateFeed(
        uplink.settings.mqtt, uplink.identity, frame, associator.offer, recording=recording
    )
    bsm = BsmFeed(frame, associator.offer)
    # What the radio hears is untrusted: stale, duplicate and impossible messages stop here.
    heard = ReceptionFilter(bsm)
    return Perception(
        fusion,
        feeds={"state_feed": feed},
        health_sources={
            "cooperative": counters_of(associator),
            "bsm_feed": counters_of(bsm),
            "v2x_reception": counters_of(heard),
        },
        on_heard=heard,
    )
