"""What a scenario expects of the daemon, checked against a ``Recording`` after the run.

Every expectation is a frozen dataclass with ``describe()`` (one line, for the report) and
``check(recording) -> Verdict``. ``check`` never raises: odd data (an empty recording, a counter
never reported, a fault index the run never executed) fails with the reason in ``measured``.

Time bases, all in scenario seconds: ``messages`` and ``recovery`` look at arrival times (what
the bench saw, when); ``tracks``, ``vehicle_state``, ``event`` and a recovery's ``stream`` look
at capture times (what the data describes). Only messages from ``recording.device_id`` count,
and a message delivered twice (same boot id and sequence) counts once.

``tracks`` and ``vehicle_state`` compare with the ground truth and are in
``hil.scenario_engine.expectations_motion``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from hil.recording import FaultWindow, Received, Recording
from protocols.schema.v1 import roadgate_pb2 as pb

EVENT_PREFIX = "EVENT_TYPE_"
LATENCY_S = 0.3
"""How long the daemon may lag the truth it reports (the ``latency_s`` default)."""


@dataclass(frozen=True)
class Verdict:
    """One expectation's outcome: what was expected, whether it held, what was seen."""

    expectation: str
    passed: bool
    measured: str


@dataclass(frozen=True, kw_only=True)
class Expectation(ABC):
    """Base of every expectation kind; ``name`` (optional) labels it in the report."""

    name: str = ""

    @abstractmethod
    def describe(self) -> str:
        """What is expected, in one line."""

    @abstractmethod
    def _check(self, recording: Recording) -> tuple[bool, str]:
        """(passed, measured); may assume nothing about the recording's contents."""

    def label(self) -> str:
        """``describe()``, prefixed with the name when there is one."""
        return f"{self.name}: {self.describe()}" if self.name else self.describe()

    def check(self, recording: Recording) -> Verdict:
        """Check against ``recording``; never raises."""
        try:
            passed, measured = self._check(recording)
        except Exception as err:
            # A bug in one check must not cost the verdicts of a whole bench run: it is
            # reported as a failure with its cause instead.
            passed, measured = False, f"check failed: {type(err).__name__}: {err}"
        return Verdict(self.label(), passed, measured)


def evaluate(expectations: Iterable[Expectation], recording: Recording) -> list[Verdict]:
    """Every expectation's verdict, in order."""
    return [expectation.check(recording) for expectation in expectations]


# --- helpers shared by the kinds -------------------------------------------------------------


def device_messages(recording: Recording, stream: str | None = None) -> list[Received]:
    """The daemon's messages (of ``stream`` when given), duplicates removed, in arrival order."""
    return unique(
        m
        for m in recording.messages
        if m.device_id == recording.device_id and (stream is None or m.stream == stream)
    )[0]


def unique(messages: Iterable[Received]) -> tuple[list[Received], int]:
    """First arrival of each (boot id, sequence), and how many repeats were dropped."""
    seen: set[tuple[str, int]] = set()
    kept: list[Received] = []
    repeats = 0
    for m in messages:
        key = (m.envelope.boot_id, m.envelope.sequence)
        if key in seen:
            repeats += 1
        else:
            seen.add(key)
            kept.append(m)
    return kept, repeats


def capture_s(recording: Recording, message: Received) -> float:
    """The message's capture time in scenario seconds."""
    return recording.clock.from_unix_ns(message.envelope.capture_time_ns)


def counter_by_boot(recording: Recording, counter: str) -> dict[str, int]:
    """Per boot id (first seen first), the largest value of ``counter`` in health messages.

    Counters restart at zero with every daemon start, so a run's total is the sum over boots.
    """
    found: dict[str, int] = {}
    for m in device_messages(recording, "health"):
        if not m.envelope.HasField("health"):
            continue
        value = m.envelope.health.counters.get(counter)
        if value is not None:
            boot = m.envelope.boot_id
            found[boot] = max(found.get(boot, 0), value)
    return found


def counter_total(recording: Recording, counter: str) -> tuple[int, str] | None:
    """(sum over boots of each boot's largest value, explanation); None if never reported."""
    by_boot = counter_by_boot(recording, counter)
    if not by_boot:
        return None
    total = sum(by_boot.values())
    if len(by_boot) == 1:
        return total, "1 boot"
    return total, f"{len(by_boot)} boots: " + " + ".join(str(v) for v in by_boot.values())


def window_of(after_s: float, until_s: float | None, recording: Recording) -> tuple[float, float]:
    return after_s, recording.duration_s if until_s is None else until_s


def until_text(until_s: float | None) -> str:
    return "the end" if until_s is None else f"{until_s:g} s"


def _overlaps(a: float, b: float, faults: Sequence[FaultWindow]) -> bool:
    return any(a < f.end_s and b > f.start_s for f in faults)


