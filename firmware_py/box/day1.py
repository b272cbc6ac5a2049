"""A vehicle gateway's Day-1 applications, composed: the reception filter before the picture
of what was heard, the engine with the configured applications, and the HMI output."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass

from edge.apps.day1.engine import Day1Engine, WarningSink
from edge.apps.day1.heard_world import HeardWorld
from edge.apps.day1.hmi import HmiOutput
from edge.apps.day1.registry import build_apps
from edge.pipelines.health import HealthReport, counters_of
from edge.v2x.reception import ReceptionFilter
from firmware_py.config.apps import default_apps
from firmware_py.config.model import BoxConfig
from hal.net.udp_link import UdpLink

HMI_PORT_NAME = "hmi"


@dataclass(frozen=True)
class Day1Parts:
    """What the radio's ``on_heard`` feeds (``reception``) and what the pipeline runs
    (``engine``)."""

    world: HeardWorld
    reception: ReceptionFilter
    engine: Day1Engine
    hmi: HmiOutput | None

    @classmethod
    def build(cls, config: BoxConfig, stack: ExitStack) -> Day1Parts:
        """The parts ``config`` asks for; the HMI's UDP link is closed by ``stack``."""
        apps = config.apps if config.apps is not None else default_apps()
        world = HeardWorld()
        hmi = None
        sinks: list[WarningSink] = []
        if config.hmi is not None:
            # Sends only: bound to an ephemeral port of the interface that reaches the HMI.
            link = UdpLink(
                HMI_PORT_NAME,
                "0.0.0.0",
                0,
                peer_host=config.hmi.udp_host,
                peer_port=config.hmi.udp_port,
            )
            stack.enter_context(link)
            hmi = HmiOutput(link)
            sinks.append(hmi)
        engine = Day1Engine(
            config.device.device_id,
            world,
            build_apps(apps.settings),
            sinks=sinks,
            settings=apps.engine,
        )
        return cls(world, ReceptionFilter(world.hear), engine, hmi)

    def report_to(self, health: HealthReport) -> None:
        """Add the parts' counters to the box's health report."""
        health.add("v2x_reception", counters_of(self.reception))
        health.add("apps.heard", counters_of(self.world))
        if self.hmi is not None:
            health.add("hmi", counters_of(self.hmi))
            health.add(f"udp.{HMI_PORT_NAME}", counters_of(self.hmi.link))
