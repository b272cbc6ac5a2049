"""What every adapter shares: its name, the owner's open/closed intent, the context manager."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class AdapterBase:
    """Base of the port adapters. Subclasses set ``_name`` and ``_is_open`` and implement
    ``open()`` and ``close()`` (``close()`` harmless when already closed)."""

    _name: str
    _is_open: bool

    @property
    def name(self) -> str:
        """The configured port name, e.g. ``"vehicle"`` or ``"gnss"``."""
        return self._name

    @property
    def is_open(self) -> bool:
        """True from ``open()`` to ``close()``, whether or not the device is present now."""
        return self._is_open

    def open(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
