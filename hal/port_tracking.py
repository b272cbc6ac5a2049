"""Which ports of an adapter are open, and a safety net for ports dropped while open.

A port garbage-collected while still open is released by a ``weakref.finalize`` callback,
logged and counted (like python-can's warning for a leaked bus); the test suite fails any
test that leaves a port open.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

P = TypeVar("P")


class OpenPorts(Generic[P]):
    """The open ports of one adapter."""

    def __init__(self, kind: str, log: logging.Logger) -> None:
        self._kind = kind
        self._log = log
        self._finalizers: weakref.WeakKeyDictionary[P, weakref.finalize[..., P]] = (
            weakref.WeakKeyDictionary()
        )
        self.leaked = 0

    def track(self, port: P, name: str, release: Callable[[], None]) -> None:
        """Note ``port`` as open; ``release`` frees what it holds if it is dropped while open.

        ``release`` must not refer to the port itself, or the port could never be collected.
        """
        self._finalizers[port] = weakref.finalize(port, self._on_leak, name, release)

    def untrack(self, port: P) -> None:
        """Note ``port`` as closed (harmless if it was not tracked)."""
        finalizer = self._finalizers.pop(port, None)
        if finalizer is not None:
            finalizer.detach()

    def ports(self) -> list[P]:
        """The ports open right now."""
        return list(self._finalizers.keys())

    def _on_leak(self, name: str, release: Callable[[], None]) -> None:
        self.leaked += 1
        self._log.warning("%s %r was garbage-collected while open; releasing it", self._kind, name)
        try:
            release()
        except Exception:  # a finalizer must not raise; the resource is being dropped anyway
            self._log.exception("%s %r: releasing the leaked port failed", self._kind, name)
