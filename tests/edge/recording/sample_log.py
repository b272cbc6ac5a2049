"""A known recording of every channel kind, written by the real recorder, for the tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.recording.log_format import Kind, encode_mqtt_message
from edge.recording.reader import CanItem, LineItem, LogItem
from edge.recording.writer import FlightRecorder, RecorderLimits
from hal.can.frames import FLAG_BRS, FLAG_ERROR, FLAG_EXTENDED, FLAG_FD, FLAG_REMOTE, make_batch

T0 = 1_780_000_000.0


@dataclass(frozen=True)
class Sample:
    """What was recorded: keys ``(topic, timestamp, payload)`` of every item, and the file."""

    path: Path
    keys: frozenset[Key]
    frames: int


Key = tuple[str, float, bytes]


def key(topic: str, timestamp: float, payload: bytes) -> Key:
    """An item's identity: timestamps compared to the microsecond (the log keeps ns)."""
    return topic, round(timestamp, 6), payload


def key_of(item: LogItem) -> Key:
    if isinstance(item, CanItem):
        return key(item.channel.topic, item.timestamp, item.frames.tobytes())
    if isinstance(item, LineItem):
        return key(item.channel.topic, item.timestamp, item.line)
    return key(item.channel.topic, item.timestamp, item.payload)


def can_batch(start: float, count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows: list[tuple[float, int, bytes] | tuple[float, int, bytes, int]] = []
    for i in range(count):
        at = start + i * 0.00025
        kind = i % 7
        if kind == 5:
            rows.append((at, 0x18FF1234, rng.bytes(8), FLAG_EXTENDED))
        elif kind == 6:
            rows.append((at, 0x20, b"\x00" * 3, FLAG_REMOTE))
        else:
            rows.append((at, int(rng.integers(0, 0x7FF)), rng.bytes(int(rng.integers(0, 9)))))
    return make_batch(rows)


def write_sample(directory: Path, seconds: int = 3) -> Sample:
    """Record ``seconds`` of 2 CAN buses, an FD bus, GNSS lines, V2X, SPaT, envelopes and MQTT
    messages received with a simulated clock, one chunk per simulated half second."""
    now = [0.0]
    recorder = FlightRecorder(
        directory,
        RecorderLimits(flush_interval_s=0.5),
        metadata={"device_id": "rsu-7"},
        monotonic=lambda: now[0],
        wall_clock=lambda: T0,
    )
    keys: set[Key] = set()
    frames = 0
    recorder.start()
    for tick in range(seconds * 10):
        at = T0 + tick * 0.1
        now[0] = tick * 0.1
        for bus, seed in (("vehicle", 1), ("radar", 2)):
            batch = can_batch(at, 40, seed * 1000 + tick)
            recorder.can_frames(bus, batch)
            frames += len(batch)
            keys.add(key(f"can/{bus}", float(batch["timestamp"][0]), batch.tobytes()))
        fd = make_batch([(at + 0.01, 0x123, bytes(range(64)), FLAG_FD | FLAG_BRS)])
        fd_error = make_batch([(at + 0.02, 0x4, bytes(8), FLAG_ERROR)])
        for batch in (fd, fd_error):
            recorder.can_frames("body-fd", batch)
            frames += 1
            keys.add(key("can/body-fd", float(batch["timestamp"][0]), batch.tobytes()))
        line = f"$GNGGA,{tick:06d}.00,3420.4,N,10856.4,E,1,17,0.8,447.0,M,-26.0,M,,*5B".encode()
        recorder.serial_lines("gnss", [line], at + 0.03)
        keys.add(key("serial/gnss", at + 0.03, line))
        for kind, topic in ((Kind.V2X_RX, "v2x/rx/radio"), (Kind.V2X_TX, "v2x/tx/radio")):
            payload = bytes([tick, len(kind.value)]) + b"\x5a" * 30
            recorder.datagrams(kind, "radio", [(payload, at + 0.04)])
            keys.add(key(topic, at + 0.04, payload))
        spat = b"\xcd" + bytes([tick]) * 20
        recorder.datagrams(Kind.SPAT, "signal-controller", [(spat, at + 0.05)])
        keys.add(key("spat/signal-controller", at + 0.05, spat))
        envelope = b"\x08\x01\x12\x05rsu-7" + bytes([tick])
        recorder.envelope("rg/v1/xa/rsu-7/health", envelope, at + 0.06)
        keys.add(key("envelope/rg/v1/xa/rsu-7/health", at + 0.06, envelope))
        heard_on = f"rg/v1/xa/veh-{tick % 3}/state"
        state = b"\x08\x01\x12\x05veh-" + bytes([tick])
        recorder.mqtt_message("state-feed", heard_on, state, at + 0.07)
        keys.add(key("mqtt/in/state-feed", at + 0.07, encode_mqtt_message(heard_on, state)))
        recorder.tick()
    recorder.close()
    (path,) = recorder.files()
    return Sample(path, frozenset(keys), frames)
