"""The bridge config's ``[web]`` table and the ``--http ADDR:PORT`` option into ``WebSettings``.

::

    [web]
    listen = "127.0.0.1:8080"        # loopback unless said otherwise
    client_queue = 256               # live messages a client may lag before it is dropped
    [web.api_keys]
    xian-gaoxin = ["sha256:..."]     # hashes of the keys that may read this region

The table is read with the caller's ``TomlTable`` subclass, so its errors are the caller's.
"""

from __future__ import annotations

import ipaddress

from cloud_bridge.web.api_keys import check_key_hash
from cloud_bridge.web.settings import DEFAULT_HOST, DEFAULT_PORT, WebSettings
from protocols.toml_table import TomlTable
from protocols.topics import check_segment


def parse_listen(text: str) -> tuple[str, int]:
    """``ADDR:PORT``, ``[v6]:PORT`` or ``PORT`` (on loopback). Raises ``ValueError``."""
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = DEFAULT_HOST, text
    host = host.removeprefix("[").removesuffix("]") or DEFAULT_HOST
    if host != "localhost":
        try:
            ipaddress.ip_address(host)
        except ValueError as err:
            raise ValueError(f"{text!r}: {host!r} is not an IP address or localhost") from err
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"{text!r}: the port must be 0-65535")
    return host, int(port_text)


def parse_web(table: TomlTable) -> WebSettings:
    """``WebSettings`` from a ``[web]`` table; raises the table's error type."""
    host, port = DEFAULT_HOST, DEFAULT_PORT
    if table.has("listen"):
        host, port = table.convert("listen", _listen, "ADDR:PORT, e.g. 127.0.0.1:8080")
    keys_table = table.table("api_keys")
    hashes: dict[str, tuple[str, ...]] = {}
    for region, _ in keys_table.items():
        try:
            check_segment("region", region)
        except ValueError as err:
            raise keys_table.error(region, region, str(err)) from err
        hashes[region] = keys_table.convert(region, _hashes, "an array of sha256:<hex> hashes")
    settings = WebSettings(
        host=host,
        port=port,
        api_key_hashes=hashes,
        client_queue=table.integer("client_queue", 256, low=1, high=100_000),
        max_clients=table.integer("max_clients", 200, low=1, high=100_000),
        max_page=table.integer("max_page", 1000, low=1, high=100_000),
    )
    table.reject_unknown()
    return settings


def _listen(value: object) -> tuple[str, int]:
    if not isinstance(value, str):
        raise TypeError("not a string")
    return parse_listen(value)


def _hashes(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError("not an array of strings")
    return tuple(check_key_hash(v) for v in value)
