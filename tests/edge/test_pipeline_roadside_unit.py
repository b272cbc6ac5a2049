"""The roadside unit pipeline, built from stub roles and driven through its step methods."""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Sequence

import pytest

from edge.geo import GeoPoint
from edge.pipelines.roadside_unit import (
    RadarInput,
    RoadsideUnitPipeline,
    RoadsideUnitSettings,
    SignalControllerInput,
)
from edge.pipelines.roles import SYSTEM_CLOCK, Clock, ObjectFusion
from edge.roadside.object_fusion import SensorPose
from edge.roadside.signal_plan import FixedTimePlan, SignalGroupPlan
from hal.can.frames import FrameBatch, empty_batch
from hal.can.python_can_port import PythonCanPort
from hal.net.udp_port import UdpDatagramPort
from protocols.errors import ProtocolError
from protocols.radar import RadarObject, RadarObjectList
from protocols.schema.v1 import roadgate_pb2 as pb
from tests.edge.pipeline_stubs import (
    FixedClock,
    RecordingRadio,
    RecordingUplink,
    StubFixes,
    task_names,
)
from tests.support.tasks import running
from tests.support.waiting import eventually

POSITION = GeoPoint(34.0, 108.0, 400.0)
PLAN = FixedTimePlan(101, 60, (SignalGroupPlan(1, 0, 27),))


def radar_list(cycle: int, *objects: RadarObject) -> RadarObjectList:
    return RadarObjectList(0, cycle, 1.0, objects)


CAR = RadarObject(7, 20.0, 1.0, -5.0, 0.0, 1, 10.0)


class StubRadar:
    """Hands the pipeline ``lists`` for the next batch; remembers the batches."""

    def __init__(self, sensor_id: str, *lists: RadarObjectList) -> None:
        self.sensor_id = sensor_id
        self.lists = list(lists)
        self.batches: list[FrameBatch] = []

    def extract(self, batch: FrameBatch) -> Sequence[RadarObjectList]:
        self.batches.append(batch)
        lists, self.lists = self.lists, []
        return lists

    def input(self, port: PythonCanPort) -> RadarInput:
        pose = SensorPose(self.sensor_id, POSITION, 0.0)
        return RadarInput(port, self.extract, pose, counters=lambda: {"cycles": 5})


class RecordingPlacement:
    """Places each list as an ObjectList of its sensor and cycle, one object per radar object
    at the speed ``speed_mps`` (the test's choice)."""

    def __init__(self) -> None:
        self.placed: list[tuple[RadarObjectList, SensorPose]] = []
        self.speed_mps = 10.0

    def __call__(self, radar: RadarObjectList, pose: SensorPose) -> pb.ObjectList:
        self.placed.append((radar, pose))
        return pb.ObjectList(
            sensor_id=pose.sensor_id,
            cycle_counter=radar.cycle_counter,
            objects=[
                pb.PerceivedObject(object_id=o.object_id, speed_mps=self.speed_mps)
                for o in radar.objects
            ],
        )


class FastApp:
    """One event per object list holding an object over 15 m/s."""

    def __init__(self) -> None:
        self.judged: list[pb.ObjectList] = []

    def evaluate(self, objects: pb.ObjectList) -> list[pb.TrafficEvent]:
        self.judged.append(objects)
        return [
            pb.TrafficEvent(event_id=f"fast-{o.object_id}", object_ids=[o.object_id])
            for o in objects.objects
            if o.speed_mps > 15.0
        ]


def green(data: bytes) -> pb.SignalPhaseTiming:
    """A controller role: b"ok" is green SPaT for intersection 101, anything else is bad."""
    if data != b"ok":
        raise ProtocolError("not a datagram of the test", reason="bad_length")
    return pb.SignalPhaseTiming(
        intersection_id=101,
        phases=[pb.PhaseState(signal_group=1, state=pb.SIGNAL_STATE_GREEN)],
    )