def largest_gap(
    times: Sequence[float], lo: float, hi: float, faults: Sequence[FaultWindow]
) -> tuple[float, float, float]:
    """(gap, start, end) of the longest stretch of [lo, hi] without an arrival.

    The window's edges count as arrivals, so a stream that stops for good is caught too; a gap
    that overlaps a fault window is expected and skipped.
    """
    points = [lo, *sorted(t for t in times if lo <= t <= hi), hi]
    best = (0.0, lo, lo)
    for a, b in pairwise(points):
        if b - a > best[0] and not _overlaps(a, b, faults):
            best = (b - a, a, b)
    return best


def loss_verdict(what: str, delivered: int, received: int, max_lost: int) -> tuple[bool, str]:
    """Delivered vs received: at most ``max_lost`` missing, never more received than sent."""
    lost = delivered - received
    if received > delivered:
        return False, f"received {received} > delivered {delivered} {what}: counted twice?"
    return lost <= max_lost, f"lost {lost} (at most {max_lost} allowed)"


# --- the kinds -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ExpectMessages(Expectation):
    """``stream`` arrives: at least ``min_count`` messages in [after_s, until_s] (arrival time),
    at ``min_rate_hz`` or more, with no silence longer than ``max_gap_s`` outside faults."""

    stream: str
    min_count: int = 1
    min_rate_hz: float | None = None
    after_s: float = 0.0
    until_s: float | None = None  # None: the recording's duration
    max_gap_s: float | None = None

    def describe(self) -> str:
        # "at least 1" says nothing when a rate or a gap is asked for.
        plain = self.min_count == 1 and (self.min_rate_hz, self.max_gap_s) != (None, None)
        parts = [
            f"{self.stream} messages"
            if plain
            else f"at least {self.min_count} {self.stream} message(s)"
        ]
        if self.min_rate_hz is not None:
            parts.append(f"at {self.min_rate_hz:g} Hz or more")
        if self.max_gap_s is not None:
            parts.append(f"no gap over {self.max_gap_s:g} s outside faults")
        return f"{', '.join(parts)} from {self.after_s:g} s to {until_text(self.until_s)}"

    def _check(self, recording: Recording) -> tuple[bool, str]:
        lo, hi = window_of(self.after_s, self.until_s, recording)
        times = [m.t_s for m in device_messages(recording, self.stream) if lo <= m.t_s <= hi]
        rate = len(times) / (hi - lo) if hi > lo else 0.0
        passed = len(times) >= self.min_count
        measured = f"{len(times)} {self.stream} messages in {lo:g}-{hi:g} s ({rate:.2f} Hz)"
        if self.min_rate_hz is not None:
            passed = passed and rate >= self.min_rate_hz
        if self.max_gap_s is not None:
            gap, start, end = largest_gap(times, lo, hi, recording.faults)
            passed = passed and gap <= self.max_gap_s
            measured += f"; largest gap outside faults {gap:.2f} s ({start:.2f}-{end:.2f} s)"
        return passed, measured


@dataclass(frozen=True, kw_only=True)
class ExpectEvent(Expectation):
    """At least ``min_count`` (and at most ``max_count``) events of ``event_type`` (e.g.
    "EMERGENCY_BRAKE") captured in ``within_s``; with ``absent``, none at all."""

    event_type: str  # pb.EventType name without the EVENT_TYPE_ prefix
    within_s: tuple[float, float] | None = None  # None: the whole run
    min_count: int = 1
    max_count: int | None = None  # an event repeated for one episode is a fault too
    absent: bool = False

    def describe(self) -> str:
        window = (
            "during the run"
            if self.within_s is None
            else "captured in {:g}-{:g} s".format(*self.within_s)
        )
        if self.absent:
            return f"no {self.event_type} event {window}"
        if self.max_count is not None:
            count = (
                f"exactly {self.min_count}"
                if self.max_count == self.min_count
                else f"{self.min_count} to {self.max_count}"
            )
            return f"{count} {self.event_type} event(s) {window}"
        return f"at least {self.min_count} {self.event_type} event(s) {window}"

    def _check(self, recording: Recording) -> tuple[bool, str]:
        try:
            wanted = pb.EventType.Value(EVENT_PREFIX + self.event_type)
        except ValueError:
            return False, f"unknown event type {self.event_type!r}"
        lo, hi = self.within_s if self.within_s is not None else (0.0, recording.duration_s)
        times = sorted(
            capture_s(recording, m)
            for m in device_messages(recording, "events")
            if m.envelope.HasField("event") and m.envelope.event.type == wanted
        )
        inside = [t for t in times if lo <= t <= hi]
        measured = f"{len(inside)} {self.event_type} event(s) captured in {lo:g}-{hi:g} s"
        if inside:
            measured += " (at " + ", ".join(f"{t:.2f}" for t in inside[:5])
            measured += ", ..." if len(inside) > 5 else ""
            measured += " s)"
        measured += f"; {len(times) - len(inside)} outside it"
        if self.absent:
            return not inside, measured
        too_many = self.max_count is not None and len(inside) > self.max_count
        return len(inside) >= self.min_count and not too_many, measured


