"""What the user-mode-linux guest's scheduler clock does to the CPU the benchmarks measure and
limit there, and the settings that keep it from deciding their figures.

The guest's kernel (``hil.uml``, HZ=100) has no scheduler clock finer than its tick: a task is
charged a whole 10 ms for each tick that lands while it runs, and nothing for what it runs
between two ticks (``cpu.stat`` shows usage in multiples of 10,000 us). Charges are right on
average only when a task's runs fall at every phase of the tick. Two things in the benchmarks
ran at one phase for a whole boot, so that the boot's luck decided the figure:

* A reader on a 10 ms grid (the radar buses' default ``read_window_s``) wakes at the same point
  of each tick. In some boots each read straddled a tick and was charged 10 ms, in others
  almost none was: the roadside unit's CPU for the same 20 s of traffic came to 1.1-1.5 s or
  2.9-4.1 s by boot, and the limited unit kept up or fell behind with it. On a grid of
  ``BENCH_READ_WINDOW_S`` the reads drift through the tick's phases: 3.7-4.2 s in six of six
  boots.
* The CFS bandwidth period, 100 ms, is ten ticks: a throttled task resumed at one phase of the
  tick each period, charged a full tick for the part of one it ran first. n-body held to a
  share got 0.53-1.03 of it by boot; with ``LIMIT_PERIOD_US`` the resumes drift through the
  tick and it got 0.76-0.84 of it in six of six boots: on average half a tick of every period
  is lost (``CpuLimit`` gives back what the kernel lost, at most ``HALF_TICK_US``).

* The vehicle bus's signals come every 20 ms, two ticks: the vehicle gateway woke at one phase
  of the tick for a whole boot (``ECU_CLOCK_SKEW``).

Natively (a scheduler clock in nanoseconds) none of this matters and the same settings do no
harm: a read every 9.3 ms instead of 10, a 100.7 ms period instead of 100.
"""

from __future__ import annotations

GUEST_TICK_US = 10_000
"""The guest's tick (CONFIG_HZ=100), the unit its scheduler charges CPU in."""
HALF_TICK_US = GUEST_TICK_US // 2
BENCH_READ_WINDOW_S = 0.0093
"""The radar buses' read window in the benchmarks: near the default (0.01) but not a multiple
or a divisor of the tick, so reads fall at every phase of it."""
LIMIT_PERIOD_US = 100_700
"""The CFS bandwidth period of a benchmark's CPU limit: not a multiple of the tick."""
ECU_CLOCK_SKEW = 1.005
"""How much slower the played vehicle bus's ECUs count time than the guest: its 20 ms cycle
(two ticks) becomes 20.1 ms and drifts through the tick's phases ten times in 20 s. On the
tick, the gateway's CPU for the same 20 s came to 0.1, 1.7, 8.3 and 9.5 s by boot."""


def ticked(usage_us: int) -> bool:
    """Whether a cgroup's ``usage_usec`` after a busy second was charged in whole ticks (the
    guest's scheduler clock) rather than measured (a native one; a nonzero usage is a multiple
    of 10 ms by chance one time in 10,000)."""
    return usage_us > 0 and usage_us % GUEST_TICK_US == 0
