"""Another client connected with the box's client id: the broker's takeover, seen and slowed.

Two boxes configured with one device id connect with one client id, and the broker keeps only
the newer connection (MQTT-3.1.4-3). Left alone, the two take turns throwing each other out at
every reconnect and both merely look flaky. An MQTT 5 broker may say why: a DISCONNECT with
reason 0x8E "Session taken over". Under MQTT 3.1.1, and with brokers that do not send it
(Mosquitto 2.0.11 only closes the socket, MQTT 5 or not), a run of connections closed right
after they were accepted, with no other reason given, is taken for the same thing.

``SessionTakeover`` tells the uplink when a lost connection was such a takeover: it counts
them, logs one line per episode, and hands out a much longer, jittered and growing wait
(``TakeoverPolicy``), so the two boxes settle instead of flapping. An episode ends once a
connection has lasted ``episode_end_s``.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from edge.uplink.mqtt_link import LinkLostError
from protocols.mqtt_connection import Backoff, Jitter

log = logging.getLogger("edge.uplink")

SESSION_TAKEN_OVER = 0x8E
"""MQTT 5's DISCONNECT reason code "Session taken over"."""
UNSPECIFIED = 0x80
"""The reason paho gives a connection closed without a DISCONNECT (and a broker's vaguest)."""


@dataclass(frozen=True, slots=True)
class TakeoverPolicy:
    """How a takeover is recognised and how long the uplink then waits.

    The first wait is drawn from [``backoff_s`` / 2, ``backoff_s``] and the ceiling doubles per
    takeover up to ``backoff_max_s`` (``Backoff`` with equal jitter). Without the broker's
    word, ``short_sessions`` connections in a row closed within ``short_session_s`` of being
    accepted, no other reason given, start an episode. Raises ``ValueError`` for values that
    are not positive and finite, or ``backoff_s`` over ``backoff_max_s``.
    """

    backoff_s: float = 60.0
    backoff_max_s: float = 300.0
    # Longer than a birth message's acknowledgement timeout (5 s) and a reconnect: a box thrown
    # out while its birth was in flight waits that long before it throws the other one out.
    short_session_s: float = 15.0
    short_sessions: int = 5
    episode_end_s: float = 600.0

    def __post_init__(self) -> None:
        values = (self.backoff_s, self.backoff_max_s, self.short_session_s, self.episode_end_s)
        if not all(math.isfinite(v) and v > 0 for v in values) or self.short_sessions < 1:
            raise ValueError(f"takeover policy needs positive, finite values: {self}")
        if self.backoff_s > self.backoff_max_s:
            raise ValueError(f"takeover backoff_s {self.backoff_s} is over backoff_max_s")


def disconnect_reason(error: BaseException) -> int | None:
    """The MQTT reason code ``error``, or an error it was raised from, carries, if any.

    The link raises ``LinkLostError`` with the broker's reason; an error raised from it (a
    failed session) leads to it through its cause, so the whole chain is searched.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, LinkLostError) and current.reason_code is not None:
            return current.reason_code
        current = current.__cause__ or current.__context__
    return None


def is_session_taken_over(error: BaseException) -> bool:
    """True when ``error`` comes from the broker's DISCONNECT 0x8E "Session taken over"."""
    return disconnect_reason(error) == SESSION_TAKEN_OVER


class SessionTakeover:
    """The takeovers of one client's session: ``connected`` when a connection is accepted,
    ``lost`` when it ends. ``taken_over`` counts the lost connections put down to another
    client, ``episodes`` the runs of them.

    ``on_episode``
    is called with the logged line when an episode starts (the uplink publishes it as an
    event). ``monotonic`` and ``rng`` are injectable for tests.
    """

    def __init__(
        self,
        client_id: str,
        device_id: str,
        policy: TakeoverPolicy,
        *,
        on_episode: Callable[[str], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._client_id = client_id
        self._device_id = device_id
        self._policy = policy
        self._on_episode = on_episode
        self._monotonic = monotonic
        self._backoff = Backoff(
            policy.backoff_s, policy.backoff_max_s, jitter=Jitter.EQUAL, rng=rng
        )
        self._connected_at: float | None = None
        self._short_run = 0
        self._in_episode = False
        self.taken_over = 0
        self.episodes = 0

    @property
    def active(self) -> bool:
        """Within an episode: the last connections were taken over by another client."""
        if self._connected_at is not None and self._lasted() >= self._policy.episode_end_s:
            self._end_episode()
        return self._in_episode

    def connected(self) -> None:
        """A connection was accepted."""
        self._connected_at = self._monotonic()

    def lost(self, error: BaseException) -> float | None:
        """The connection ended (or could not be made) with ``error``.

        Returns how long to wait before the next attempt when another client took the session
        over, or None: not a takeover, the usual reconnect backoff applies. Logs the first
        takeover of each episode.
        """
        short = False
        if self._connected_at is not None:  # else no connection was made: the run goes on
            lasted = self._lasted()
            self._connected_at = None
            if lasted >= self._policy.episode_end_s:
                self._end_episode()
            short = lasted < self._policy.short_session_s
            self._short_run = self._short_run + 1 if short else 0
        reason = disconnect_reason(error)
        if reason == SESSION_TAKEN_OVER:
            self._taken_over("the broker says another client took the session over")
        elif not short or reason not in (None, UNSPECIFIED):
            return None  # a lost connection like any other, or the broker gave its reason
        elif self._in_episode:
            self._taken_over("")  # still the same other box
        elif self._short_run >= self._policy.short_sessions:
            self._taken_over(
                f"{self._short_run} connections in a row closed within "
                f"{self._policy.short_session_s:g} s of being accepted"
            )
        else:
            return None
        return self._backoff.next_delay()

    def _taken_over(self, why: str) -> None:
        self.taken_over += 1
        if self._in_episode:
            return
        self._in_episode = True
        self.episodes += 1
        line = (
            f"another box is connected as {self._client_id}: two boxes configured as "
            f"{self._device_id}? ({why}); reconnecting only every "
            f"{self._policy.backoff_s / 2:g}-{self._policy.backoff_max_s:g} s meanwhile"
        )
        log.error("%s: %s", self._device_id, line)
        if self._on_episode is not None:
            self._on_episode(line)

    def _end_episode(self) -> None:
        if self._in_episode:
            self._in_episode = False
            self._backoff.reset()
            log.info("%s: no takeover of %s for a while", self._device_id, self._client_id)
        self._short_run = 0

    def _lasted(self) -> float:
        assert self._connected_at is not None
        return self._monotonic() - self._connected_at
