"""An in-process MQTT broker (amqtt) so that the demo needs no broker installed.

Production uses Mosquitto or an MQTT cluster; the embedded one only serves one laptop's demo,
listening on 127.0.0.1 alone.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from firmware_py.errors import FirmwareError


def free_local_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def embedded_broker(port: int | None = None) -> AsyncIterator[int]:
    """Run an amqtt broker on 127.0.0.1 for the duration of the block; yields its port.

    Raises ``FirmwareError`` when it cannot start (port taken, amqtt missing).
    """
    try:
        from amqtt.broker import Broker
    except ImportError as err:
        raise FirmwareError("the embedded broker needs amqtt: pip install amqtt") from err
    port = port or free_local_port()
    # amqtt logs every connection at INFO; the demo's own summary says what matters.
    for name in ("amqtt", "transitions"):
        logging.getLogger(name).setLevel(logging.WARNING)
    broker = Broker(
        {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
            },
        }
    )
    try:
        await broker.start()
    except Exception as err:  # amqtt raises its own BrokerError and OSError subclasses
        raise FirmwareError(f"embedded broker could not start on 127.0.0.1:{port}: {err}") from err
    try:
        yield port
    finally:
        await broker.shutdown()
