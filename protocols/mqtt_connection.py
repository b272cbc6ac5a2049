"""How a box or the bridge reaches its MQTT broker, and how it waits between reconnects.

A leaf module: it imports nothing of ours and does no I/O, so both ``edge`` (the uplink) and
``cloud_bridge`` use it (the dependency test lists it in ``LEAF_MODULES``). ``firmware_py``
builds one ``MqttConnection`` from the ``[mqtt]`` table of either role's config; the client
turns ``tls`` into aiomqtt's ``TLSParameters`` (same field names) when it connects.
"""

from __future__ import annotations

import enum
import math
import random
from dataclasses import dataclass

BRIDGE_CLIENT_ID = "roadgate-bridge"
"""The bridge's client id when its ``MqttConnection`` names none (a box uses its device id)."""


class Jitter(enum.Enum):
    """How a reconnect delay is drawn below the current ceiling (which doubles each attempt).

    ``FULL``: uniform in [minimum / 2, ceiling]. Boxes use it: after a broker restart a fleet
    spreads its reconnects over the whole window instead of arriving in lock-step.
    ``EQUAL``: uniform in [ceiling / 2, ceiling]. The bridge uses it: it never retries in a
    tight loop once the broker has been gone a while, yet two bridges do not retry together.
    """

    FULL = "full"
    EQUAL = "equal"


class Backoff:
    """Reconnect delays that double from ``minimum`` to ``maximum`` seconds, jittered.

    Raises ``ValueError`` unless 0 < ``minimum`` <= ``maximum`` (both finite).
    """

    def __init__(
        self,
        minimum: float,
        maximum: float,
        *,
        jitter: Jitter = Jitter.FULL,
        rng: random.Random | None = None,
    ) -> None:
        if not (math.isfinite(maximum) and 0 < minimum <= maximum):
            raise ValueError(f"need 0 < minimum <= maximum, got {minimum}, {maximum}")
        self._minimum = minimum
        self._maximum = maximum
        self._ceiling = minimum
        self._jitter = jitter
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        """The next delay in seconds; each call doubles the ceiling up to the maximum."""
        floor = self._minimum / 2 if self._jitter is Jitter.FULL else self._ceiling / 2
        delay = self._rng.uniform(floor, self._ceiling)
        self._ceiling = min(self._ceiling * 2, self._maximum)
        return delay

    def reset(self) -> None:
        """Start again from the minimum, after a successful connection."""
        self._ceiling = self._minimum


@dataclass(frozen=True, slots=True)
class MqttTls:
    """TLS to the broker: verify it against ``ca_certs``; mutual TLS with ``certfile`` +
    ``keyfile``. Paths (the config loader checks they exist). The names are aiomqtt's
    ``TLSParameters``'; Python's client context refuses anything older than TLS 1.2.

    Raises ``ValueError`` when only one of ``certfile`` and ``keyfile`` is given.
    """

    ca_certs: str
    certfile: str | None = None
    keyfile: str | None = None

    def __post_init__(self) -> None:
        if (self.certfile is None) != (self.keyfile is None):
            raise ValueError("certfile and keyfile go together (mutual TLS)")


@dataclass(frozen=True, slots=True)
class MqttConnection:
    """Where a client connects, as whom, and how it reconnects. The defaults are a box's;
    the config loader gives the bridge its own (client id, MQTT 5, a 1 s first retry).

    Raises ``ValueError`` for a port outside 1-65535, a keepalive below 1 s, an empty client id
    or reconnect bounds that are not 0 < ``reconnect_min_s`` <= ``reconnect_max_s``.
    """

    host: str = "127.0.0.1"
    port: int = 1883
    client_id: str | None = None  # None: the role's default (the device id, BRIDGE_CLIENT_ID)
    # Cellular carriers drop idle NAT mappings after 60 s or more; 30 s keeps the mapping alive
    # and notices a dead link within 45 s (1.5 keepalives) at a few bytes a minute.
    keepalive_s: int = 30
    username: str | None = None
    password: str | None = None
    tls: MqttTls | None = None
    mqtt5: bool = False
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 30.0

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError(f"mqtt port {self.port} is not valid: use 1-65535")
        if self.keepalive_s < 1:
            raise ValueError(f"mqtt keepalive_s {self.keepalive_s} is not valid: use >= 1")
        if self.client_id == "":
            # A persistent session (clean_session=False) needs a stable, non-empty client id.
            raise ValueError("mqtt client_id must not be empty (None: the role's default)")
        if not (
            math.isfinite(self.reconnect_max_s) and 0 < self.reconnect_min_s <= self.reconnect_max_s
        ):
            raise ValueError(
                f"mqtt reconnect_min_s {self.reconnect_min_s}, reconnect_max_s "
                f"{self.reconnect_max_s} are not valid: use 0 < reconnect_min_s <= reconnect_max_s"
            )

    def backoff(self, jitter: Jitter, rng: random.Random | None = None) -> Backoff:
        """A fresh ``Backoff`` over ``reconnect_min_s`` .. ``reconnect_max_s``."""
        return Backoff(self.reconnect_min_s, self.reconnect_max_s, jitter=jitter, rng=rng)
