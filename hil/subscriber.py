"""The bench's MQTT subscriber: records everything the daemon publishes, as the cloud sees it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt
from google.protobuf.message import DecodeError
from paho.mqtt.enums import CallbackAPIVersion

from hil.clock import ScenarioClock
from hil.recording import Received
from protocols.schema.v1 import roadgate_pb2 as pb


class MqttRecorder:
    """Subscribes to ``topic_filter`` at QoS 1 with a persistent session, so that messages
    the broker queued for it while it reconnects (after a broker restart) are not lost."""

    def __init__(
        self, host: str, port: int, topic_filter: str, clock: ScenarioClock, client_id: str
    ) -> None:
        self._clock = clock
        self._topic_filter = topic_filter
        self._lock = threading.Lock()
        self.messages: list[Received] = []
        self.bad_payloads = 0
        self._subscribed = threading.Event()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False
        )
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._client.reconnect_delay_set(1, 1)  # paho's smallest: whole seconds
        self._host, self._port = host, port

    def start(self, timeout: float = 10.0) -> None:
        """Connect, subscribe, and return once the subscription is acknowledged."""
        self._client.connect(self._host, self._port, keepalive=10)
        self._client.loop_start()
        if not self._subscribed.wait(timeout):
            raise TimeoutError(f"no SUBACK from the broker at {self._host}:{self._port}")

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.messages)

    def wait_for(self, predicate: Callable[[Received], bool], timeout: float) -> Received | None:
        """The first recorded message matching ``predicate``, waiting up to ``timeout`` s."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            with self._lock:
                fresh = self.messages[seen:]
                seen = len(self.messages)
            for message in fresh:
                if predicate(message):
                    return message
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)

    def _on_connect(self, client: mqtt.Client, *_: object) -> None:
        client.subscribe(self._topic_filter, qos=1)

    def _on_subscribe(self, *_: object) -> None:
        self._subscribed.set()

    def _on_message(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        t_s = self._clock.now_s()
        try:
            envelope = pb.Envelope.FromString(bytes(msg.payload))
        except DecodeError:
            with self._lock:
                self.bad_payloads += 1
            return
        parts = msg.topic.split("/")
        received = Received(
            t_s=t_s,
            topic=msg.topic,
            stream=parts[-1],
            device_id=parts[-2] if len(parts) >= 2 else "",
            retained=bool(msg.retain),
            envelope=envelope,
        )
        with self._lock:
            self.messages.append(received)
