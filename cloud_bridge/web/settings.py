"""Frozen settings of the bridge's HTTP API, live stream and dashboard."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from protocols.topics import check_segment

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


@dataclass(frozen=True, slots=True)
class WebSettings:
    """Where the API listens and who may read what.

    ``api_key_hashes`` maps a region to the hashes (``sha256:<hex>``, see
    :mod:`cloud_bridge.web.api_keys`) of the keys that may read it. ``client_queue`` is how
    many live messages a WebSocket client may fall behind before it is dropped; ``max_clients``
    bounds the live connections of the whole server; ``max_page`` the rows one request returns.

    Raises ``ValueError`` for an invalid region, hash or bound.
    """

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    api_key_hashes: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    client_queue: int = 256
    max_clients: int = 200
    max_page: int = 1000

    def __post_init__(self) -> None:
        from cloud_bridge.web.api_keys import check_key_hash

        for region, hashes in self.api_key_hashes.items():
            check_segment("region", region)
            for key_hash in hashes:
                check_key_hash(key_hash)
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port {self.port} is not valid: use 0-65535")
        for name in ("client_queue", "max_clients", "max_page"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} {getattr(self, name)} is not valid: use >= 1")
