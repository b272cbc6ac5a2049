"""The recorder as the pipelines see it: a role they receive through their constructors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from edge.recording.log_format import Kind
from hal.can.frames import FrameBatch
from hal.net.port import Datagram


class RecordingSink(Protocol):
    """Where a box's inputs and outputs are recorded (``FlightRecorder``). Never raises:
    recording must not stop the box."""

    def can_frames(self, bus: str, batch: FrameBatch) -> None: ...

    def serial_lines(self, port: str, lines: Sequence[bytes], received_at: float) -> None: ...

    def datagrams(self, kind: Kind, port: str, datagrams: Sequence[Datagram]) -> None: ...

    def envelope(self, topic: str, payload: bytes, published_at: float) -> None: ...

    def mqtt_message(self, client: str, topic: str, payload: bytes, received_at: float) -> None:
        """An MQTT message that ``client`` (the box's subscriber, e.g. ``state-feed``) received
        on ``topic`` at ``received_at`` (Unix s), before it is checked."""
        ...


class NoRecording:
    """The sink of a box whose recorder is off."""

    def can_frames(self, bus: str, batch: FrameBatch) -> None:
        pass

    def serial_lines(self, port: str, lines: Sequence[bytes], received_at: float) -> None:
        pass

    def datagrams(self, kind: Kind, port: str, datagrams: Sequence[Datagram]) -> None:
        pass

    def envelope(self, topic: str, payload: bytes, published_at: float) -> None:
        pass

    def mqtt_message(self, client: str, topic: str, payload: bytes, received_at: float) -> None:
        pass
