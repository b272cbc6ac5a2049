"""The one MQTT connection type and reconnect backoff of boxes and the bridge."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.mqtt_connection import Backoff, Jitter, MqttConnection, MqttTls


class FixedDraw(random.Random):
    """``random()`` always returns ``value``: uniform(a, b) is then a + (b - a) * value."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


def delays(backoff: Backoff, n: int) -> list[float]:
    return [backoff.next_delay() for _ in range(n)]


def test_equal_jitter_doubles_from_one_second_to_thirty_within_half_to_full() -> None:
    longest = delays(Backoff(1.0, 30.0, jitter=Jitter.EQUAL, rng=FixedDraw(1.0)), 8)
    shortest = delays(Backoff(1.0, 30.0, jitter=Jitter.EQUAL, rng=FixedDraw(0.0)), 8)

    assert longest == [1, 2, 4, 8, 16, 30, 30, 30]
    assert shortest == [0.5, 1, 2, 4, 8, 15, 15, 15]


def test_full_jitter_keeps_the_floor_at_half_the_minimum() -> None:
    longest = delays(Backoff(0.5, 4.0, rng=FixedDraw(1.0)), 6)
    shortest = delays(Backoff(0.5, 4.0, rng=FixedDraw(0.0)), 6)

    assert longest == [0.5, 1, 2, 4, 4, 4]
    assert shortest == [0.25] * 6


def test_reset_starts_again_from_the_minimum() -> None:
    backoff = Backoff(0.5, 30.0, jitter=Jitter.EQUAL, rng=FixedDraw(1.0))
    assert delays(backoff, 4) == [0.5, 1, 2, 4]
    backoff.reset()
    assert delays(backoff, 2) == [0.5, 1]


def test_real_draws_are_jittered() -> None:
    backoff = Backoff(0.1, 1.0, jitter=Jitter.EQUAL)
    drawn = list(itertools.islice(iter(backoff.next_delay, None), 50))
    assert all(0.05 <= d <= 1.0 for d in drawn)
    assert len(set(drawn)) > 1


@given(
    minimum=st.floats(0.001, 100),
    spread=st.floats(1, 1000),
    seed=st.integers(0, 2**32),
    jitter=st.sampled_from(Jitter),
)
def test_every_delay_lies_between_its_floor_and_the_maximum(
    minimum: float, spread: float, seed: int, jitter: Jitter
) -> None:
    maximum = minimum * spread
    backoff = Backoff(minimum, maximum, jitter=jitter, rng=random.Random(seed))
    ceiling = minimum
    for delay in delays(backoff, 30):
        floor = minimum / 2 if jitter is Jitter.FULL else ceiling / 2
        assert floor <= delay <= ceiling * (1 + 1e-12)  # uniform() may round up to b
        ceiling = min(ceiling * 2, maximum)


@pytest.mark.parametrize(("minimum", "maximum"), [(0.0, 1.0), (2.0, 1.0), (1.0, float("inf"))])
def test_backoff_refuses_bounds_that_are_not_increasing_and_finite(
    minimum: float, maximum: float
) -> None:
    with pytest.raises(ValueError, match="need 0 < minimum <= maximum"):
        Backoff(minimum, maximum)


def test_a_connection_gives_its_backoff_and_box_defaults() -> None:
    connection = MqttConnection(reconnect_min_s=2.0, reconnect_max_s=3.0)
    assert delays(connection.backoff(Jitter.EQUAL, FixedDraw(1.0)), 3) == [2, 3, 3]
    box = MqttConnection()
    assert (box.client_id, box.mqtt5, box.keepalive_s) == (None, False, 30)
    assert (box.reconnect_min_s, box.reconnect_max_s) == (0.5, 30.0)


def test_mutual_tls_needs_both_files() -> None:
    assert MqttTls("ca.crt", "dev.crt", "dev.key").keyfile == "dev.key"
    with pytest.raises(ValueError, match="certfile and keyfile go together"):
        MqttTls("ca.crt", certfile="dev.crt")
