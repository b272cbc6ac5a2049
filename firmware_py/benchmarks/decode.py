"""``roadgate benchmark decode``: our vectorised DBC decoder against cantools, in one run.

The frames are a mix of a DBC's messages (weighted by their cycle time when the DBC gives
one, else uniform) with random payloads encoded by cantools. Each side starts from the frames
as its own reading path delivers them:

* ours: the box's path, from the buffers a ``recvmmsg`` read leaves in ``SocketCanRawPort``'s
  ``MmsgReceiver``: per burst of ``batch`` frames, one 72-byte slot per frame holding the
  kernel's ``struct can_frame`` (``canfd_frame`` for a payload over 8 bytes), the headers'
  ``msg_len`` and ``msg_controllen`` and each frame's control buffer with its
  ``SO_TIMESTAMPNS`` stamp, as the kernel writes them. Timed (``decode_burst``): what the
  port does with them (``parse_received`` into a ``FrameBatch``, the very function it
  calls), then ``VectorDecoder.decode_batch``, then every signal of
  every message read (each message's ``DecodedMessage`` built and its ``signals`` mapping
  iterated, every array touched): the work cantools' figure includes, since it makes every
  value of every frame. This is the headline. The default batch is 4,096 frames, what
  ``edge.port_io`` asks a port for per receive: a bus busy enough to matter fills it.
  Also measured, for information: the reader's parse alone and the decode alone (results
  built only when looked up, as the box does: it reads a few signals of a few messages), so
  each stage's share of a burst shows, and one batch of all the frames.
* peer: cantools ``Database.decode_message(frame_id, data, decode_choices=False)`` per frame,
  on ``(id, bytes)`` as python-can's ``Message`` carries them: cantools' own input, so
  nothing of getting there from raw records is charged to it. ``decode_choices=False`` makes
  the work equal: ours returns numbers too (names would slow cantools by about 10 %).

Mixes: ``dbc`` (default), the DBC's messages weighted by their cycle time when it gives
them, else uniformly; ``ars408-objects``, the ARS408 radar's object lists as the radar sends
them (``Obj_0_Status``, then ``Obj_1_General``, ``Obj_2_Quality`` and ``Obj_3_Extended`` for
each of ``OBJECTS`` objects, cycle after cycle), decoded by a decoder of those four messages
as the box's radar assembler builds it.

Each side is timed with ``time.perf_counter``, best of ``REPEATS`` runs, the two taking
turns so that a busy spell of the shared machine slows both; the garbage collector is off
while timing, as in ``timeit`` (cantools makes a dict per frame). Before timing, a sample of
frames is decoded by both and compared, so a broken decoder cannot win the benchmark.
"""

from __future__ import annotations

import gc
import itertools
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from cantools.database.can import Database, Message
from cantools.database.can.signal import Signal
from cantools.errors import Error as CantoolsError

import protocols.dbc
from firmware_py.errors import FirmwareError
from hal.can.frames import CAN_EFF_FLAG, CAN_SFF_MASK
from hal.can.received_kernel import compiled_parse
from hal.can.socketcan_mmsg import CONTROL_BYTES, HEADER_VIEW, control_buffer, parse_received
from hal.can.socketcan_structs import CAN_MTU, CANFD_MTU, pack_frame
from protocols.dbc import DecodedBatch, VectorDecoder, load_dbc
from protocols.errors import ProtocolError
from protocols.radar.ars408 import ARS408_DBC, EXTENDED, GENERAL, QUALITY, STATUS

DEFAULT_DBC = Path(protocols.dbc.__file__).parent / "files" / "toyota_nodsu_pt_generated.dbc"
DEFAULT_FRAMES = 100_000
DEFAULT_BATCH = 4096
"""Frames per burst: ``edge.port_io.can_batches``' ``max_frames``."""
GOAL = 30.0
"""The speed-up over cantools, every signal read, the decoder is meant to reach (issue #17)."""
MIXES = ("dbc", "ars408-objects")
OBJECTS = 40
"""Objects per ARS408 cycle in the ``ars408-objects`` mix (the radar reports up to 100)."""
REPEATS = 5
SAMPLE = 500
_PAYLOADS_PER_MESSAGE = 64
_REL_TOL = 1e-9

Frame = tuple[float, int, bytes]
"""``(timestamp, arbitration_id, data)``; an id above 0x7FF is a 29-bit id."""


