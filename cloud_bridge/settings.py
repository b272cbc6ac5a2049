"""Frozen, typed settings of the bridge; ``firmware_py`` parses config files into these."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cloud_bridge.validation import CaptureWindow
from cloud_bridge.web.settings import WebSettings
from protocols.mqtt_connection import BRIDGE_CLIENT_ID, MqttConnection
from protocols.topics import check_segment

BRIDGE_MQTT = MqttConnection(client_id=BRIDGE_CLIENT_ID, mqtt5=True, reconnect_min_s=1.0)
"""The bridge's connection defaults (a box's differ): its own client id, for a persistent
session; MQTT 5, so it can tell the broker the largest packet it takes
(``BridgeSettings.max_packet_bytes``) and a huge publish never reaches its memory (3.1.1 has no
such bound); a first retry after 0.5-1 s. Change one with ``dataclasses.replace``."""


PACKET_OVERHEAD_BYTES = 65_536 + 1_024
"""Room in an MQTT packet besides the payload: the topic (at most 65,535 bytes) and headers."""


@dataclass(frozen=True, slots=True)
class BridgeSettings:
    """Everything one bridge worker needs.

    ``mqtt`` is the connection (``BRIDGE_MQTT``'s defaults; a ``client_id`` of None means
    ``BRIDGE_CLIENT_ID``). ``region`` is a region id or ``+`` for all regions.

    Bounds (each configurable, see ``load_bridge_config``):

    * ``max_payload_bytes``: larger payloads are dead-lettered as ``oversized`` (cut to this
      size). Over MQTT 5 the broker is also told not to send packets over
      :attr:`max_packet_bytes` at all: it drops them (Mosquitto logs "Dropping too large
      outgoing PUBLISH"), so the bridge's memory stays bounded whatever a device publishes.
    * ``max_dead_letters`` / ``max_dead_letter_bytes``: the dead-letter table keeps at most
      this many rows and payload bytes; the oldest go first, counted.
    * ``device_messages_per_s`` / ``device_bytes_per_s`` / ``device_burst_s`` /
      ``device_backlog_bytes``: the flood limit per device
      (:class:`cloud_bridge.rate_limit.DeviceRateLimiter`); messages over it are counted
      (``rate_limited``), acknowledged and not stored. A vehicle sends about 12 msg/s (state at
      10 Hz, health, events), a roadside unit about 70 (objects at 14 Hz from each of up to
      four radars, SPaT at 10 Hz, ~300 kB/s): 200 msg/s and 2 MiB/s with 30 s of burst leave
      room for reconnects; backlog replayed after an outage (``historical``) may come at once
      up to ``device_backlog_bytes``, a device outbox's default size.
    * ``capture_max_age_s`` / ``capture_max_ahead_s``: capture times outside this window
      around the bridge's clock are stored flagged ``clock_suspect`` (and counted).

    The store is the SQLite file ``store_path`` unless ``store_dsn`` (a libpq URL or DSN) names
    a PostgreSQL database; ``retention_days`` (PostgreSQL) drops history partitions older than
    that many days (None keeps everything).

    ``share_group``, when set, makes this worker one of a group that splits the traffic over an
    MQTT shared subscription (``$share/<group>/...``); each worker then needs a client id of
    its own (see :func:`cloud_bridge.session.worker_client_id`).

    Raises ``ValueError`` for an invalid region or share group, a QoS other than 0, 1, 2, or
    a bound that is not positive.
    """

    mqtt: MqttConnection
    store_path: Path
    region: str = "+"
    max_payload_bytes: int = 65536
    subscribe_qos: int = 1
    max_dead_letters: int = 10_000
    max_dead_letter_bytes: int = 16 * 1024 * 1024
    device_messages_per_s: float = 200.0
    device_bytes_per_s: float = 2 * 1024 * 1024
    device_burst_s: float = 30.0
    device_backlog_bytes: int = 64 * 1024 * 1024
    capture_max_age_s: float = 7 * 24 * 3600.0
    capture_max_ahead_s: float = 300.0
    share_group: str | None = None
    store_dsn: str | None = None
    retention_days: int | None = None
    web: WebSettings | None = None  # [web]: the HTTP API, live stream and dashboard

    def __post_init__(self) -> None:
        if self.region != "+":
            check_segment("region", self.region)
        if self.share_group is not None:
            check_segment("share_group", self.share_group)
        if self.retention_days is not None and self.retention_days < 1:
            raise ValueError(f"retention_days {self.retention_days} is not valid: use >= 1")
        if self.subscribe_qos not in (0, 1, 2):
            raise ValueError(f"subscribe_qos {self.subscribe_qos} is not valid: use 0, 1 or 2")
        for name in (
            "max_payload_bytes",
            "max_dead_letters",
            "max_dead_letter_bytes",
            "device_messages_per_s",
            "device_bytes_per_s",
            "device_burst_s",
            "device_backlog_bytes",
        ):
            value = getattr(self, name)
            if not value > 0:  # also rejects NaN
                raise ValueError(f"{name} {value} is not valid: use > 0")
        for name in ("capture_max_age_s", "capture_max_ahead_s"):
            value = getattr(self, name)
            if not value >= 0:
                raise ValueError(f"{name} {value} is not valid: use >= 0")

    @property
    def max_packet_bytes(self) -> int:
        """The MQTT 5 Maximum Packet Size the bridge announces: a payload limit plus a topic.

        An oversized payload up to 64 KiB over the limit still arrives and is dead-lettered
        (and counted) as ``oversized``; a larger one is dropped by the broker.
        """
        return self.max_payload_bytes + PACKET_OVERHEAD_BYTES

    @property
    def capture_window(self) -> CaptureWindow:
        """The window of plausible capture times, for :func:`cloud_bridge.validation.validate`."""
        return CaptureWindow(self.capture_max_age_s, self.capture_max_ahead_s)
