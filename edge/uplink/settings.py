"""Typed settings of the uplink, built by the composition root from the config file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from aiomqtt import TLSParameters

from protocols.topics import Stream

DEFAULT_QOS: Mapping[Stream, int] = MappingProxyType(
    {
        Stream.EVENTS: 1,
        Stream.STATUS: 1,
        Stream.ACK: 1,
        Stream.HEALTH: 1,
        Stream.OBJECTS: 0,
        Stream.STATE: 0,
        Stream.SPAT: 0,
    }
)
"""Safety events, status and acks must arrive; high-rate streams are superseded 10x a second."""

PRIORITY: Mapping[Stream, int] = MappingProxyType(
    {
        Stream.EVENTS: 0,
        Stream.STATUS: 1,
        Stream.ACK: 1,
        Stream.OBJECTS: 2,
        Stream.SPAT: 2,
        Stream.STATE: 3,
        Stream.HEALTH: 4,
    }
)
"""Lower goes first: a safety event never waits behind telemetry."""


EXPIRING_STREAMS = frozenset({Stream.STATE, Stream.OBJECTS, Stream.SPAT})
"""High-rate streams whose messages are worthless once superseded: sent with an MQTT 5 message
expiry, so a broker does not queue stale ones for a slow subscriber."""


@dataclass(frozen=True)
class UplinkSettings:
    """Where and how a box publishes."""

    host: str = "127.0.0.1"
    port: int = 1883
    client_id: str | None = None  # default: the device id
    # Cellular carriers drop idle NAT mappings after 60 s or more; 30 s keeps the mapping alive
    # and notices a dead link within 45 s (1.5 keepalives) at a few bytes a minute.
    keepalive_s: int = 30
    mqtt5: bool = False  # MQTT 5: content type and message expiry on every message
    expiry_s: int = 10  # MQTT 5 message expiry of EXPIRING_STREAMS
    username: str | None = None
    password: str | None = None
    # TLS: server verification against ca_certs; mutual TLS with certfile + keyfile. Python's
    # client context refuses anything older than TLS 1.2.
    tls: TLSParameters | None = None
    qos: Mapping[Stream, int] = field(default_factory=lambda: DEFAULT_QOS)
    # How long to wait for the broker's acknowledgement of a QoS 1 message before treating the
    # connection as lost: paho does not fail in-flight publishes when the socket dies silently.
    ack_timeout_s: float = 5.0
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 30.0