@dataclass(frozen=True)
class FrameMix:
    """The benchmark's frames and how they were chosen.

    ``excluded`` names the DBC's messages left out of the mix, with the reason (cantools
    cannot decode them, or a 29-bit id at or below 0x7FF that ``decode_message`` cannot tell
    from an 11-bit one).
    """

    frames: list[Frame]
    messages: tuple[str, ...]
    weighting: str  # "cycle time" or "uniform"
    excluded: tuple[str, ...]


@dataclass(frozen=True)
class SocketCanBurst:
    """Frames as ``SocketCanRawPort``'s ``MmsgReceiver`` holds them after a ``recvmmsg`` read
    of a burst (see the module doc).

    ``slots``: one ``CANFD_MTU``-byte slot per frame, the record the kernel delivered at its
    start; ``headers``: what the kernel wrote back into each ``struct mmsghdr``
    (``HEADER_VIEW``: the bytes delivered, ``CAN_MTU`` or ``CANFD_MTU``, and the control
    bytes used); ``controls``: each frame's control buffer (``CONTROL_BYTES``) holding its
    ``SO_TIMESTAMPNS`` stamp.
    """

    slots: bytes
    headers: npt.NDArray[Any]
    controls: npt.NDArray[np.uint8]

    @property
    def sizes(self) -> list[int]:
        """The bytes delivered into each slot."""
        sizes: list[int] = self.headers["msg_len"].tolist()
        return sizes


@dataclass(frozen=True)
class DecodeBenchResult:
    """Frames per second of both decoders on the same frames, and the mix they decoded.

    ``ours``: bursts of ``batch`` frames decoded and every signal of every message read (the
    headline); ``ours_lookup``: the decode alone, results built when looked up;
    ``ours_parse``: the reader's parse alone (the three rates give each stage's share);
    ``one_batch``: ours on all ``frames`` as one batch, every signal read, frames/s and ratio
    to cantools timed with it (for information; None when that is ``batch`` already).
    """

    ours: float
    peer: float
    frames: int
    batch: int
    dbc: str
    mix: FrameMix
    checked: int
    one_batch: tuple[float, float] | None
    ours_lookup: float = 0.0
    ours_parse: float = 0.0
    compiled: bool = False  # the reader's and decoder's compiled kernels did the work

    @property
    def ratio(self) -> float:
        return self.ours / self.peer

    def as_json(self) -> dict[str, object]:
        """The ``--json`` record: ``ours``, ``peer``, ``ratio``, ``unit``, ``frames``, ``dbc``,
        ``ours_all_signals`` (the same as ``ours`` since every signal is the headline) and
        ``compiled`` (the reader's and the decoder's compiled kernels did the work)."""
        return {
            "ours": round(self.ours, 1),
            "peer": round(self.peer, 1),
            "ratio": self.ratio,
            "unit": "frames/s",
            "frames": self.frames,
            "dbc": self.dbc,
            "ours_all_signals": round(self.ours, 1),
            "compiled": self.compiled,
        }


def run_decode_bench(
    dbc: Path | None = None,
    frames: int = DEFAULT_FRAMES,
    seed: int = 0,
    batch: int = DEFAULT_BATCH,
    mix: str = "dbc",
) -> DecodeBenchResult:
    """Benchmark ``VectorDecoder`` against cantools on ``frames`` frames of ``dbc`` (None:
    the mix's default, the Toyota DBC or the ARS408 one), ours in bursts of ``batch`` frames
    (the last one may be shorter), ``mix`` one of ``MIXES``.

    Raises ``FirmwareError`` when the DBC cannot be loaded, has no message both decoders can
    decode (or not the ARS408 object messages), or when the two decoders disagree on the
    sample. Raises ``ValueError`` when ``frames`` or ``batch`` is below 1, or for an unknown
    ``mix``.
    """
    if frames < 1:
        raise ValueError(f"frames must be at least 1, got {frames}")
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    if mix not in MIXES:
        raise ValueError(f"mix must be one of {', '.join(MIXES)}, got {mix!r}")
    objects = mix == "ars408-objects"
    dbc = dbc or (ARS408_DBC if objects else DEFAULT_DBC)
    try:
        db = load_dbc(dbc).database
    except ProtocolError as err:
        raise FirmwareError(str(err)) from err
    if objects:
        frame_set = object_list_mix(db, frames, seed=seed)
        decoder = VectorDecoder(db, frame_set.messages)
    else:
        frame_set = frame_mix(db, frames, seed=seed)
        decoder = VectorDecoder(db)
    checked = check_same_values(db, decoder, frame_set.frames, seed=seed)
    bursts = socketcan_bursts(frame_set.frames, batch)

    def ours() -> None:
        for burst in bursts:
            read_every_signal(decode_burst(decoder, burst))

    def peer() -> None:
        decode_message = db.decode_message
        for _, frame_id, data in frame_set.frames:
            decode_message(frame_id, data, decode_choices=False)

    def ours_lookup() -> None:
        for burst in bursts:
            decode_burst(decoder, burst)

    def ours_parse() -> None:
        for burst in bursts:
            parse_burst(burst)

    ours_s, peer_s, lookup_s, parse_s = best_times((ours, peer, ours_lookup, ours_parse))
    one_batch = None
    if batch < frames:
        del bursts
        (whole,) = socketcan_bursts(frame_set.frames, frames)
        # Timed apart, with cantools again: its megabytes of arrays would move the
        # allocator's thresholds for the bursts interleaved with it.
        one_batch_s, peer_again_s = best_times(
            (lambda: read_every_signal(decode_burst(decoder, whole)), peer)
        )
        one_batch = (frames / one_batch_s, peer_again_s / one_batch_s)
    return DecodeBenchResult(
        ours=frames / ours_s,
        peer=frames / peer_s,
        frames=frames,
        batch=min(batch, frames),
        dbc=dbc.name,
        mix=frame_set,
        checked=checked,
        one_batch=one_batch,
        ours_lookup=frames / lookup_s,
        ours_parse=frames / parse_s,
        compiled=decoder.compiled and compiled_parse is not None,
    )


