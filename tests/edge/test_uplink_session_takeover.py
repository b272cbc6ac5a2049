"""Telling a session taken over by another client from a lost connection, and backing off."""

from __future__ import annotations

import logging
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from edge.uplink.mqtt_link import LinkLostError
from edge.uplink.session_takeover import (
    SESSION_TAKEN_OVER,
    UNSPECIFIED,
    SessionTakeover,
    TakeoverPolicy,
    is_session_taken_over,
)

POLICY = TakeoverPolicy(
    backoff_s=60.0, backoff_max_s=240.0, short_session_s=5.0, short_sessions=3, episode_end_s=600.0
)
DISCONNECT_CODES = sorted(
    code
    for code, names in ReasonCode(PacketTypes.DISCONNECT).names.items()
    if any(PacketTypes.DISCONNECT in packets for packets in names.values())
)


def disconnected(code: int) -> LinkLostError:
    """What the uplink's session ends with after the broker's DISCONNECT ``code``: the link's
    error, raised again by the failed session from it."""
    try:
        try:
            raise LinkLostError("disconnected", code)
        except LinkLostError as cause:
            raise LinkLostError("the session ended") from cause
    except LinkLostError as err:
        return err


CONNECTION_LOST = LinkLostError("connection lost: ConnectionResetError()")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def takeover(episodes: list[str] | None = None) -> tuple[SessionTakeover, FakeClock]:
    clock = FakeClock()
    found = SessionTakeover(
        "veh-9",
        "veh-9",
        POLICY,
        on_episode=None if episodes is None else episodes.append,
        monotonic=clock,
        rng=random.Random(7),
    )
    return found, clock


def session(
    found: SessionTakeover, clock: FakeClock, lasted_s: float, error: Exception
) -> float | None:
    found.connected()
    clock.now += lasted_s
    return found.lost(error)


def test_the_brokers_session_taken_over_is_found_through_the_cause() -> None:
    assert is_session_taken_over(disconnected(SESSION_TAKEN_OVER))
    assert not is_session_taken_over(CONNECTION_LOST)


@given(st.sampled_from([c for c in DISCONNECT_CODES if c != SESSION_TAKEN_OVER]))
def test_no_other_disconnect_reason_is_a_takeover(code: int) -> None:
    assert not is_session_taken_over(disconnected(code))


@given(st.sampled_from(DISCONNECT_CODES), st.floats(0.0, 10_000.0))
def test_the_brokers_reason_decides_when_it_gives_one(code: int, lasted_s: float) -> None:
    found, clock = takeover()
    waits = [session(found, clock, lasted_s, disconnected(code)) for _ in range(5)]
    if code == SESSION_TAKEN_OVER:
        assert found.taken_over == 5
        assert all(w is not None and 30.0 <= w <= 240.0 for w in waits)
    elif code == UNSPECIFIED and lasted_s < POLICY.short_session_s:
        # No reason given (what paho reports for a closed socket): a run of them counts.
        assert waits[: POLICY.short_sessions - 1] == [None] * (POLICY.short_sessions - 1)
        assert found.taken_over == 5 - POLICY.short_sessions + 1
    else:
        assert waits == [None] * 5
        assert found.taken_over == 0


def test_a_takeover_is_logged_once_per_episode_and_waits_grow(
    caplog: pytest.LogCaptureFixture,
) -> None:
    episodes: list[str] = []
    found, clock = takeover(episodes)
    with caplog.at_level(logging.ERROR, logger="edge.uplink"):
        waits = [session(found, clock, 100.0, disconnected(SESSION_TAKEN_OVER)) for _ in range(4)]
    assert found.taken_over == 4
    assert found.episodes == 1
    assert found.active
    assert waits[0] is not None
    assert 30.0 <= waits[0] <= 60.0
    assert waits[1] is not None
    assert 60.0 <= waits[1] <= 120.0
    assert waits[3] is not None
    assert 120.0 <= waits[3] <= 240.0
    [record] = caplog.records
    assert "another box is connected as veh-9: two boxes configured as veh-9?" in record.message
    assert episodes == [record.message.removeprefix("veh-9: ")]


def test_a_long_connection_ends_the_episode_and_resets_the_wait() -> None:
    episodes: list[str] = []
    found, clock = takeover(episodes)
    for _ in range(3):
        session(found, clock, 1.0, disconnected(SESSION_TAKEN_OVER))
    found.connected()
    clock.now += POLICY.episode_end_s
    assert not found.active  # connected long enough: the other box went away
    wait = found.lost(disconnected(SESSION_TAKEN_OVER))
    assert wait is not None
    assert wait <= POLICY.backoff_s
    assert found.episodes == 2
    assert len(episodes) == 2


def test_a_run_of_short_connections_closed_without_a_reason_is_a_takeover() -> None:
    found, clock = takeover()
    assert session(found, clock, 0.3, CONNECTION_LOST) is None
    assert session(found, clock, 0.3, disconnected(UNSPECIFIED)) is None
    found.lost(CONNECTION_LOST)  # a failed attempt in between neither counts nor breaks the run
    wait = session(found, clock, 0.3, CONNECTION_LOST)
    assert wait is not None
    assert 30.0 <= wait <= 60.0
    assert (found.taken_over, found.episodes) == (1, 1)
    # Within the episode, the next short connection is the same other box at once.
    assert session(found, clock, 0.3, CONNECTION_LOST) is not None
    assert found.taken_over == 2


def test_a_long_connection_breaks_the_run() -> None:
    found, clock = takeover()
    for lasted_s in (0.3, 0.3, 30.0, 0.3, 0.3):
        assert session(found, clock, lasted_s, CONNECTION_LOST) is None
    assert found.taken_over == 0
    assert not found.active


@pytest.mark.parametrize(
    "fields",
    [
        {"backoff_s": 0.0},
        {"backoff_s": 500.0},
        {"backoff_max_s": float("inf")},
        {"short_session_s": float("nan")},
        {"short_sessions": 0},
        {"episode_end_s": -1.0},
    ],
)
def test_an_invalid_policy_is_refused(fields: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="takeover"):
        TakeoverPolicy(**fields)  # type: ignore[arg-type]
