"""A private Mosquitto broker on a free port, for tests that need a real broker (the bench's)."""

from hil.broker import (
    INSTALL_HINT,
    Broker,
    MosquittoProcess,
    free_port,
    mosquitto_binary,
    private_mosquitto,
    wait_for_port,
)

__all__ = [
    "INSTALL_HINT",
    "Broker",
    "MosquittoProcess",
    "free_port",
    "mosquitto_binary",
    "private_mosquitto",
    "wait_for_port",
]
