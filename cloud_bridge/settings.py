"""Frozen, typed settings of the bridge; ``firmware_py`` parses config files into these."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aiomqtt import TLSParameters

from protocols.topics import check_segment


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """How to reach the broker.

    Raises ``ValueError`` for an out-of-range port or keepalive.
    """

    host: str = "127.0.0.1"
    port: int = 1883
    client_id: str = "roadgate-bridge"
    keepalive_s: int = 30
    username: str | None = None
    password: str | None = None
    tls: TLSParameters | None = None  # server verification; mutual TLS with certfile + keyfile

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError(f"mqtt port {self.port} is not valid: use 1-65535")
        if self.keepalive_s < 1:
            raise ValueError(f"mqtt keepalive_s {self.keepalive_s} is not valid: use >= 1")
        if not self.client_id:
            # A persistent session (clean_session=False) needs a stable, non-empty client id.
            raise ValueError("mqtt client_id must not be empty")


@dataclass(frozen=True, slots=True)
class BridgeSettings:
    """Everything one bridge worker needs.

    ``region`` is a region id or ``+`` for all regions. Raises ``ValueError`` for an invalid
    region, a non-positive ``max_payload_bytes`` or a QoS other than 0, 1, 2.
    """

    mqtt: MqttSettings
    store_path: Path
    region: str = "+"
    max_payload_bytes: int = 65536
    subscribe_qos: int = 1

    def __post_init__(self) -> None:
        if self.region != "+":
            check_segment("region", self.region)
        if self.max_payload_bytes < 1:
            raise ValueError(f"max_payload_bytes {self.max_payload_bytes} is not valid: use >= 1")
        if self.subscribe_qos not in (0, 1, 2):
            raise ValueError(f"subscribe_qos {self.subscribe_qos} is not valid: use 0, 1 or 2")
