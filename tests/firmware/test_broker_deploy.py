"""The shipped broker's packet limit admits what the bridge accepts and what a box can send."""

from __future__ import annotations

from pathlib import Path

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from cloud_bridge.settings import BRIDGE_MQTT, BridgeSettings
from edge.uplink.publisher import CONTENT_TYPE
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.topics import Stream, Topic

SHIPPED_CONF = (
    Path(__file__).resolve().parents[2] / "firmware_py" / "deploy" / "mosquitto" / "roadgate.conf"
)
LONGEST_ID = "d" * 64  # protocols.topics: ids and regions are at most 64 characters
LONGEST_TOPIC = str(
    Topic("r" * 64, LONGEST_ID, max(Stream, key=lambda s: len(s.value)))  # "objects"
)
FLOAT_FIELDS = [f.name for f in pb.PerceivedObject.DESCRIPTOR.fields if f.type == f.TYPE_DOUBLE]
BRIDGE_LIMIT = BridgeSettings(BRIDGE_MQTT, Path("default.sqlite3")).max_payload_bytes


def conf_value(key: str) -> int:
    (value,) = [
        line.split()[1] for line in SHIPPED_CONF.read_text().splitlines() if line.startswith(key)
    ]
    return int(value)


def publish_packet_size(topic: str, payload_bytes: int) -> int:
    """Bytes of an MQTT 5 QoS 1 PUBLISH as a box sends it (content type, message expiry)."""
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    props.ContentType = CONTENT_TYPE
    props.MessageExpiryInterval = 10
    remaining = 2 + len(topic.encode()) + 2 + len(props.pack()) + payload_bytes  # type: ignore[no-untyped-call]
    length_bytes = 1 if remaining < 128 else 2 if remaining < 16384 else 3
    return 1 + length_bytes + remaining


def largest_object_list() -> bytes:
    """An Envelope with a full ARS408 object list (255 objects), every field set."""
    position = pb.Position(
        latitude_deg=-89.123456789,
        longitude_deg=-179.123456789,
        altitude_m=-1234.5678,
        horizontal_accuracy_m=1.2345,
        fix_quality=pb.FixQuality.Value(pb.FixQuality.keys()[-1]),
        satellites=2**32 - 1,
    )
    env = pb.Envelope(
        schema_version=1,
        device_id=LONGEST_ID,
        boot_id="0" * 36,
        sequence=2**64 - 1,
        capture_time_ns=-(2**63),
        publish_time_ns=-(2**63),
        clock_source=pb.ClockSource.Value(pb.ClockSource.keys()[-1]),
        historical=True,
    )
    objects = env.object_list
    objects.sensor_id = "s" * 64
    objects.cycle_counter = 2**32 - 1
    objects.sensor_position.CopyFrom(position)
    objects.sensor_heading_rad = -3.141592653589793
    for _ in range(255):
        item = objects.objects.add(
            object_id=2**32 - 1,
            object_class=pb.ObjectClass.Value(pb.ObjectClass.keys()[-1]),
            **{name: -1.2345678901 for name in FLOAT_FIELDS},
        )
        item.position.CopyFrom(position)
    return env.SerializeToString()


def test_the_broker_admits_every_payload_the_bridge_accepts() -> None:
    assert publish_packet_size(LONGEST_TOPIC, BRIDGE_LIMIT) <= conf_value("max_packet_size")


def test_the_largest_message_of_a_box_fits_the_bridge_and_the_broker() -> None:
    payload = len(largest_object_list())
    assert payload <= BRIDGE_LIMIT
    assert publish_packet_size(LONGEST_TOPIC, payload) < conf_value("max_packet_size")
