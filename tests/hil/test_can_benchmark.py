"""``roadgate bench can``'s CPU accounting: the reading process's CPU per 1,000 frames."""

from __future__ import annotations

import hashlib
import threading

import pytest

from hil.can_benchmark import Reading, cpu_ms_per_kframe, highest_without_loss, process_cpu_s


def test_cpu_per_kframe_is_milliseconds_per_thousand_frames() -> None:
    assert cpu_ms_per_kframe(2.0, 100_000) == pytest.approx(20.0)
    assert cpu_ms_per_kframe(0.5, 1_000) == pytest.approx(500.0)
    assert cpu_ms_per_kframe(1.0, 0) == 0.0
    reading = Reading(
        received=50_000, lost=0, out_of_order=0, frames_per_s=1.0, offered_per_s=1.0, cpu_s=0.25
    )
    assert reading.cpu_ms_per_kframe == pytest.approx(5.0)


def _burn(seconds: float) -> None:
    start = process_cpu_s()
    data = b"x" * 4096
    while process_cpu_s() - start < seconds:
        data = hashlib.sha256(data).digest() * 128


def test_process_cpu_counts_every_thread_of_the_process() -> None:
    before = process_cpu_s()
    threads = [threading.Thread(target=_burn, args=(0.1,)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Each thread stops once the process has spent 0.1 s more: at least that much was spent.
    assert process_cpu_s() - before >= 0.1


def _reading(offered: float, lost: int) -> Reading:
    return Reading(
        received=1000 - lost, lost=lost, out_of_order=0, frames_per_s=1.0, offered_per_s=offered
    )


def test_capacity_is_the_highest_offered_rate_with_nothing_lost() -> None:
    steps = [_reading(700, 0), _reading(6_800, 0), _reading(12_000, 19), _reading(11_000, 0)]
    assert highest_without_loss(steps) == 11_000
    assert highest_without_loss([_reading(700, 1)]) == 0.0
    assert highest_without_loss([]) == 0.0
