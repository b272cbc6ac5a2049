"""The signal controller emulator on a real UDP socket: TSCBM of its plan on scenario time, at
its rate, silenced on demand; the datagram a plan makes; the shipped scenario's box config."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge.roadside.signal_plan import FixedTimePlan, SignalGroupPlan
from firmware_py.config.loader import load_box_config
from hil.clock import ScenarioClock
from hil.commands import SCENARIO_DIR
from hil.emulators import SignalControllerEmulator
from hil.emulators.signal_controller import tscbm_from_plan
from hil.runner import free_udp_port, render_box_config
from hil.scenario_engine import SignalControllerSpec, load_scenario
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.spat import PhaseTiming, TscbmMessage, decode_tscbm, to_spat
from tests.support.waiting import wait_until

# Group 1 green 0-2 s, amber 2-3 s; group 2 green 3-5 s, amber 5-6 s; a 6 s cycle.
PLAN = FixedTimePlan(
    intersection_id=101,
    cycle_s=6.0,
    groups=(SignalGroupPlan(1, 0.0, 2.0, 1.0), SignalGroupPlan(2, 3.0, 2.0, 1.0)),
)


@pytest.fixture
def receiver() -> Iterator[socket.socket]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.05)
        yield sock


@contextmanager
def broadcasting(
    receiver: socket.socket, rate_hz: float
) -> Iterator[tuple[SignalControllerEmulator, ScenarioClock]]:
    """An emulator of ``PLAN`` sending to ``receiver`` at ``rate_hz``, and its scenario clock,
    from its start to the block's end (then stopped)."""
    emulator = SignalControllerEmulator(
        "controller0", plan=PLAN, target_port=receiver.getsockname()[1], rate_hz=rate_hz
    )
    clock = ScenarioClock()
    emulator.start(clock)
    try:
        yield emulator, clock
    finally:
        emulator.stop()


def collect(sock: socket.socket, clock: ScenarioClock, until_s: float) -> list[tuple[float, bytes]]:
    """(scenario receive time, datagram) until scenario time ``until_s``."""
    got = []
    while clock.now_s() < until_s:
        try:
            data = sock.recv(1024)
        except TimeoutError:
            continue
        got.append((clock.now_s(), data))
    return got


def drain(sock: socket.socket) -> list[bytes]:
    """The datagrams already queued on ``sock`` (its timeout ends the wait)."""
    queued = []
    while True:
        try:
            queued.append(sock.recv(1024))
        except TimeoutError:
            return queued


def sent_at(message: TscbmMessage, clock: ScenarioClock) -> float:
    """The scenario time of a datagram's UTC time of day (within a millisecond)."""
    day = message.hour * 3600 + message.minute * 60 + message.second + message.millisecond / 1000
    return (day - clock.t0_unix % 86400) % 86400


def states(spat: pb.SignalPhaseTiming) -> dict[int, int]:
    return {p.signal_group: p.state for p in spat.phases}


def test_it_broadcasts_its_plan_at_its_rate(receiver: socket.socket) -> None:
    with broadcasting(receiver, rate_hz=10.0) as (emulator, clock):
        got = collect(receiver, clock, 3.5)
    late = drain(receiver)  # sent after the collection ended, before the emulator stopped
    assert 33 <= len(got) <= 35
    assert len(late) <= 1
    assert emulator.stats == {"sent": len(got) + len(late), "silenced": 0, "failed": 0}
    sequences = []
    for t_s, data in got:
        message = decode_tscbm(data)
        sequences.append(message.sequence)
        # Its time of day says which tick of the 0.1 s grid sent it: the plan at that tick.
        tick = round(sent_at(message, clock) * 10) * 0.1
        assert 0 <= t_s - tick < 0.1
        spat = to_spat(message, intersection_id=101)
        planned = PLAN.spat(tick)
        assert states(spat) == states(planned), tick
        for phase, plan_phase in zip(spat.phases, planned.phases, strict=True):
            assert phase.likely_end_s == pytest.approx(plan_phase.likely_end_s, abs=0.051)
    assert sequences == list(range(len(got)))
    seen = {tuple(sorted(states(to_spat(decode_tscbm(d), 101)).items())) for _, d in got}
    assert len(seen) == 3  # in 3.5 s: green/red, amber/red, red/green


def test_silence_stops_the_broadcast_until_it_is_lifted(receiver: socket.socket) -> None:
    with broadcasting(receiver, rate_hz=20.0) as (emulator, clock):
        before = collect(receiver, clock, 0.5)
        emulator.silence(True)
        # A datagram may already be on its way: one tick silenced means it has been sent.
        wait_until(lambda: emulator.stats["silenced"] >= 1, 5.0, "a silenced tick")
        while True:  # drain it
            try:
                receiver.recv(1024)
            except TimeoutError:
                break
        during = collect(receiver, clock, 1.5)
        emulator.silence(False)
        after = collect(receiver, clock, 2.0)
    assert before
    assert during == []
    assert 8 <= len(after) <= 11
    assert emulator.stats["silenced"] >= 15


def test_the_datagram_of_a_plan() -> None:
    utc = datetime(2025, 5, 1, 13, 42, 59, 123_456, tzinfo=UTC)
    message = decode_tscbm(tscbm_from_plan(PLAN, 2.5, sequence=300, utc=utc))
    assert message.phases == (PhaseTiming(1, 5, 5), PhaseTiming(2, 5, 5))  # both change at 3 s
    assert message.vehicle_state(1) == pb.SIGNAL_STATE_AMBER
    assert message.vehicle_state(2) == pb.SIGNAL_STATE_RED
    assert message.sequence == 300 % 256
    assert (message.hour, message.minute, message.second, message.millisecond) == (13, 42, 59, 123)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="rate_hz"):
        SignalControllerEmulator("c", plan=PLAN, target_port=6053, rate_hz=0)
    with pytest.raises(ValueError, match="target_port"):
        SignalControllerEmulator("c", plan=PLAN, target_port=0)
    wide = FixedTimePlan(1, 60.0, (SignalGroupPlan(17, 0.0, 10.0),))
    with pytest.raises(ValueError, match=r"signal groups \[17\] are not phases 1-16"):
        SignalControllerEmulator("c", plan=wide, target_port=6053)


def test_the_shipped_scenario_renders_a_box_config_with_the_controller_port(
    tmp_path: Path,
) -> None:
    scenario = load_scenario(SCENARIO_DIR / "roadside-signal-controller.toml")
    [controller] = [e for e in scenario.emulators if isinstance(e, SignalControllerSpec)]
    port = free_udp_port()
    values = {
        "mqtt_host": "127.0.0.1",
        "mqtt_port": "1883",
        "run_dir": str(tmp_path),
        "gnss_gnss0": str(tmp_path / "gnss0"),
        f"spat_port_{controller.name}": str(port),
        "v2x_radio_port_radio0": "30301",  # the scenario's C-V2X radio
        "v2x_listen_port_radio0": "30300",
    }
    config = load_box_config(
        render_box_config(scenario.box_template, values, tmp_path / "box.toml")
    )
    assert config.roadside is not None
    assert config.roadside.signal_plan is None
    settings = config.roadside.signal_controller
    assert settings is not None
    assert (settings.port, settings.intersection_id) == (port, controller.plan.intersection_id)
    assert [f.kind for f in scenario.faults] == ["controller_silent"]
