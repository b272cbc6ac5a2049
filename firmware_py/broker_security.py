"""Checks of a broker connection made once at start: plain MQTT to a broker off this machine."""

from __future__ import annotations

import ipaddress
import logging

log = logging.getLogger("firmware_py.broker_security")


def is_loopback_host(host: str) -> bool:
    """True when ``host`` names this machine by itself: ``localhost`` (or a name under
    ``.localhost``, RFC 6761), or an address in 127.0.0.0/8 or ::1 (IPv4-mapped too).

    Other names are not resolved (no I/O at start, and a name may resolve elsewhere tomorrow),
    so they count as remote.
    """
    name = host.strip().lower().rstrip(".")
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def plaintext_warning(host: str, port: int, *, tls: bool, source: str) -> str | None:
    """The warning for MQTT to ``host:port`` without TLS, or None if TLS is on or it is local.

    ``source`` is the config file to fix.
    """
    if tls or is_loopback_host(host):
        return None
    return (
        f"MQTT to {host}:{port} without TLS: anyone on the way can read and forge the messages "
        f"(and a password, if set). Add [mqtt.tls] ca_file (and cert_file + key_file for mutual "
        f"TLS) to {source} and point [mqtt] port at the broker's TLS listener (8883)"
    )


def warn_if_plaintext(host: str, port: int, *, tls: bool, source: str) -> bool:
    """Log ``plaintext_warning`` once at WARNING if there is one; return whether it did."""
    message = plaintext_warning(host, port, tls=tls, source=source)
    if message is not None:
        log.warning("%s", message)
    return message is not None