def read_every_signal(decoded: DecodedBatch) -> int:
    """Read every signal of every message of ``decoded`` (each message's result built, each
    signal's array taken from its mapping and its length read); returns the values read."""
    values = 0
    for message in decoded.values():
        for signal in message.signals.values():
            values += len(signal)
    return values


def best_times(functions: Sequence[Callable[[], object]], repeats: int = REPEATS) -> list[float]:
    """The shortest wall-clock run of each function, in seconds, over ``repeats`` rounds in
    which each runs once, with the garbage collector off."""
    best = [math.inf] * len(functions)
    enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeats):
            for i, function in enumerate(functions):
                start = time.perf_counter()
                function()
                best[i] = min(best[i], time.perf_counter() - start)
    finally:
        if enabled:
            gc.enable()
    return best


def socketcan_burst(frames: Sequence[Frame]) -> SocketCanBurst:
    """``frames`` as the SocketCAN reader would hold them had it read them with ``recvmmsg``
    (what the kernel delivers: ``pack_frame`` records, ``CAN_EFF_FLAG`` on ids above 0x7FF,
    an ``SO_TIMESTAMPNS`` stamp in each control buffer)."""
    slots = bytearray(len(frames) * CANFD_MTU)
    headers = np.zeros(len(frames), dtype=HEADER_VIEW)
    controls = np.zeros((len(frames), CONTROL_BYTES), dtype=np.uint8)
    for i, (timestamp, frame_id, data) in enumerate(frames):
        fd = len(data) > 8
        flag = CAN_EFF_FLAG if frame_id > CAN_SFF_MASK else 0
        record = pack_frame(frame_id | flag, data, fd=fd)
        slots[i * CANFD_MTU : i * CANFD_MTU + len(record)] = record
        control = control_buffer(*divmod(round(timestamp * 1e9), 1_000_000_000))
        controls[i, : len(control)] = np.frombuffer(control, dtype=np.uint8)
        headers[i] = (len(control), CANFD_MTU if fd else CAN_MTU)
    return SocketCanBurst(bytes(slots), headers, controls)


def socketcan_bursts(frames: Sequence[Frame], batch: int) -> list[SocketCanBurst]:
    """``frames`` as reads of ``batch`` frames each (the last may be shorter)."""
    return [socketcan_burst(frames[i : i + batch]) for i in range(0, len(frames), batch)]


def decode_burst(decoder: VectorDecoder, burst: SocketCanBurst) -> DecodedBatch:
    """Decode one burst the box's way: what ``SocketCanRawPort.receive`` does with the bytes
    it read (``parse_burst``), then ``decode_batch``. ``index`` is the frame's row in the
    batch: its slot number when no record was dropped."""
    return decoder.decode_batch(parse_burst(burst))


def parse_burst(burst: SocketCanBurst) -> npt.NDArray[Any]:
    """What ``SocketCanRawPort.receive`` does with the buffers ``recvmmsg`` filled:
    ``parse_received`` into a frame batch."""
    batch, _, _ = parse_received(burst.slots, burst.headers, burst.controls, time.time)
    return batch


