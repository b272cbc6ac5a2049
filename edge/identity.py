"""Who a box is on the wire: device id, region, role, boot id, and its sequence numbers."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field

from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.topics import Stream, Topic, check_segment


@dataclass(frozen=True)
class DeviceIdentity:
    """The identity a box publishes under. ``boot_id`` is new at every start."""

    device_id: str
    region: str
    role: pb.DeviceRole.ValueType
    boot_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def __post_init__(self) -> None:
        check_segment("device id", self.device_id)
        check_segment("region", self.region)

    def topic(self, stream: Stream) -> str:
        """The MQTT topic of this device for ``stream``."""
        return str(Topic(self.region, self.device_id, stream))


class SequenceCounter:
    """Per-device sequence numbers, strictly increasing within a boot, starting at 1.

    Together with the boot id they make (device, boot, sequence) unique, which is what the
    bridge dedupes on.
    """

    def __init__(self, start: int = 1) -> None:
        self._counter = itertools.count(start)

    def next(self) -> int:
        """The next sequence number."""
        return next(self._counter)
