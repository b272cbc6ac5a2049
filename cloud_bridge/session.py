"""How the bridge's MQTT session is opened: protocol, persistence and the largest packet it takes.

Over MQTT 5 (the default) the bridge sends a Maximum Packet Size in its CONNECT; a compliant
broker then never sends it a larger packet: it drops the message instead (MQTT 5.0 section
3.1.2.11.4; Mosquitto 2 logs "Dropping too large outgoing PUBLISH"). paho reads
a whole packet into memory before anyone can look at its size, so this is the only bound on what
one publish costs the bridge. Measured with Mosquitto 2.0.11 and no ``message_size_limit``: a
200 MB publish took a 3.1.1 subscriber to 618 MB peak RSS, an MQTT 5 one stayed at 27 MB.

The session is persistent either way: the broker keeps the subscription and queues QoS 1
messages while the bridge reconnects, so an outage of the bridge loses nothing.

Workers of a share group (``BridgeSettings.share_group``) subscribe to ``$share/<group>/...``:
the broker hands each message to one of them. Each worker keeps a persistent session of its own,
so its client id must be its own and stable across its restarts: what the broker sent it and it
had not acknowledged when it died goes to it again when it is back (Mosquitto 2.0 does not hand
such messages to another worker of the group), and its store dedupes them.
"""

from __future__ import annotations

import re
from typing import TypedDict

from paho.mqtt.client import MQTT_CLEAN_START_FIRST_ONLY, CleanStartOption
from paho.mqtt.enums import MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from cloud_bridge.settings import BridgeSettings
from protocols.mqtt_connection import BRIDGE_CLIENT_ID
from protocols.topics import subscription

SESSION_NEVER_EXPIRES = 0xFFFFFFFF
"""MQTT 5 Session Expiry Interval meaning "never", as a 3.1.1 persistent session behaves."""


class ConnectOptions(TypedDict):
    """How the bridge's paho client opens its session (``protocol`` and ``clean_session`` for
    the client, the rest for its ``connect``)."""

    protocol: MQTTProtocolVersion
    clean_session: bool | None
    clean_start: CleanStartOption
    properties: Properties | None


def connect_options(settings: BridgeSettings) -> ConnectOptions:
    """The session options for ``settings`` (see :class:`ConnectOptions`)."""
    if not settings.mqtt.mqtt5:
        # No packet size bound in 3.1.1: rely on the broker's message_size_limit.
        return ConnectOptions(
            protocol=MQTTProtocolVersion.MQTTv311,
            clean_session=False,
            clean_start=MQTT_CLEAN_START_FIRST_ONLY,  # paho's default: it refuses others on 3.1.1
            properties=None,
        )
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.MaximumPacketSize = settings.max_packet_bytes
    # Without an expiry interval an MQTT 5 session ends with the connection.
    properties.SessionExpiryInterval = SESSION_NEVER_EXPIRES
    return ConnectOptions(
        protocol=MQTTProtocolVersion.MQTTv5,
        clean_session=None,  # a 3.1.1 flag: paho refuses it under MQTT 5
        clean_start=False,  # resume the session on every connect, the first one included
        properties=properties,
    )


def topic_filter(settings: BridgeSettings) -> str:
    """What the bridge subscribes to: its region's uplinks, shared when it has a group."""
    plain = subscription(region=settings.region)
    if settings.share_group is None:
        return plain
    return f"$share/{settings.share_group}/{plain}"


_NOT_IN_CLIENT_ID = re.compile(r"[^A-Za-z0-9_.-]+")


def worker_client_id(share_group: str, host_name: str) -> str:
    """The default client id of a share group's worker on host ``host_name``.

    Stable across restarts (so the worker resumes its persistent session and gets back what it
    had not acknowledged) and different on every host. Two workers of one group on one host need
    a ``client_id`` each in their configs: with the same id they would take each other's session
    over in a loop. Characters outside ``A-Z a-z 0-9 _ . -`` in the host name become ``-``.
    """
    host = _NOT_IN_CLIENT_ID.sub("-", host_name).strip("-") or "host"
    return f"{BRIDGE_CLIENT_ID}-{share_group}-{host}"
