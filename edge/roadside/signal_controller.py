"""SPaT from the signal controller: its datagrams in, SPaT and controller-fault events out.

The controller is the only source of truth for what the lights show. While it is silent the
unit publishes no SPaT at all (a guessed plan could tell a car "green" at a signal in flash)
and raises one ``SENSOR_FAULT`` event; one more, at ``INFO``, says when it is back.

Everything here is synchronous and takes its times as arguments, so the pipeline decides the
clocks: receive times (Unix, the kernel's stamp) become capture times and space the SPaT out;
liveness is judged on a monotonic clock, so a wall-clock step never fakes or hides a silence.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping

from edge.fault_events import FaultEvents
from protocols.errors import ProtocolError
from protocols.schema.v1 import roadgate_pb2 as pb

log = logging.getLogger("edge.signal_controller")

SpatDecoder = Callable[[bytes], pb.SignalPhaseTiming]
"""One datagram -> SPaT; raises ``ProtocolError`` (its ``reason`` a counter label)."""

Output = tuple[pb.SignalPhaseTiming | pb.TrafficEvent, int]
"""A message to publish and its capture time (Unix ns)."""

BURST = 2.0
"""SPaT messages that may go out back to back after a quiet spell (see ``_RateLimit``)."""


class _RateLimit:
    """A token bucket: on average at most ``rate_hz``, ``BURST`` back to back.

    A controller sending at exactly the publishing rate jitters around it; a bucket of two
    lets such a stream through whole, while a faster controller is cut to the rate.
    """

    def __init__(self, rate_hz: float) -> None:
        if not rate_hz > 0:
            raise ValueError(f"rate_hz must be positive, got {rate_hz}")
        self._rate = rate_hz
        self._tokens = BURST
        self._last: float | None = None

    def allow(self, t_s: float) -> bool:
        if self._last is not None:
            # max(): receive times are wall-clock and may step back.
            self._tokens = min(BURST, self._tokens + max(0.0, t_s - self._last) * self._rate)
        self._last = t_s
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class SignalControllerFeed:
    """Turns the controller's datagrams into SPaT; watches it for silence.

    Counters: ``datagrams``, ``spat`` (published), ``rate_limited`` (decoded but over the
    publishing rate), ``silences``, ``recoveries`` and ``rejects.<reason>`` (datagrams that
    did not decode).
    """

    def __init__(
        self,
        device_id: str,
        decode: SpatDecoder,
        *,
        timeout_s: float,
        max_rate_hz: float,
        wall_clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        """Raises ``ValueError`` for a timeout or rate that is not positive."""
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        self._device_id = device_id
        self._decode = decode
        self._timeout_s = timeout_s
        self._limit = _RateLimit(max_rate_hz)
        self._wall_clock_ns = wall_clock_ns
        self._counts: Counter[str] = Counter(
            {k: 0 for k in ("datagrams", "spat", "rate_limited", "silences", "recoveries")}
        )
        self._rejects: Counter[str] = Counter()
        self._last_heard_s: float | None = None  # monotonic; None until watching starts
        self._silent_since_s: float | None = None
        self._in_reject_burst = False
        self._faults = FaultEvents(device_id, "signal-controller", pb.EVENT_TYPE_SENSOR_FAULT)

    @property
    def silent(self) -> bool:
        """True from a reported silence until the controller is heard again."""
        return self._silent_since_s is not None

    @property
    def counters(self) -> Mapping[str, int]:
        return {**self._counts, **{f"rejects.{k}": v for k, v in self._rejects.items()}}

    def datagram(self, data: bytes, received_s: float, now_s: float) -> list[Output]:
        """Handle one datagram received at Unix time ``received_s`` (read at monotonic
        ``now_s``): the SPaT to publish, and the recovery event if the controller was silent.
        A datagram that does not decode is counted by reason and logged once per burst."""
        self._counts["datagrams"] += 1
        try:
            spat = self._decode(data)
        except ProtocolError as err:
            self._rejects[err.reason] += 1
            if not self._in_reject_burst:
                log.warning(
                    "%s: dropping bad signal-controller datagrams: %s", self._device_id, err
                )
                self._in_reject_burst = True
            return []
        self._in_reject_burst = False
        outputs: list[Output] = []
        if self._silent_since_s is not None:
            outputs.append(self._recovered(now_s - self._silent_since_s, received_s))
        self._last_heard_s = now_s
        if self._limit.allow(received_s):
            self._counts["spat"] += 1
            outputs.append((spat, round(received_s * 1e9)))
        else:
            self._counts["rate_limited"] += 1
        return outputs

    def check(self, now_s: float) -> list[Output]:
        """Call periodically (monotonic ``now_s``): the fault event when the controller has
        been silent for ``timeout_s`` (counted from the first call if never heard)."""
        if self._last_heard_s is None:
            self._last_heard_s = now_s
        if self._silent_since_s is not None or now_s - self._last_heard_s < self._timeout_s:
            return []
        self._silent_since_s = self._last_heard_s
        self._counts["silences"] += 1
        silent_s = now_s - self._last_heard_s
        text = f"signal controller silent for {silent_s:.1f} s: no SPaT until it is back"
        log.warning("%s: %s", self._device_id, text)
        return [(self._faults.make(pb.SEVERITY_WARNING, text), self._wall_clock_ns())]

    def _recovered(self, silent_s: float, received_s: float) -> Output:
        self._silent_since_s = None
        self._counts["recoveries"] += 1
        text = f"signal controller back after {silent_s:.1f} s of silence"
        log.info("%s: %s", self._device_id, text)
        return self._faults.make(pb.SEVERITY_INFO, text), round(received_s * 1e9)
