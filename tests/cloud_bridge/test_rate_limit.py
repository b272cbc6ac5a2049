"""DeviceRateLimiter: bursts, steady rates, byte budgets, bounded memory, any input."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloud_bridge.rate_limit import DeviceRateLimiter, device_key


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _limiter(clock: FakeClock, **kwargs: float) -> DeviceRateLimiter:
    settings = {
        "messages_per_s": 10.0,
        "bytes_per_s": 1e9,
        "burst_s": 2.0,
        "backlog_bytes": 1e9,
        **kwargs,
    }
    max_devices = int(settings.pop("max_devices", 1000))
    return DeviceRateLimiter(**settings, max_devices=max_devices, clock=clock)


def test_a_burst_passes_then_the_steady_rate() -> None:
    clock = FakeClock()
    limiter = _limiter(clock)

    assert [limiter.allow("veh-1", 100) for _ in range(25)] == [True] * 20 + [False] * 5

    clock.now += 0.5  # refills 5 messages
    assert sum(limiter.allow("veh-1", 100) for _ in range(10)) == 5
    clock.now += 100.0  # refills to the burst, not beyond
    assert sum(limiter.allow("veh-1", 100) for _ in range(50)) == 20


def test_devices_have_buckets_of_their_own() -> None:
    clock = FakeClock()
    limiter = _limiter(clock)
    for _ in range(30):
        limiter.allow("flooder", 10)

    assert limiter.allow("quiet", 10)
    assert not limiter.allow("flooder", 10)


def test_bytes_are_limited_too() -> None:
    clock = FakeClock()
    limiter = _limiter(clock, messages_per_s=1000.0, bytes_per_s=1000.0)  # 2,000 bytes burst

    assert [limiter.allow("rsu-1", 600) for _ in range(4)] == [True, True, True, False]
    clock.now += 1.0
    assert limiter.allow("rsu-1", 600)


def test_a_message_larger_than_the_byte_burst_passes_only_on_a_full_bucket() -> None:
    clock = FakeClock()
    limiter = _limiter(clock, bytes_per_s=100.0)  # 200 bytes burst

    assert limiter.allow("rsu-1", 10_000)
    assert not limiter.allow("rsu-1", 10)
    clock.now += 1_000.0
    assert limiter.allow("rsu-1", 10_000)


def test_backlog_has_an_allowance_of_its_own_in_bytes() -> None:
    clock = FakeClock()
    limiter = _limiter(clock, bytes_per_s=100.0, backlog_bytes=10_000.0)
    for _ in range(20):  # the live burst is used up
        limiter.allow("veh-1", 1)
    assert not limiter.allow("veh-1", 1)

    # An outage's worth of small messages: far more than the live burst of 20 messages.
    assert sum(limiter.allow("veh-1", 10, historical=True) for _ in range(1_100)) == 1_000
    clock.now += 1.0  # refills 100 bytes of backlog (and 10 live messages)
    assert sum(limiter.allow("veh-1", 10, historical=True) for _ in range(20)) == 10
    assert limiter.allow("veh-1", 1)


def test_a_refused_message_costs_nothing() -> None:
    clock = FakeClock()
    limiter = _limiter(clock, messages_per_s=1.0, burst_s=1.0)
    assert limiter.allow("veh-1", 1)
    for _ in range(100):
        assert not limiter.allow("veh-1", 1)

    clock.now += 1.0
    assert limiter.allow("veh-1", 1)


def test_a_clock_going_backwards_refills_nothing() -> None:
    clock = FakeClock()
    limiter = _limiter(clock, messages_per_s=1.0, burst_s=1.0)
    assert limiter.allow("veh-1", 1)
    clock.now -= 50.0

    assert not limiter.allow("veh-1", 1)


def test_keeps_at_most_max_devices_forgetting_the_least_recently_seen() -> None:
    clock = FakeClock()
    limiter = _limiter(clock, messages_per_s=1.0, burst_s=1.0, max_devices=3)
    for device in ("a", "b", "c"):
        assert limiter.allow(device, 1)
    assert not limiter.allow("a", 1)  # "a" is now the most recently seen

    assert limiter.allow("d", 1)  # forgets "b"

    assert len(limiter) == 3
    assert not limiter.allow("a", 1)
    assert limiter.allow("b", 1)  # a new bucket: full again


@pytest.mark.parametrize(
    "kwargs",
    [
        {"messages_per_s": 0.0},
        {"bytes_per_s": -1.0},
        {"burst_s": math.nan},
        {"backlog_bytes": 0.0},
        {"max_devices": 0},
    ],
)
def test_rejects_a_non_positive_setting(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        _limiter(FakeClock(), **kwargs)


@pytest.mark.parametrize(
    ("topic", "key"),
    [
        ("rg/v1/xian/veh-001/state", "veh-001"),
        ("rg/v1/xian//state", ""),
        ("rg/v1/xian/veh-001/state/extra", ""),
        ("rg/v1/xian", ""),
        ("", ""),
    ],
)
def test_device_key_is_the_fourth_segment_of_a_five_segment_topic(topic: str, key: str) -> None:
    assert device_key(topic) == key


@given(
    st.lists(
        st.tuples(st.text(max_size=80), st.integers(0, 2**40), st.floats(-1e6, 1e6), st.booleans()),
        max_size=50,
    )
)
def test_never_raises_and_never_tracks_more_than_max_devices(
    calls: list[tuple[str, int, float, bool]],
) -> None:
    clock = FakeClock()
    limiter = _limiter(clock, max_devices=5)
    for topic, size, step, historical in calls:
        clock.now += step
        assert limiter.allow(device_key(topic), size, historical=historical) in (True, False)
        assert len(limiter) <= 5