@dataclass(frozen=True, kw_only=True)
class ExpectNoLoss(Expectation):
    """Every message seen in the daemon's outbox reached the bench, and after a clean stop
    the outbox holds nothing the bench did not receive (a message in flight at the stop may
    stay, acknowledged too late to be deleted: it goes again at the next start, and the bridge
    dedupes it)."""

    def describe(self) -> str:
        return (
            "no message lost: everything seen in the outbox was received, nothing unsent left "
            "after a clean stop"
        )

    def _check(self, recording: Recording) -> tuple[bool, str]:
        mine = [m for m in recording.messages if m.device_id == recording.device_id]
        kept, repeats = unique(mine)
        received = {(m.envelope.boot_id, m.envelope.sequence) for m in kept}
        missing = sorted(recording.outbox_seen - received)
        left = recording.outbox_left_keys
        # Without the keys (an older recording), everything left counts as unsent.
        unsent = len(left - received) if left else recording.outbox_left
        data = [m for m in kept if m.stream != "status"]
        historical = sum(1 for m in data if m.envelope.historical)
        parts = [
            f"{len(data)} data messages received ({repeats} duplicates removed, "
            f"{historical} historical)",
            f"outbox: {len(recording.outbox_seen)} seen, {len(missing)} never received"
            + (f" (first: boot {missing[0][0][:8]} seq {missing[0][1]})" if missing else "")
            + f", {recording.outbox_left} left after the clean stop"
            + (f" ({unsent} never received)" if recording.outbox_left else ""),
            "sequence gaps: " + _sequence_gaps(kept),
        ]
        if not data:
            parts.insert(0, "nothing received, so nothing shown delivered")
        passed = bool(data) and not missing and unsent == 0
        return passed, "; ".join(parts)


def _sequence_gaps(messages: Sequence[Received]) -> str:
    """Per boot: sequence range, gaps and numbers missing (status messages use numbers too,
    and the last will is published by the broker, so this is a report, not a check)."""
    by_boot: dict[str, list[int]] = {}
    for m in messages:
        by_boot.setdefault(m.envelope.boot_id, []).append(m.envelope.sequence)
    if not by_boot:
        return "none (no messages)"
    reports = []
    for boot, seqs in by_boot.items():
        seqs.sort()
        gaps = sum(1 for a, b in pairwise(seqs) if b > a + 1)
        absent = seqs[-1] - seqs[0] + 1 - len(seqs)
        reports.append(f"boot {boot[:8]} {seqs[0]}-{seqs[-1]}: {gaps} gaps, {absent} missing")
    return ", ".join(reports)


@dataclass(frozen=True, kw_only=True)
class ExpectCanReceived(Expectation):
    """The daemon's bus ``bus`` counted every frame the bench put on ``channel`` that it reads
    (its kernel filter), at most ``max_lost`` missing, and the kernel dropped none."""

    channel: str
    bus: str
    max_lost: int = 0

    def describe(self) -> str:
        return (
            f"bus {self.bus} received the frames delivered on {self.channel} "
            f"(at most {self.max_lost} lost, no kernel drops)"
        )

    def _check(self, recording: Recording) -> tuple[bool, str]:
        sent = recording.can_delivered.get(self.channel)
        if sent is None:
            return False, f"the recording has no deliveries on {self.channel}"
        wanted = recording.can_wanted.get(self.channel)
        delivered = sum(n for i, n in sent.items() if wanted is None or i in wanted)
        unread = sum(sent.values()) - delivered
        counter = f"can.{self.bus}.rx_frames"
        rx = counter_total(recording, counter)
        if rx is None:
            return False, f"delivered {delivered} frames; no health message reported {counter}"
        received, boots = rx
        passed, lost = loss_verdict("frames", delivered, received, self.max_lost)
        drops = counter_total(recording, f"can.{self.bus}.rx_kernel_drops")
        if drops is None:
            drops_text = "kernel drops not reported"
        else:
            drops_text = f"kernel drops {drops[0]}"
            passed = passed and drops[0] == 0
        return passed, (
            f"delivered {delivered} frames ({unread} more outside the daemon's filter), "
            f"received {received} ({boots}); {lost}; {drops_text}"
        )


