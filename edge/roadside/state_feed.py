"""The roadside unit's ear on the region: the ``state`` stream of every vehicle gateway in its
region, each Envelope checked as the bridge checks it and turned into a ``CooperativeReport``.

A separate MQTT client from the uplink (its own client id: a second connection under the
uplink's id would make the broker drop the first), subscribed at QoS 0 with a clean session:
a state message is worthless once the next one is sent, so nothing is queued for it while it
is away. The broker's ACL must let the box read ``rg/v1/{region}/+/state``: Mosquitto 2
grants the subscription anyway and delivers nothing, so a ``received`` count that stays 0
while vehicles drive by is the sign (a broker that refuses it in the SUBACK is logged and
counted as ``subscribe_refused``).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING

import aiomqtt

from edge.geodesy import LocalFrame
from edge.identity import DeviceIdentity
from edge.roadside.cooperative_reports import (
    DEFAULTS,
    CooperativeReport,
    ReportDefaults,
    report_from_state,
)
from protocols.envelope import check_topic, decode
from protocols.errors import ProtocolError
from protocols.mqtt_connection import Jitter, MqttConnection
from protocols.topics import Stream, Topic, subscription

if TYPE_CHECKING:
    from edge.recording.sink import RecordingSink

log = logging.getLogger("edge.state_feed")

MAX_STATE_PAYLOAD_BYTES = 4096
"""A VehicleState Envelope is about 150 bytes: anything far larger is refused unparsed."""
CLIENT_ID_SUFFIX = "-state-feed"
RECORDING_NAME = "state-feed"
"""The flight log's name for this subscriber: its messages go to ``mqtt/in/state-feed``."""


class StateFeed:
    """Offers each vehicle's state in the region to ``offer`` as a ``CooperativeReport`` in
    ``frame`` (the intersection's local frame).

    Refused messages are counted in ``counters`` as ``rejects.<reason>``: ``bad_topic``,
    ``wrong_stream``, ``oversized``, the Envelope checks' reasons (``malformed``,
    ``unknown_schema_version``, ``no_body``, ``device_mismatch``, ``stream_mismatch``, ...),
    ``historical`` (backlog replayed after an outage), ``stale`` and ``from_future`` (capture
    time more than ``max_age_s`` from ``clock``), and the conversion's reasons (see
    ``report_from_state``). The box's own messages count as ``ignored_own``. Bad input never
    stops it; a lost connection is retried with the connection's backoff (full jitter). With
    ``recording``, every message received is recorded (at ``clock``'s time) before it is
    checked, refused ones too: what the box heard, for a replay.
    """

    def __init__(
        self,
        mqtt: MqttConnection,
        identity: DeviceIdentity,
        frame: LocalFrame,
        offer: Callable[[CooperativeReport], None],
        *,
        max_age_s: float = 1.0,
        defaults: ReportDefaults = DEFAULTS,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        recording: RecordingSink | None = None,
    ) -> None:
        if not max_age_s > 0:
            raise ValueError(f"max_age_s must be positive, not {max_age_s}")
        self._mqtt = mqtt
        self._device_id = identity.device_id
        self._frame = frame
        self._offer = offer
        self._max_age_s = max_age_s
        self._defaults = defaults
        self._clock = clock
        self._rng = rng
        self._recording = recording
        self.topic_filter = subscription(region=identity.region, stream=Stream.STATE.value)
        self.client_id = (mqtt.client_id or identity.device_id) + CLIENT_ID_SUFFIX
        self.connected = asyncio.Event()
        self._counts: Counter[str] = Counter({"received": 0, "offered": 0})
        self._rejects: Counter[str] = Counter()

    @property
    def counters(self) -> Mapping[str, int]:
        out = dict(self._counts)
        out.update({f"rejects.{reason}": n for reason, n in self._rejects.items()})
        return out

    async def run(self) -> None:
        """Subscribe and offer what arrives until cancelled, reconnecting with backoff."""
        backoff = self._mqtt.backoff(Jitter.FULL, self._rng)
        lost = False
        while True:
            try:
                async with self._client() as client:
                    granted = await client.subscribe(self.topic_filter, qos=0)
                    if subscription_refused(granted):
                        self._counts["subscribe_refused"] += 1
                        log.warning(
                            "state feed: the broker refused %s (its ACL must let %s read "
                            "the region's state): no vehicle will be heard",
                            self.topic_filter,
                            self._device_id,
                        )
                    if lost:
                        log.info("state feed: subscribed again to %s", self.topic_filter)
                    lost = False
                    backoff.reset()
                    self.connected.set()
                    async for message in client.messages:
                        payload = message.payload
                        self.on_message(
                            message.topic.value, payload if isinstance(payload, bytes) else b""
                        )
            except aiomqtt.MqttError as err:
                if not lost:
                    log.warning(
                        "state feed: broker %s:%d unavailable (%s); retrying with backoff",
                        self._mqtt.host,
                        self._mqtt.port,
                        err,
                    )
                    lost = True
            self.connected.clear()
            self._counts["reconnects"] += 1
            await asyncio.sleep(backoff.next_delay())

    def on_message(self, topic: str, payload: bytes) -> None:
        """Check one message received on ``topic`` and offer its state. Never raises on input."""
        self._counts["received"] += 1
        now = self._clock()
        if self._recording is not None:
            self._recording.mqtt_message(RECORDING_NAME, topic, payload, now)
        try:
            parsed = Topic.parse(topic)
        except ProtocolError:
            self._rejects["bad_topic"] += 1
            return
        if parsed.stream is not Stream.STATE:
            self._rejects["wrong_stream"] += 1
            return
        if parsed.device_id == self._device_id:
            self._counts["ignored_own"] += 1
            return
        if len(payload) > MAX_STATE_PAYLOAD_BYTES:
            self._rejects["oversized"] += 1
            return
        try:
            envelope = decode(payload)
            check_topic(envelope, parsed)
        except ProtocolError as err:
            self._rejects[err.reason] += 1
            return
        if envelope.historical:
            self._rejects["historical"] += 1
            return
        capture_s = envelope.capture_time_ns / 1e9
        age_s = now - capture_s
        if age_s > self._max_age_s:
            self._rejects["stale"] += 1
            return
        if age_s < -self._max_age_s:
            self._rejects["from_future"] += 1
            return
        report = report_from_state(
            envelope.device_id,
            capture_s,
            envelope.vehicle_state,
            self._frame,
            clock_error_s=envelope.clock_max_error_s,
            defaults=self._defaults,
            rejects=self._rejects,
        )
        if report is not None:
            self._counts["offered"] += 1
            self._offer(report)

    def _client(self) -> aiomqtt.Client:
        mqtt = self._mqtt
        return aiomqtt.Client(
            mqtt.host,
            mqtt.port,
            identifier=self.client_id,
            username=mqtt.username,
            password=mqtt.password,
            tls_params=None if mqtt.tls is None else aiomqtt.TLSParameters(**asdict(mqtt.tls)),
            keepalive=mqtt.keepalive_s,
            protocol=aiomqtt.ProtocolVersion.V5 if mqtt.mqtt5 else None,
            clean_session=None if mqtt.mqtt5 else True,
        )


def subscription_refused(granted: Sequence[object]) -> bool:
    """Whether a SUBACK refused the subscription: a return code of 128 or more (MQTT 3.1.1's
    granted QoS, MQTT 5's reason codes alike)."""
    values = (getattr(code, "value", code) for code in granted)
    return any(isinstance(value, int) and value >= 128 for value in values)
