"""Re-running a daemon's recorded CAN inputs through a fresh pipeline, in the bench's process.

A replay on a real bus cannot give the replayed daemon the field's receive times: the kernel
stamps each frame when it arrives. What a tracker makes (fused lists) depends on those times,
so it cannot come again as recorded. What can be shown instead, exactly: the replayed daemon
read the same frames in the same order (``retimed``), and the pipeline built from the same
config, fed the frames as the replayed daemon read them, gives what that daemon published at
its own receive times and what the field daemon published at the field's (``rerun_objects``:
object lists and the events raised on them).
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

import numpy as np

from edge.recording.reader import CanItem
from firmware_py.config.model import BoxConfig
from firmware_py.config.recorder import RecorderConfig
from hal.can.frames import FrameBatch
from protocols.schema.v1 import roadgate_pb2 as pb

Batches = list[tuple[str, FrameBatch]]
"""(bus name, frames) in the order a daemon read them."""


def batches(items: Sequence[CanItem]) -> Batches:
    """The CAN reads of a flight log, in order."""
    return [(item.channel.source, item.frames) for item in items]


def retimed(replayed: Sequence[CanItem], recorded: Sequence[CanItem]) -> Batches | str:
    """The replayed daemon's reads with each frame's receive time as the field daemon
    recorded it; or, when the two did not read the same frames (id, flags, length, data) in
    the same order on every bus, where they first differ."""
    out: Batches = []
    recorded_by_bus = _by_bus(recorded)
    replayed_by_bus = _by_bus(replayed)
    if set(recorded_by_bus) != set(replayed_by_bus):
        return f"buses {sorted(recorded_by_bus)} recorded, {sorted(replayed_by_bus)} replayed"
    for bus, frames in recorded_by_bus.items():
        difference = _first_difference(frames, replayed_by_bus[bus])
        if difference is not None:
            return f"bus {bus}: {difference}"
    position = dict.fromkeys(recorded_by_bus, 0)
    for item in replayed:
        bus = item.channel.source
        frames = item.frames.copy()
        start = position[bus]
        position[bus] = start + len(frames)
        frames["timestamp"] = recorded_by_bus[bus]["timestamp"][start : position[bus]]
        out.append((bus, frames))
    return out


def _by_bus(items: Sequence[CanItem]) -> dict[str, FrameBatch]:
    parts: dict[str, list[FrameBatch]] = {}
    for item in items:
        parts.setdefault(item.channel.source, []).append(item.frames)
    return {bus: np.concatenate(frames) for bus, frames in parts.items()}


def _first_difference(a: FrameBatch, b: FrameBatch) -> str | None:
    """Where frames ``a`` and ``b`` first differ in id, flags, length or data; None if never."""
    if len(a) != len(b):
        return f"{len(a)} frames recorded, {len(b)} replayed"
    width = a["data"].shape[1]
    used = np.arange(width)[None, :] < a["dlc"][:, None]  # bytes past the length are padding
    same = (
        (a["arbitration_id"] == b["arbitration_id"])
        & (a["flags"] == b["flags"])
        & (a["dlc"] == b["dlc"])
        & np.all((a["data"] == b["data"]) | ~used, axis=1)
    )
    if same.all():
        return None
    k = int(np.flatnonzero(~same)[0])
    ids = int(a["arbitration_id"][k]), int(b["arbitration_id"][k])
    return f"frame {k} differs (id {ids[0]:#x} recorded, {ids[1]:#x} replayed)"


def rerun_objects(config: BoxConfig, reads: Batches) -> list[pb.Envelope]:
    """The object lists, and the events raised on them, that the pipeline of ``config``'s
    box publishes when fed ``reads``, in order. The box is built as ``roadgate run`` builds
    it, but not run: its CAN buses on python-can's virtual bus (nothing arrives there), no
    GNSS, no recorder, its outbox in a temporary directory; it is handed each read as its
    CAN reader would."""
    from edge.pipelines.roadside_unit import RoadsideUnitPipeline
    from firmware_py.box import build_box

    tag = uuid.uuid4().hex[:8]
    # The pipeline logs what it finds (a speeding car...) at INFO: the daemon said so already.
    logging.disable(logging.INFO)
    stack = ExitStack()
    stack.callback(logging.disable, logging.NOTSET)
    with tempfile.TemporaryDirectory(prefix="roadgate-rerun-") as tmp, stack:
        quiet = replace(
            config,
            can=tuple(
                replace(bus, interface="virtual", channel=f"rerun-{tag}-{bus.name}")
                for bus in config.can
            ),
            gnss=None,
            recorder=RecorderConfig(),
            outbox=replace(config.outbox, path=Path(tmp) / "outbox.sqlite3"),
        )
        box = build_box(quiet, stack)
        pipeline = box.pipeline
        if not isinstance(pipeline, RoadsideUnitPipeline):
            raise TypeError(f"a {config.device.role} has no object lists to re-run")
        for bus, frames in reads:
            pipeline.on_can_batch(bus, frames)
        queued = [pb.Envelope.FromString(e.body) for e in box.uplink.outbox.peek(10_000_000)]
    return [e for e in queued if e.HasField("object_list") or e.HasField("event")]
