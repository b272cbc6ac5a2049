"""BridgeStats: counters, per-(device, stream) activity, sliding-window rates, snapshots."""

from __future__ import annotations

import dataclasses

import pytest

from cloud_bridge.stats import BridgeStats, StreamActivity


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_counts_received_stored_duplicates_ignored_and_rejects() -> None:
    stats = BridgeStats()
    for _ in range(5):
        stats.record_received()
    stats.record_stored("rsu-001", "state", 10)
    stats.record_duplicate()
    stats.record_ignored()
    stats.record_rejected("malformed")
    stats.record_rejected("malformed")
    stats.record_rejected("oversized")

    snap = stats.snapshot()

    assert (snap.received, snap.stored, snap.duplicates, snap.ignored) == (5, 1, 1, 1)
    assert dict(snap.rejected) == {"malformed": 2, "oversized": 1}
    assert snap.rejected_total == 3


def test_tracks_count_and_latest_time_per_device_and_stream() -> None:
    stats = BridgeStats()
    stats.record_stored("rsu-002", "state", 10)
    stats.record_stored("rsu-001", "objects", 20)
    stats.record_stored("rsu-002", "state", 30)

    assert stats.snapshot().activity == (
        StreamActivity("rsu-001", "objects", 1, 20),
        StreamActivity("rsu-002", "state", 2, 30),
    )


def test_rate_is_messages_per_second_over_the_window() -> None:
    clock = FakeClock()
    stats = BridgeStats(window_s=10.0, bucket_s=1.0, clock=clock)
    for _ in range(10):  # 50 state messages spread over 10 s
        for _ in range(5):
            stats.record_stored("rsu-001", "state", 0)
        clock.now += 1.0
    clock.now -= 1.0  # still inside the last bucket
    stats.record_stored("rsu-001", "events", 0)

    assert stats.rate("state") == pytest.approx(5.0)
    assert stats.rate("events") == pytest.approx(0.1)
    assert stats.rate("spat") == 0.0

    clock.now += 5.0  # the first five seconds fall out of the window
    assert stats.rate("state") == pytest.approx(2.5)
    clock.now += 60.0
    assert stats.snapshot().rates == {"state": 0.0, "events": 0.0}


def test_snapshot_is_immutable_and_detached() -> None:
    stats = BridgeStats()
    stats.record_rejected("malformed")
    snap = stats.snapshot()

    stats.record_rejected("malformed")
    stats.record_received()

    assert snap.rejected["malformed"] == 1
    assert snap.received == 0
    with pytest.raises(TypeError):
        snap.rejected["malformed"] = 5  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.received = 3  # type: ignore[misc]


@pytest.mark.parametrize(("window_s", "bucket_s"), [(10.0, 0.0), (1.0, 2.0), (10.0, -1.0)])
def test_rejects_a_bad_window(window_s: float, bucket_s: float) -> None:
    with pytest.raises(ValueError, match="bucket"):
        BridgeStats(window_s=window_s, bucket_s=bucket_s)


def test_counts_floods_suspect_clocks_and_dropped_dead_letters() -> None:
    stats = BridgeStats()
    before = stats.snapshot()
    stats.record_rate_limited()
    stats.record_rate_limited()
    stats.record_clock_suspect()
    stats.record_dead_letters_dropped(0)
    stats.record_dead_letters_dropped(3)

    snap = stats.snapshot()

    assert (before.rate_limited, before.clock_suspect, before.dead_letters_dropped) == (0, 0, 0)
    assert (snap.rate_limited, snap.clock_suspect, snap.dead_letters_dropped) == (2, 1, 3)
    assert snap.rejected_total == 0  # a flood is not a reject: nothing was dead-lettered