def frame_mix(db: Database, count: int, seed: int = 0) -> FrameMix:
    """``count`` frames of the messages of ``db``, with random valid payloads.

    Messages are drawn with a probability proportional to their rate (1 / cycle time) when
    the DBC gives cycle times (a message without one gets the slowest rate), else uniformly.
    Each message has a pool of payloads encoded by cantools from random raw signal values;
    frames are 100 microseconds apart. Raises ``FirmwareError`` when no message qualifies.
    """
    rng = random.Random(seed)
    pools: dict[str, list[bytes]] = {}
    excluded: list[str] = []
    usable: list[Message] = []
    for message in db.messages:
        if message.is_extended_frame and message.frame_id <= 0x7FF:
            excluded.append(f"{message.name} (29-bit id <= 0x7FF)")
            continue
        pool = _payload_pool(message, rng)
        if not pool:
            excluded.append(f"{message.name} (cantools cannot decode it)")
            continue
        pools[message.name] = pool
        usable.append(message)
    if not usable:
        raise FirmwareError("no message of the DBC can be decoded by cantools")
    cycle_times = [m.cycle_time for m in usable]
    periodic = [c for c in cycle_times if c]
    if periodic:
        slowest = max(periodic)
        weights = [1.0 / (c or slowest) for c in cycle_times]
        weighting = "cycle time"
    else:
        weights = [1.0] * len(usable)
        weighting = "uniform"
    chosen = rng.choices(usable, weights=weights, k=count)
    frames = [
        (1_700_000_000.0 + i * 1e-4, int(m.frame_id), rng.choice(pools[m.name]))
        for i, m in enumerate(chosen)
    ]
    return FrameMix(frames, tuple(m.name for m in usable), weighting, tuple(excluded))


def object_list_mix(db: Database, count: int, seed: int = 0, objects: int = OBJECTS) -> FrameMix:
    """``count`` frames of ARS408 object lists: cycles of ``Obj_0_Status``, then
    ``objects`` frames each of ``Obj_1_General``, ``Obj_2_Quality`` and ``Obj_3_Extended``,
    random payloads encoded by cantools, 100 microseconds apart. Raises ``FirmwareError``
    when ``db`` lacks one of those messages or cantools cannot encode it.
    """
    rng = random.Random(seed)
    names = (STATUS, GENERAL, QUALITY, EXTENDED)
    cycle: list[tuple[int, list[bytes]]] = []
    for name in names:
        try:
            message = db.get_message_by_name(name)
        except KeyError:
            raise FirmwareError(f"the DBC has no {name}: not an ARS408 database") from None
        pool = _payload_pool(message, rng)
        if not pool:
            raise FirmwareError(f"cantools cannot encode {name}")
        cycle.extend([(int(message.frame_id), pool)] * (1 if name == STATUS else objects))
    frames = [
        (1_700_000_000.0 + i * 1e-4, frame_id, rng.choice(pool))
        for i, (frame_id, pool) in zip(range(count), itertools.cycle(cycle), strict=False)
    ]
    return FrameMix(frames, names, f"object lists of {objects} objects", ())


def check_same_values(
    db: Database, decoder: VectorDecoder, frames: Sequence[Frame], seed: int = 0
) -> int:
    """Decode a sample of ``frames`` with both decoders and compare every signal.

    Returns the number of frames compared. Raises ``FirmwareError`` naming the first
    disagreements (a frame ours did not decode, a signal missing or of another value).
    """
    rng = random.Random(seed + 1)
    sample = sorted(rng.sample(range(len(frames)), min(SAMPLE, len(frames))))
    picked = [frames[i] for i in sample]
    decoded = decode_burst(decoder, socketcan_burst(picked))
    ours: dict[int, tuple[str, int]] = {}
    for name, message in decoded.items():
        for pos, row in enumerate(message.index.tolist()):
            ours[row] = (name, pos)
    problems: list[str] = []
    for row, (_, frame_id, data) in enumerate(picked):
        expected = db.get_message_by_frame_id(frame_id).decode_simple(data, decode_choices=False)
        if row not in ours:
            problems.append(f"0x{frame_id:x}#{data.hex()}: not decoded by ours")
            continue
        name, pos = ours[row]
        for signal, value in expected.items():
            got = decoded[name].signals.get(signal)
            if (
                got is None
                or not isinstance(value, int | float)
                or not _same(float(got[pos]), float(value))
            ):
                shown = None if got is None else float(got[pos])
                problems.append(f"0x{frame_id:x}#{data.hex()} {signal}: {shown} != {value}")
    if problems:
        raise FirmwareError(
            f"the decoders disagree on {len(problems)} values, benchmark not run: "
            + "; ".join(problems[:5])
        )
    return len(picked)


