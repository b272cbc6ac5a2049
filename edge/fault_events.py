"""The events a box raises about its own equipment (a silent signal controller, a clock off
GNSS time): numbered per source, so each event id is unique on the device."""

from __future__ import annotations

from protocols.schema.v1 import roadgate_pb2 as pb


class FaultEvents:
    """Makes the ``event_type`` events of one source: ids ``<device>-<source>-<n>``, n from 1."""

    def __init__(self, device_id: str, source: str, event_type: pb.EventType.ValueType) -> None:
        self._prefix = f"{device_id}-{source}-"
        self._type = event_type
        self._count = 0

    def make(self, severity: pb.Severity.ValueType, description: str) -> pb.TrafficEvent:
        """The next event, with ``severity`` and ``description``."""
        self._count += 1
        return pb.TrafficEvent(
            event_id=f"{self._prefix}{self._count}",
            type=self._type,
            severity=severity,
            description=description,
        )