class Parts:
    def __init__(self) -> None:
        self.uplink = RecordingUplink(pb.DEVICE_ROLE_ROADSIDE_UNIT)
        self.clock = FixedClock()
        self.fixes = StubFixes()
        self.place = RecordingPlacement()
        self.app = FastApp()
        self.radio = RecordingRadio()
        # A port that is never opened here: the pipeline only needs its name and counters.
        self.port = PythonCanPort("radar", "virtual", f"rg-test-{uuid.uuid4().hex}")

    def pipeline(
        self,
        radars: Sequence[StubRadar] = (),
        *,
        plan: FixedTimePlan | None = None,
        controller: SignalControllerInput | None = None,
        settings: RoadsideUnitSettings | None = None,
        clock: Clock | None = None,
        fusion: ObjectFusion | None = None,
    ) -> RoadsideUnitPipeline:
        return RoadsideUnitPipeline(
            radars=[radar.input(self.port) for radar in radars],
            gnss=None,
            fixes=self.fixes,
            signal_plan=plan,
            signal_controller=controller,
            uplink=self.uplink,
            settings=settings or RoadsideUnitSettings(),
            apps=[self.app],
            place=self.place,
            fusion=fusion,
            radio=self.radio,
            clock=clock or self.clock,
        )


def test_every_radar_on_a_bus_gets_its_batches_and_its_lists_are_placed_and_published() -> None:
    parts = Parts()
    front = StubRadar("front", radar_list(1, CAR))
    side = StubRadar("side", radar_list(2, CAR, RadarObject(8, 5.0, 0.0, 0.0, 0.0, 1, 1.0)))
    pipeline = parts.pipeline([front, side])
    batch = empty_batch(6)
    pipeline.on_can_batch("radar", batch)
    assert [b is batch for b in front.batches] == [True]
    assert [b is batch for b in side.batches] == [True]
    assert [pose.sensor_id for _, pose in parts.place.placed] == ["front", "side"]
    lists = parts.uplink.of(pb.ObjectList)
    assert [(lst.sensor_id, lst.cycle_counter, len(lst.objects)) for lst in lists] == [
        ("front", 1, 1),
        ("side", 2, 2),
    ]
    # Stamped with the cycles' capture time (the header frame's timestamp), not the clock's.
    assert [t for _, t in parts.uplink.submitted] == [1_000_000_000] * 2
    assert pipeline.counters["can_frames"] == 6
    assert pipeline.counters["object_lists"] == 2


def test_an_apps_events_follow_the_list_they_judged() -> None:
    parts = Parts()
    parts.place.speed_mps = 20.0
    pipeline = parts.pipeline([StubRadar("front", radar_list(1, CAR))])
    pipeline.on_can_batch("radar", empty_batch(1))
    assert parts.uplink.kinds() == ["ObjectList", "TrafficEvent"]
    assert parts.uplink.of(pb.TrafficEvent)[0].object_ids == [7]


def test_a_non_finite_object_list_is_neither_published_nor_judged() -> None:
    parts = Parts()
    parts.place.speed_mps = math.inf
    pipeline = parts.pipeline([StubRadar("front", radar_list(1, CAR))])
    pipeline.on_can_batch("radar", empty_batch(1))
    assert parts.uplink.submitted == []
    assert parts.app.judged == []
    pipeline.publish_health()
    (health,) = parts.uplink.of(pb.DeviceHealth)
    assert health.counters["publish.refused.non_finite.ObjectList"] == 1


def test_the_fixed_time_plan_is_published_at_clock_time_and_broadcast() -> None:
    parts = Parts()
    pipeline = parts.pipeline(plan=PLAN)
    parts.clock.advance(30.0)  # another moment of the cycle: the plan says what it is
    pipeline.publish_spat()
    now = parts.clock.now
    ((spat, stamped),) = parts.uplink.submitted
    assert (spat, stamped) == (PLAN.spat(now / 1e9), now)
    assert parts.radio.spats == [(spat, now)]


def test_the_controllers_spat_flows_and_its_silence_is_an_event_at_clock_time() -> None:
    parts = Parts()
    port = UdpDatagramPort("signal-controller", "127.0.0.1", 0)  # never opened: not needed
    controller = SignalControllerInput(port, green, timeout_s=1.0)
    pipeline = parts.pipeline(controller=controller)
    received_s = parts.clock.now / 1e9
    pipeline.on_controller_datagrams([(b"ok", received_s), (b"bad", received_s)])
    assert parts.uplink.kinds() == ["SignalPhaseTiming"]
    assert parts.uplink.submitted[0][1] == parts.clock.now
    assert len(parts.radio.spats) == 1
    pipeline.check_controller()
    parts.clock.advance(0.9)
    pipeline.check_controller()
    assert parts.uplink.kinds() == ["SignalPhaseTiming"]  # not silent for long enough yet
    parts.clock.advance(0.2)
    pipeline.check_controller()
    fault, stamped = parts.uplink.submitted[-1]
    assert isinstance(fault, pb.TrafficEvent)
    assert (fault.type, fault.severity) == (pb.EVENT_TYPE_SENSOR_FAULT, pb.SEVERITY_WARNING)
    assert stamped == parts.clock.now
    parts.clock.advance(1.0)
    pipeline.on_controller_datagrams([(b"ok", parts.clock.now / 1e9)])
    assert parts.uplink.kinds()[-2:] == ["TrafficEvent", "SignalPhaseTiming"]
    assert parts.uplink.of(pb.TrafficEvent)[-1].severity == pb.SEVERITY_INFO
    pipeline.publish_health()
    counters = parts.uplink.of(pb.DeviceHealth)[0].counters
    assert counters["signal_controller.silences"] == 1
    assert counters["signal_controller.recoveries"] == 1
    assert counters["signal_controller.rejects.bad_length"] == 1
    assert counters["v2x.tx.spat"] == 2


