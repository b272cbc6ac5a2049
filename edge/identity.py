"""Who a box is on the wire: device id, region, role and boot id."""

from __future__ import annotations

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