def format_result(result: DecodeBenchResult) -> str:
    """The human-readable report of a run."""
    mix = result.mix
    batch = f"{result.batch:,} frames per batch"
    lines = [
        f"bench decode: {result.dbc}, {result.frames:,} frames of {len(mix.messages)} messages "
        f"({mix.weighting} mix)",
        f"  input, ours: recvmmsg reads of {result.batch:,} frames as SocketCanRawPort holds "
        "them (72-byte slots of kernel can_frame records, mmsghdr lengths, control buffers "
        "with SO_TIMESTAMPNS stamps)",
        "  input, peer: (id, bytes) per frame, as python-can's Message carries them",
        "  ours (the box's path: parse_received -> FrameBatch -> decode_batch, "
        f"then every signal of every message read; {batch}; "
        f"{'compiled kernels' if result.compiled else 'numpy passes: the kernels are not built'}"
        f"): {result.ours:,.0f} frames/s",
        f"  peer (cantools decode_message, per frame, every signal): {result.peer:,.0f} frames/s",
        f"  ratio: {result.ratio:.2f}x at {batch}, every signal read (best of {REPEATS} runs "
        f"each); goal {GOAL:g}x {_verdict(result.ratio)}",
    ]
    if result.ours_lookup:
        lines.append(
            "  for information, ours decoding only (results built when looked up, none "
            f"looked up): {result.ours_lookup:,.0f} frames/s "
            f"({result.ours_lookup / result.peer:.2f}x)"
        )
    if result.ours_parse and result.ours_lookup:
        per_burst = [
            1e6 * result.batch / rate
            for rate in (result.ours_parse, result.ours_lookup, result.ours)
        ]
        parse_us, decode_us, every_us = (
            per_burst[0],
            per_burst[1] - per_burst[0],
            per_burst[2] - per_burst[1],
        )
        lines.append(
            f"  for information, ours per burst of {result.batch:,} frames: reader's parse "
            f"{parse_us:,.0f} us, decode {decode_us:,.0f} us, every signal read "
            f"{every_us:,.0f} us (differences of best times; cantools "
            f"{1e6 * result.batch / result.peer:,.0f} us)"
        )
    if result.one_batch is not None:
        rate, ratio = result.one_batch
        lines.append(
            f"  for information, ours on one batch of all {result.frames:,} frames, every "
            f"signal read: {rate:,.0f} frames/s ({ratio:.2f}x, cantools timed again with it)"
        )
    lines.append(f"  checked: {result.checked} frames decode to the same values in both")
    if mix.excluded:
        lines.append(f"  excluded: {', '.join(mix.excluded)}")
    return "\n".join(lines)


def _verdict(ratio: float) -> str:
    return "met" if ratio >= GOAL else "NOT met"


def _same(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=_REL_TOL, abs_tol=0.0) or a == b


def _payload_pool(message: Message, rng: random.Random) -> list[bytes]:
    """Up to 64 payloads of ``message`` that cantools encodes and decodes back."""
    mux_values: dict[str, set[int]] = {}
    for signal in message.signals:
        if signal.multiplexer_signal is not None and signal.multiplexer_ids:
            mux_values.setdefault(signal.multiplexer_signal, set()).update(signal.multiplexer_ids)
    pool: list[bytes] = []
    for _ in range(_PAYLOADS_PER_MESSAGE):
        raw = {s.name: _random_raw(s, rng, mux_values.get(s.name)) for s in message.signals}
        try:
            data = bytes(message.encode(raw, scaling=False, padding=False, strict=False))
            message.decode(data, decode_choices=False)
        except (CantoolsError, ValueError, KeyError, OverflowError):
            continue
        pool.append(data)
    return pool


def _random_raw(signal: Signal, rng: random.Random, mux_ids: set[int] | None) -> int | float:
    if mux_ids:
        return rng.choice(sorted(mux_ids))
    if signal.is_float:
        # A float32 signal must get a value float32 can hold exactly.
        return float(np.float32(rng.uniform(-1e4, 1e4)))
    length = int(signal.length)
    if signal.is_signed:
        return rng.randrange(-(1 << (length - 1)), 1 << (length - 1))
    return rng.randrange(1 << length)