def test_gnss_fixes_are_counted_and_bad_lines_reported() -> None:
    parts = Parts()
    pipeline = parts.pipeline([StubRadar("front")])
    for line in (b"FIX", b"junk", b"FIX"):
        pipeline.on_gnss_line(line)
    pipeline.publish_health()
    counters = parts.uplink.of(pb.DeviceHealth)[0].counters
    assert counters["pipeline.gnss_fixes"] == 2
    assert counters["nmea.rejects.checksum"] == 1
    assert counters["radar.front.cycles"] == 5
    assert counters["can.radar.rx_frames"] == 0
    assert counters["udp.v2x-radio.tx_datagrams"] == 3


def test_a_plan_and_a_controller_together_are_refused() -> None:
    port = UdpDatagramPort("signal-controller", "127.0.0.1", 0)
    with pytest.raises(ValueError, match="not both"):
        Parts().pipeline(plan=PLAN, controller=SignalControllerInput(port, green))


@pytest.mark.asyncio
@pytest.mark.parametrize("spat_from", ["plan", "controller"])
async def test_run_starts_every_role_in_a_named_task(spat_from: str) -> None:
    parts = Parts()
    settings = RoadsideUnitSettings(spat_rate_hz=50.0, health_period_s=0.05)
    with (
        parts.port,
        UdpDatagramPort("signal-controller", "127.0.0.1", 0) as udp,
    ):
        controller = SignalControllerInput(udp, green, timeout_s=0.05)
        pipeline = parts.pipeline(
            [StubRadar("front")],
            plan=PLAN if spat_from == "plan" else None,
            controller=controller if spat_from == "controller" else None,
            settings=settings,
            clock=SYSTEM_CLOCK,  # the watchdog and the plan run on real time here
        )
        before = asyncio.all_tasks()
        async with running(pipeline.run(), "pipeline-under-test"):
            await eventually(lambda: parts.uplink.running.is_set() and parts.radio.running.is_set())
            common = {"pipeline-under-test", "uplink", "v2x-radio", "can-radar", "health"}
            if spat_from == "plan":
                assert task_names(before) == common | {"spat-plan"}
                await eventually(lambda: len(parts.uplink.of(pb.SignalPhaseTiming)) >= 2)
            else:
                assert task_names(before) == common | {
                    "udp-signal-controller",
                    "controller-watchdog",
                }
                # A silent controller: the watchdog task reports it.
                await eventually(lambda: len(parts.uplink.of(pb.TrafficEvent)) == 1)
            await eventually(lambda: len(parts.uplink.of(pb.DeviceHealth)) >= 2)


class StubFusion:
    """Fuses every list into one object per list, numbered by cycle."""

    checked_fields: frozenset[str] = frozenset()

    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []

    @property
    def counters(self) -> dict[str, int]:
        return {"cycles": len(self.seen)}

    def on_list(self, sensor: str, radar_list: RadarObjectList) -> tuple[pb.ObjectList, int] | None:
        self.seen.append((sensor, radar_list.cycle_counter))
        if radar_list.cycle_counter == 99:
            return None  # a list the tracker could not use
        objects = pb.ObjectList(
            sensor_id="fused",
            kind=pb.OBJECT_LIST_KIND_FUSED,
            objects=[pb.PerceivedObject(object_id=len(self.seen), speed_mps=30.0)],
        )
        return objects, 1_000_000_000


