"""``roadgate bench decode``: our vectorised DBC decoder against cantools, same frames, same run.

The frames are a mix of a DBC's messages (weighted by their cycle time when the DBC gives
one, else uniform) with random payloads encoded by cantools. Both sides start from the same
list of ``(timestamp, arbitration_id, data)`` tuples:

* ours: build the numpy arrays from the tuples, then ``VectorDecoder.decode`` (both timed);
* peer: ``cantools`` ``Database.decode_message(frame_id, data, decode_choices=False)`` per
  frame. ``decode_choices=False`` makes the work equal: our decoder returns numbers too, and
  turning codes into names would only slow cantools down (by about 10 %).

Each side is timed with ``time.perf_counter``, best of ``REPEATS`` runs each: on a shared
machine one run in a few is slowed by other processes, and the fastest run is the one that
measures the code. Both sides get the same number of runs (``BUDGET_S`` can add runs within a
time budget, as ``timeit`` does, but best-of-many against best-of-few would favour us).
Before timing, a sample of frames is decoded by both and compared, so a broken decoder cannot
win the benchmark.
"""

from __future__ import annotations

import array
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from cantools.database.can import Database, Message
from cantools.database.can.signal import Signal
from cantools.errors import Error as CantoolsError

import protocols.dbc
from firmware_py.errors import FirmwareError
from protocols.dbc import DecodedMessage, VectorDecoder, load_dbc
from protocols.errors import ProtocolError

DEFAULT_DBC = Path(protocols.dbc.__file__).parent / "files" / "toyota_nodsu_pt_generated.dbc"
DEFAULT_FRAMES = 100_000
REPEATS = 5
BUDGET_S = 0.0  # the same number of runs for both sides: best-of-many vs best-of-few is not fair
_MAX_REPEATS = 100
SAMPLE = 500
_PAYLOADS_PER_MESSAGE = 64
_REL_TOL = 1e-9

Frame = tuple[float, int, bytes]
"""``(timestamp, arbitration_id, data)``; an id above 0x7FF is a 29-bit id."""

_TIMESTAMP, _ID, _DATA = itemgetter(0), itemgetter(1), itemgetter(2)
# array.array has no fixed-size codes: the C type of 4 bytes (unsigned int on every platform
# CPython supports, but checked).
_UINT32 = next((code for code in "IL" if array.array(code).itemsize == 4), None)


@dataclass(frozen=True)
class FrameMix:
    """The benchmark's frames and how they were chosen.

    ``excluded`` names the DBC's messages left out of the mix, with the reason (cantools
    cannot decode them, or a 29-bit id at or below 0x7FF the frame tuples cannot express).
    """

    frames: list[Frame]
    messages: tuple[str, ...]
    weighting: str  # "cycle time" or "uniform"
    excluded: tuple[str, ...]


@dataclass(frozen=True)
class DecodeBenchResult:
    """Frames per second of both decoders on the same frames, and the mix they decoded."""

    ours: float
    peer: float
    frames: int
    dbc: str
    mix: FrameMix
    checked: int

    @property
    def ratio(self) -> float:
        return self.ours / self.peer

    def as_json(self) -> dict[str, object]:
        """The ``--json`` record: ``ours``, ``peer``, ``ratio``, ``unit``, ``frames``, ``dbc``."""
        return {
            "ours": round(self.ours, 1),
            "peer": round(self.peer, 1),
            "ratio": self.ratio,
            "unit": "frames/s",
            "frames": self.frames,
            "dbc": self.dbc,
        }


