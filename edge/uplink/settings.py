"""Typed settings of the uplink, built by the composition root from the config file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from edge.uplink.session_takeover import TakeoverPolicy
from protocols.mqtt_connection import MqttConnection
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
        Stream.INTERSECTION: 1,
        Stream.RECORDING: 1,
    }
)
"""Safety events, status, acks, the once-a-minute intersection description and uploaded
recordings must arrive; high-rate streams are superseded 10x a second."""

PRIORITY: Mapping[Stream, int] = MappingProxyType(
    {
        Stream.EVENTS: 0,
        Stream.STATUS: 1,
        Stream.ACK: 1,
        Stream.OBJECTS: 2,
        Stream.SPAT: 2,
        Stream.STATE: 3,
        Stream.HEALTH: 4,
        Stream.INTERSECTION: 4,
        Stream.RECORDING: 5,
    }
)
"""Lower goes first: a safety event never waits behind telemetry, and telemetry never waits
behind an uploaded recording's chunks."""


EXPIRING_STREAMS = frozenset({Stream.STATE, Stream.OBJECTS, Stream.SPAT})
"""High-rate streams whose messages are worthless once superseded: sent with an MQTT 5 message
expiry, so a broker does not queue stale ones for a slow subscriber."""


@dataclass(frozen=True)
class UplinkSettings:
    """Where a box publishes (``mqtt``: the connection, the bridge's type too) and how.

    ``mqtt.client_id`` None means the device id; over ``mqtt.mqtt5`` every message carries its
    content type and the messages of EXPIRING_STREAMS an expiry of ``expiry_s``.
    """

    mqtt: MqttConnection = field(default_factory=MqttConnection)
    expiry_s: int = 10  # MQTT 5 message expiry of EXPIRING_STREAMS
    qos: Mapping[Stream, int] = field(default_factory=lambda: DEFAULT_QOS)
    # How long to wait for the broker's acknowledgement of a QoS 1 message before treating the
    # connection as lost: paho does not fail in-flight publishes when the socket dies silently.
    ack_timeout_s: float = 5.0
    # Another client connected with this client id: how it is recognised, how long to wait.
    takeover: TakeoverPolicy = field(default_factory=TakeoverPolicy)