@pytest.mark.parametrize("raw", [False, True])
def test_with_a_fusion_the_fused_list_is_published_and_judged_and_raw_lists_on_request(
    raw: bool,
) -> None:
    parts = Parts()
    fusion = StubFusion()
    front = StubRadar("front", radar_list(1, CAR), radar_list(99, CAR))
    pipeline = parts.pipeline(
        [front], fusion=fusion, settings=RoadsideUnitSettings(raw_object_lists=raw)
    )
    pipeline.on_can_batch("radar", empty_batch(2))
    assert fusion.seen == [("front", 1), ("front", 99)]
    lists = parts.uplink.of(pb.ObjectList)
    kinds = [lst.sensor_id for lst in lists]
    assert kinds == (["front", "fused", "front"] if raw else ["fused"])
    # The apps judge the fused list only: one object, one event, not one per radar list.
    assert [e.object_ids[0] for e in parts.uplink.of(pb.TrafficEvent)] == [1]
    assert all(t == 1_000_000_000 for _, t in parts.uplink.submitted)
    assert pipeline.counters["fused_lists"] == 1
    assert pipeline.health.snapshot().counters["perception.cycles"] == 2


class TimedFusion(StubFusion):
    """``StubFusion`` whose fused list has its radar list's capture time."""

    def on_list(self, sensor: str, radar_list: RadarObjectList) -> tuple[pb.ObjectList, int] | None:
        fused = super().on_list(sensor, radar_list)
        return None if fused is None else (fused[0], round(radar_list.timestamp * 1e9))


def test_the_fused_list_goes_up_once_a_period_and_the_apps_take_every_list() -> None:
    parts = Parts()
    front = StubRadar("front")
    pipeline = parts.pipeline(
        [front], fusion=TimedFusion(), settings=RoadsideUnitSettings(uplink_period_s=0.1)
    )
    # Lists 18 ms apart (four radars); then one captured before the last that went up, which
    # completed later (the radars' cycles overlap); then one after the clock stepped back.
    reads = [[1.000, 1.018, 1.036, 1.108], [1.100, 1.210], [0.5]]
    cycle = 0
    for times in reads:
        front.lists = [RadarObjectList(0, cycle + k, t, (CAR,)) for k, t in enumerate(times)]
        cycle += len(times)
        pipeline.on_can_batch("radar", empty_batch(2))
    uplinked = [t for lst, t in parts.uplink.submitted if isinstance(lst, pb.ObjectList)]
    assert uplinked == [1_000_000_000, 1_108_000_000, 1_210_000_000, 500_000_000]
    assert pipeline.counters["fused_lists"] == 7
    assert pipeline.counters["fused_lists_not_uplinked"] == 3
    # The applications judged every fused list, not only those that went up.
    judged = {e.object_ids[0] for e in parts.uplink.of(pb.TrafficEvent)}
    assert judged == set(range(1, 8))


def test_without_a_period_every_fused_list_goes_up() -> None:
    parts = Parts()
    times = [1.000, 1.018, 1.030]
    front = StubRadar("front", *(RadarObjectList(0, k, t, (CAR,)) for k, t in enumerate(times)))
    pipeline = parts.pipeline([front], fusion=TimedFusion())
    pipeline.on_can_batch("radar", empty_batch(2))
    assert len(parts.uplink.of(pb.ObjectList)) == 3
    assert pipeline.counters["fused_lists_not_uplinked"] == 0


def test_the_radio_gets_the_fused_list_and_the_traffic_events_not_the_units_faults() -> None:
    parts = Parts()
    port = UdpDatagramPort("signal-controller", "127.0.0.1", 0)  # never opened: not needed
    controller = SignalControllerInput(port, green, timeout_s=1.0)
    front = StubRadar("front", radar_list(1, CAR), radar_list(99, CAR))
    pipeline = parts.pipeline(
        [front],
        fusion=StubFusion(),
        controller=controller,
        settings=RoadsideUnitSettings(raw_object_lists=True),
    )
    pipeline.on_can_batch("radar", empty_batch(2))
    # Only the fused list goes on the air (not the radar's own), and the app's event on it.
    ((fused, fused_ns),) = parts.radio.object_lists
    assert (fused.sensor_id, fused_ns) == ("fused", 1_000_000_000)
    assert parts.radio.events == [(parts.uplink.of(pb.TrafficEvent)[0], 1_000_000_000)]
    pipeline.check_controller()
    parts.clock.advance(1.5)
    pipeline.check_controller()  # the controller's silence: the unit's own fault
    (fault, _) = parts.uplink.submitted[-1]
    assert isinstance(fault, pb.TrafficEvent)
    assert fault.type == pb.EVENT_TYPE_SENSOR_FAULT
    assert len(parts.radio.events) == 1, "a fault of the unit's own went on the air"