def run_decode_bench(
    dbc: Path = DEFAULT_DBC, frames: int = DEFAULT_FRAMES, seed: int = 0
) -> DecodeBenchResult:
    """Benchmark ``VectorDecoder`` against cantools on ``frames`` frames of ``dbc``.

    Raises ``FirmwareError`` when the DBC cannot be loaded, has no message both decoders can
    decode, or when the two decoders disagree on the sample.
    Raises ``ValueError`` when ``frames`` is below 1.
    """
    if frames < 1:
        raise ValueError(f"frames must be at least 1, got {frames}")
    try:
        db = load_dbc(dbc).database
    except ProtocolError as err:
        raise FirmwareError(str(err)) from err
    mix = frame_mix(db, frames, seed=seed)
    decoder = VectorDecoder(db)
    checked = check_same_values(db, decoder, mix.frames, seed=seed)

    def ours() -> None:
        decode_frames(decoder, mix.frames)

    def peer() -> None:
        decode_message = db.decode_message
        for _, frame_id, data in mix.frames:
            decode_message(frame_id, data, decode_choices=False)

    ours_s = best_time(ours)
    peer_s = best_time(peer)
    return DecodeBenchResult(
        ours=frames / ours_s,
        peer=frames / peer_s,
        frames=frames,
        dbc=dbc.name,
        mix=mix,
        checked=checked,
    )


def best_time(
    function: Callable[[], object], repeats: int = REPEATS, budget_s: float = BUDGET_S
) -> float:
    """The shortest wall-clock run of ``function``, in seconds: at least ``repeats`` runs, then
    more (up to 100) while the runs so far took less than ``budget_s`` in total."""
    best = math.inf
    spent = 0.0
    runs = 0
    while runs < repeats or (spent < budget_s and runs < _MAX_REPEATS):
        start = time.perf_counter()
        function()
        elapsed = time.perf_counter() - start
        best = min(best, elapsed)
        spent += elapsed
        runs += 1
    return best


def decode_frames(decoder: VectorDecoder, frames: Sequence[Frame]) -> dict[str, DecodedMessage]:
    """Decode frame tuples with ``decoder``: the arrays are built here, from the raw bytes."""
    n = len(frames)
    # One C-level pass per column, no Python bytecode per frame: map(itemgetter) feeding
    # np.fromiter or array.array (a generator expression costs half again as much; zip(*frames)
    # builds a tuple per frame and wakes the garbage collector, ten times slower). Whichever
    # of fromiter and array.array converts a column faster on CPython 3.11 is used.
    timestamps = np.fromiter(map(_TIMESTAMP, frames), dtype=np.float64, count=n)
    if _UINT32 is None:
        ids = np.fromiter(map(_ID, frames), dtype=np.uint32, count=n)
    else:
        ids = np.frombuffer(array.array(_UINT32, map(_ID, frames)), dtype=np.uint32)
    payloads = list(map(_DATA, frames))
    try:
        lengths: npt.NDArray[np.integer[Any]] = np.frombuffer(
            bytearray(map(len, payloads)), dtype=np.uint8
        )
    except ValueError:  # a payload longer than 255 bytes: not CAN, but count it right
        lengths = np.fromiter(map(len, payloads), dtype=np.int64, count=n)
    width = int(lengths.max()) if n else 0
    if n and width == 8 and int(lengths.min()) == 8:
        # Classic CAN, every frame full: the concatenation is already the N x 8 array.
        data = np.frombuffer(b"".join(payloads), dtype=np.uint8).reshape(n, 8)
    else:
        # numpy copies each bytes object into a fixed-width field, zero-padded on the right.
        width = max(8, width)
        data = np.fromiter(payloads, dtype=f"S{width}", count=n).view(np.uint8).reshape(n, width)
    return decoder.decode(ids, data, lengths, timestamps)


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
    decoded = decode_frames(decoder, picked)
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
    lines = [
        f"bench decode: {result.dbc}, {result.frames} frames of {len(mix.messages)} messages "
        f"({mix.weighting} mix)",
        f"  ours (VectorDecoder, arrays built from raw bytes): {result.ours:>12,.0f} frames/s",
        f"  peer (cantools decode_message, per frame):         {result.peer:>12,.0f} frames/s",
        f"  ratio: {result.ratio:.2f}x (best of {REPEATS} runs each)",
        f"  checked: {result.checked} frames decode to the same values in both",
    ]
    if mix.excluded:
        lines.append(f"  excluded: {', '.join(mix.excluded)}")
    return "\n".join(lines)


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