@dataclass(frozen=True, kw_only=True)
class ExpectGnssReceived(Expectation):
    """The daemon's ``counter`` counted every epoch GNSS emulator ``emulator`` delivered."""

    emulator: str
    counter: str = "pipeline.gnss_fixes"
    max_lost: int = 0

    def describe(self) -> str:
        return (
            f"{self.counter} counted the epochs {self.emulator} delivered "
            f"(at most {self.max_lost} lost)"
        )

    def _check(self, recording: Recording) -> tuple[bool, str]:
        delivered = recording.gnss_delivered.get(self.emulator)
        if delivered is None:
            return False, f"the recording has no deliveries from {self.emulator}"
        rx = counter_total(recording, self.counter)
        if rx is None:
            return False, f"delivered {delivered} epochs; no health message reported {self.counter}"
        received, boots = rx
        passed, lost = loss_verdict("epochs", delivered, received, self.max_lost)
        return passed, f"delivered {delivered} epochs, received {received} ({boots}); {lost}"


@dataclass(frozen=True, kw_only=True)
class ExpectRecovery(Expectation):
    """After fault number ``fault`` ends, the daemon is back within ``within_s``: ``counter``
    rises in a health message (arrival time), or ``stream`` delivers data captured after the
    end. Exactly one of ``counter`` and ``stream`` is set."""

    fault: int  # index into recording.faults (the scenario's [[fault]] order)
    within_s: float
    counter: str | None = None
    stream: str | None = None
    fault_label: str = ""  # e.g. "interface_down vcan0 at 6 s", for describe()

    def describe(self) -> str:
        what = f"{self.counter} rises" if self.counter else f"{self.stream} resumes"
        fault = f"fault {self.fault}" + (f" ({self.fault_label})" if self.fault_label else "")
        return f"{what} within {self.within_s:g} s of the end of {fault}"

    def _check(self, recording: Recording) -> tuple[bool, str]:
        if (self.counter is None) == (self.stream is None):
            return False, "exactly one of counter and stream must be set"
        if not 0 <= self.fault < len(recording.faults):
            return False, f"the run executed {len(recording.faults)} faults, no fault {self.fault}"
        end = recording.faults[self.fault].end_s
        if self.counter is not None:
            found, detail = self._counter_recovery(recording, self.counter, end)
        else:
            found, detail = self._stream_recovery(recording, str(self.stream), end)
        if found is None:
            return False, f"not recovered after the fault ended at {end:.2f} s: {detail}"
        took = found - end
        return took <= self.within_s, f"recovered {took:.2f} s after the fault ended ({detail})"

    @staticmethod
    def _counter_recovery(
        recording: Recording, counter: str, end: float
    ) -> tuple[float | None, str]:
        base_boot: str | None = None
        base = 0
        last = "never reported after it"
        for m in sorted(device_messages(recording, "health"), key=lambda m: m.t_s):
            value = (
                m.envelope.health.counters.get(counter) if m.envelope.HasField("health") else None
            )
            if value is None:
                continue
            if m.t_s < end:
                base_boot, base = m.envelope.boot_id, value
                continue
            # A restarted daemon counts from zero: any progress in a new boot is recovery.
            new_boot = m.envelope.boot_id != base_boot
            if (new_boot and value > 0) or (not new_boot and value > base):
                start = "new boot" if new_boot else f"from {base}"
                return m.t_s, f"{counter} {value} ({start}) at {m.t_s:.2f} s"
            last = f"last {value} at {m.t_s:.2f} s"
        return None, f"{counter} never rose above {base} ({last})"

    @staticmethod
    def _stream_recovery(recording: Recording, stream: str, end: float) -> tuple[float | None, str]:
        after = [m for m in device_messages(recording, stream) if capture_s(recording, m) > end]
        if not after:
            return None, f"no {stream} message captured after it"
        first = min(after, key=lambda m: m.t_s)
        return first.t_s, f"first {stream} message captured after it arrived at {first.t_s:.2f} s"


@dataclass(frozen=True, kw_only=True)
class ExpectCounter(Expectation):
    """A health counter's run total (each boot's last value, summed) is within bounds."""

    counter: str
    min_value: int | None = None
    max_value: int | None = None

    def describe(self) -> str:
        bounds = []
        if self.min_value is not None:
            bounds.append(f">= {self.min_value}")
        if self.max_value is not None:
            bounds.append(f"<= {self.max_value}")
        return f"{self.counter} {' and '.join(bounds) or 'reported'} at the end"

    def _check(self, recording: Recording) -> tuple[bool, str]:
        found = counter_total(recording, self.counter)
        if found is None:
            return False, f"no health message reported {self.counter}"
        value, boots = found
        passed = (self.min_value is None or value >= self.min_value) and (
            self.max_value is None or value <= self.max_value
        )
        return passed, f"{self.counter} = {value} ({boots})"
