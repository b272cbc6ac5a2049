"""Decode many CAN frames at once: ``VectorDecoder``, DBC signals extracted with numpy shifts
and masks.

Each message is compiled once into a plan (``plan_compiler``: per signal, which 64-bit word of
the payload, the shift, the mask, sign and scaling, and its multiplexer). A batch is grouped by
message with numpy: ids are mapped to messages (``id_lookup``: for the usual batch, data
frames with 11-bit ids, two table lookups by id and length that also find short frames and
impossible lengths; else a lookup table for 11-bit ids, a binary search for 29-bit ids, J1939
PGNs), one stable sort puts each message's frames next to each other. Lean messages (every
signal an integer in an aligned word, no multiplexing: nearly all) are decoded in a few
blocks of (signals x frames), messages of about as many frames in the batch sharing one
(``block_runner``), each block a dozen numpy calls; the result (``results.DecodedBatch``)
cuts a message out of its block when it is looked up, or every message in one loop when
they are all gone through. The other messages are decoded one by one (``plan_runner``). The
Python work per batch is per block and per message decoded alone, never per frame, and per
signal only for the few signals that cannot be batched (floats, 64-bit and word-straddling
signals, multiplexing) and, when every message is gone through, the view of each signal.
Where the package was built with its compiled kernels (``kernels``), the usual batch of a
frame batch (``decode_batch``) is grouped in one pass over its records and each block decoded
in one pass over its rows, the same values as the numpy passes, which remain the way for
every other batch and for a box installed without a C compiler.
A decoder keeps buffers between batches: use one from one thread at a time.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable, Mapping
from itertools import accumulate, compress
from typing import Any

import numpy as np
import numpy.typing as npt
from cantools.database.can import Database, Message
from cantools.errors import Error as CantoolsError

from hal.can.frames import FD_LENGTH_VALID, FLAG_EXTENDED, FLAG_NOT_DATA
from protocols.dbc.block_runner import LeanTable
from protocols.dbc.id_lookup import IdTables, frame_key, j1939_pgn
from protocols.dbc.kernels import DecodeKernels, compiled_kernels
from protocols.dbc.plan_compiler import MessagePlan, compile_message
from protocols.dbc.plan_runner import PayloadWords, decode_signals
from protocols.dbc.results import DecodedBatch, DecodedMessage, DecodedTogether, SlotLayout

TOGETHER_BELOW = 1 << 16
"""A lean message with this many (signal, frame) pairs in a batch or more gets a block of its
own (``LeanTable``): others share blocks with messages of about as many frames."""

FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.intp]
_NOT_STANDARD_DATA = np.uint8(FLAG_NOT_DATA | FLAG_EXTENDED)
_NOT_STANDARD_HEAD = int(_NOT_STANDARD_DATA) << 32  # the flags byte of ``_heads``' words
_LITTLE_ENDIAN = sys.byteorder == "little"
# (field, type, byte offset) as ``_heads`` reads them: the id, then flags and length.
_HEAD_FIELDS = (
    ("arbitration_id", np.dtype("=u4"), 8),
    ("flags", np.dtype("u1"), 12),
    ("dlc", np.dtype("u1"), 13),
)


class VectorDecoder:
    """Decode frame arrays into per-message signal arrays for the messages of a DBC.

    Every message is decoded vectorised: Intel and Motorola, signed, IEEE float, scaled,
    multiplexed (extended multiplexing included) and CAN FD payloads up to 64 bytes. Only a
    message with a signal past its own end (a relaxed DBC) falls back to cantools frame by
    frame. A signal absent from a frame (another multiplexer value) is NaN. Where cantools
    refuses a whole message because two of its signals overlap (a relaxed DBC), every signal
    is still decoded on its own bits.

    ``rejects`` counts frames not decoded, by reason: ``short_frame`` (dlc below the message
    length), ``bad_length`` (a dlc no frame has: 9-11, 13-15, ... or above 64 bytes),
    ``unknown_id`` (no selected message has that id or J1939 PGN), ``not_data``
    (error or remote frame), ``decode_error`` (a multiplexer value the DBC does not define,
    which cantools refuses too). Decoding never raises on frame contents.
    """

    def __init__(
        self, db: Database, messages: Iterable[str] | None = None, compiled: bool = True
    ) -> None:
        """Compile ``messages`` (names; all messages of ``db`` when None). ``compiled``: the
        usual batch grouped and the blocks decoded by the compiled kernels where they were
        built (see ``compiled``), else by numpy passes (the same values, bit for bit).

        Raises ``ValueError`` for a name ``db`` does not have, or more than 32764 messages.
        """
        selected: list[Message] = []
        if messages is None:
            selected = list(db.messages)
        else:
            for name in messages:
                try:
                    selected.append(db.get_message_by_name(name))
                except KeyError:
                    raise ValueError(f"no message named {name!r} in the database") from None
        self._by_name: dict[str, MessagePlan] = {m.name: compile_message(m) for m in selected}
        self._exact: dict[int, MessagePlan] = {
            frame_key(int(p.message.frame_id), bool(p.message.is_extended_frame)): p
            for p in self._by_name.values()
        }
        by_pgn: dict[int, list[MessagePlan]] = {}
        for plan in self._by_name.values():
            if plan.message.protocol == "j1939" and plan.message.is_extended_frame:
                by_pgn.setdefault(j1939_pgn(int(plan.message.frame_id)), []).append(plan)
        self._by_pgn = {pgn: plans[0] for pgn, plans in by_pgn.items() if len(plans) == 1}
        self._plans: tuple[MessagePlan, ...] = tuple(self._by_name.values())
        # Each slot's id: a frame's, when its bucket is ``IdTables.standard_buckets``'.
        self._slot_ids = np.array([int(p.message.frame_id) for p in self._plans], dtype=np.uint32)
        self._tables = IdTables.build(self._plans, self._exact, self._by_pgn)
        # Per slot, for the decode loop: the message name and the batch when it is the whole
        # decode (cantools' ``name`` is a property; ``batch_only`` checks three fields).
        self._names = tuple(str(p.message.name) for p in self._plans)
        self._lean = tuple(p.batch_only for p in self._plans)
        self._layout = SlotLayout(
            self._names,
            {name: slot for slot, name in enumerate(self._names)},
            tuple(() if b is None else b.names for b in self._lean),
        )
        # Lean messages are decoded in blocks (see ``LeanTable``).
        self._kernels: DecodeKernels | None = compiled_kernels if compiled else None
        self._table = LeanTable.build(self._lean, self._kernels)
        self._every_slot_lean = all(b is not None for b in self._lean)
        self._max_lean_columns = max([0, *(b.columns for b in self._lean if b is not None)])
        # Payload words each lean slot reads (int64 max for the others: never in a block).
        self._lean_columns = tuple(
            np.iinfo(np.int64).max if b is None else b.columns for b in self._lean
        )
        # Payload words any message reads (bytes past every message's end are never needed).
        self._columns = max([1, *(-(-p.length // 8) for p in self._plans)])
        self._big_endian = any(
            p.batch is not None and any(big for _, big in p.batch.words) for p in self._plans
        )
        self._word_view: tuple[np.dtype[Any], np.dtype[Any] | None] | None = None
        # Where that dtype's payload starts, when ``group_standard`` can read its records.
        self._word_offset: int | None = None
        # A batch dtype, and its bytes 8-15 as a word (None: not ``FRAME_DTYPE``'s layout).
        self._heads_view: tuple[np.dtype[Any] | None, np.dtype[Any] | None] = (None, None)
        self._heads_buffer: npt.NDArray[np.uint64] = np.empty(0, dtype=np.uint64)
        self.rejects: Counter[str] = Counter()
        self.vectorised: frozenset[str] = frozenset(
            name for name, p in self._by_name.items() if p.signals is not None
        )
        """Names of the messages on the numpy path (the others fall back to cantools)."""

    @property
    def compiled(self) -> bool:
        """Whether the compiled kernels (``kernels``: built when the package was installed
        where a C compiler and Python's headers were at hand) group and decode, not numpy
        passes."""
        return self._kernels is not None

    def choices(self, message: str, signal: str) -> Mapping[int, str]:
        """The value table of ``signal`` in ``message``: numeric value -> name (empty if none).

        The decoded arrays hold the numeric values; this maps them to the DBC's names.
        Raises ``ValueError`` for a message or signal the decoder does not have.
        """
        sig = self._signal(message, signal)
        if not sig.choices:
            return {}
        return {int(code): str(name) for code, name in sig.choices.items()}

    def choice_names(
        self, message: str, signal: str, values: npt.ArrayLike
    ) -> npt.NDArray[np.object_]:
        """Map an array of decoded values of ``signal`` to value-table names (None where the
        value has no name, or is NaN). Raises ``ValueError`` as ``choices``."""
        sig = self._signal(message, signal)
        array = np.asarray(values, dtype=np.float64)
        out = np.full(array.shape, None, dtype=object)
        for code, name in (sig.choices or {}).items():
            # A value table is keyed by raw value; decoded values are scaled.
            out[array == float(code) * float(sig.scale) + float(sig.offset)] = str(name)
        return out

    def _signal(self, message: str, signal: str) -> Any:
        plan = self._by_name.get(message)
        if plan is None:
            raise ValueError(f"no message named {message!r} in the decoder")
        try:
            return plan.message.get_signal_by_name(signal)
        except KeyError:
            valid = ", ".join(s.name for s in plan.message.signals)
            raise ValueError(
                f"message {message!r} has no signal {signal!r} (it has: {valid})"
            ) from None

    def decode(
        self,
        arbitration_id: npt.ArrayLike,
        data: npt.ArrayLike,
        dlc: npt.ArrayLike,
        timestamp: npt.ArrayLike,
        is_extended: npt.ArrayLike | None = None,
    ) -> DecodedBatch:
        """Decode frames given as parallel arrays.

        Takes ``arbitration_id: uint32[N]``, ``data: uint8[N, W]`` (W >= 8, payload
        left-aligned; W = 64 for CAN FD), ``dlc: uint8[N]`` (payload bytes),
        ``timestamp: float64[N]`` and optionally ``is_extended: bool[N]`` (default: ids above
        0x7FF are extended). Returns decoded messages by name; messages without a decodable
        frame are absent. Raises ``ValueError`` when the shapes disagree.
        """
        ids = np.asarray(arbitration_id, dtype=np.uint32).reshape(-1)
        payload = np.asarray(data, dtype=np.uint8)
        lengths = np.asarray(dlc).reshape(-1)
        if lengths.dtype.kind not in "ui":  # uint8 (frame batches, kernel structs) stays as is
            lengths = lengths.astype(np.int64)
        times = np.asarray(timestamp, dtype=np.float64).reshape(-1)
        n = ids.shape[0]
        if payload.ndim != 2 or payload.shape[0] != n or payload.shape[1] < 8:
            raise ValueError(f"data must have shape (N={n}, W>=8), got {payload.shape}")
        if lengths.shape[0] != n or times.shape[0] != n:
            raise ValueError("arbitration_id, dlc and timestamp must have the same length")
        extended: npt.NDArray[np.bool_] | None = None  # None: ids above 0x7FF are extended
        if is_extended is not None:
            extended = np.asarray(is_extended, dtype=bool).reshape(-1)
            if extended.shape[0] != n:
                raise ValueError("is_extended must have the same length as arbitration_id")
        return self._decode(
            ids, _little_endian_words(payload, self._columns), lengths, times, extended, None
        )

    def decode_batch(self, batch: npt.NDArray[Any]) -> DecodedBatch:
        """Decode a frame batch: a structured array with fields ``timestamp``,
        ``arbitration_id``, ``flags``, ``dlc`` and ``data`` (flag 0x01 = extended id).

        Error and remote frames are counted as ``not_data``. Returns as ``decode``.
        """
        words = self._batch_words(batch)
        if self._tables.pairs is not None and self._heads_fit(batch.dtype):
            if self._kernels is not None and self._word_offset is not None:
                grouped = self._group_standard(batch, self._kernels, self._word_offset)
                if grouped is not None:
                    return grouped
            # Each frame's id, flags and length (``FRAME_DTYPE``, little-endian host): one
            # word per frame at byte 8, read in one pass into a kept buffer.
            heads = self._heads(batch)
            if not int(np.bitwise_or.reduce(heads)) & _NOT_STANDARD_HEAD:
                # The usual batch, as below, its ids and lengths strided views of the words.
                self.rejects["not_data"] += 0
                ids: npt.NDArray[np.uint32] = heads.view(np.uint32)[::2]
                lengths: npt.NDArray[np.uint8] = heads.view(np.uint8)[5::8]
                buckets = self._tables.standard_buckets(ids, lengths)
                return self._decode_buckets(
                    buckets, ids, words, batch["timestamp"], None, standard=True
                )
        # A contiguous copy of the flags: a pass over a field of the records (80 bytes apart)
        # sweeps the whole batch through the cache.
        flags = np.ascontiguousarray(batch["flags"])
        if self._tables.pairs is not None and not (flags & _NOT_STANDARD_DATA).any():
            # The usual batch: data frames with 11-bit ids. Their buckets, short frames and
            # bad lengths included, by id and length at once.
            self.rejects["not_data"] += 0
            ids = np.ascontiguousarray(batch["arbitration_id"], dtype=np.uint32)
            lengths = np.ascontiguousarray(batch["dlc"], dtype=np.uint8)
            buckets = self._tables.standard_buckets(ids, lengths)
            return self._decode_buckets(
                buckets, ids, words, batch["timestamp"], None, standard=True
            )
        is_data = (flags & FLAG_NOT_DATA) == 0
        not_data = int(batch.shape[0] - np.count_nonzero(is_data))
        self.rejects["not_data"] += not_data
        if not_data == 0:  # no copy of the batch to drop rows
            return self._decode(
                np.ascontiguousarray(batch["arbitration_id"], dtype=np.uint32),
                words,
                np.ascontiguousarray(batch["dlc"]),
                batch["timestamp"].astype(np.float64, copy=False),
                (flags & FLAG_EXTENDED) != 0,
                None,
            )
        rows = np.flatnonzero(is_data)
        return self._decode(
            batch["arbitration_id"][rows].astype(np.uint32),
            np.take(words, rows, axis=0),
            batch["dlc"][rows],
            batch["timestamp"][rows].astype(np.float64),
            (flags[rows] & FLAG_EXTENDED) != 0,
            rows.astype(np.intp),
        )

    def _group_standard(
        self, batch: npt.NDArray[Any], kernels: DecodeKernels, word_offset: int
    ) -> DecodedBatch | None:
        """``decode_batch`` of a batch of classic data frames with 11-bit ids, grouped by
        the compiled kernel in one pass (None: a batch with other frames, or laid out
        otherwise, which the numpy passes take)."""
        if not batch.flags.c_contiguous:
            return None
        tables, columns, n = self._tables, self._columns, batch.shape[0]
        assert tables.pairs is not None  # the caller checked
        order = np.empty(n, dtype=np.intp)
        times = np.empty(n)
        words = self._table.words_buffer(n, columns)
        counts = kernels.group_standard(
            batch,
            batch.dtype.itemsize,
            word_offset,
            columns,
            tables.row_of_id,
            tables.pairs,
            tables.pairs.dtype.itemsize,
            int(_NOT_STANDARD_DATA),
            len(self._plans) + 3,
            order,
            words,
            times,
        )
        if counts is None:
            return None
        self.rejects["not_data"] += 0
        unknown, known = self._count_rejects(counts)
        little = words[: known * columns].reshape(known, columns)
        self._table.loaded(little)
        return self._decode_groups(
            counts,
            order[unknown : unknown + known],
            little,
            times[:known],
            None,
        )

    def _heads_fit(self, dtype: np.dtype[Any]) -> bool:
        """Whether a batch of ``dtype`` has ``FRAME_DTYPE``'s id, flags and length at bytes
        8-13 (``_heads`` reads them as one word), on a little-endian host."""
        if self._heads_view[0] is not dtype:
            fields: Mapping[str, Any] = dtype.fields or {}
            fit = (
                _LITTLE_ENDIAN
                and dtype.itemsize >= 16
                and all(
                    name in fields and fields[name][0] == kind and fields[name][1] == offset
                    for name, kind, offset in _HEAD_FIELDS
                )
            )
            view = np.dtype(
                {"names": ["head"], "formats": ["=u8"], "offsets": [8], "itemsize": dtype.itemsize}
            )
            self._heads_view = (dtype, view if fit else None)
        return self._heads_view[1] is not None

    def _heads(self, batch: npt.NDArray[Any]) -> npt.NDArray[np.uint64]:
        """Bytes 8-15 of each record of ``batch`` (when ``_heads_fit``) as a native word, in
        a buffer kept between batches (valid until the next call)."""
        n = batch.shape[0]
        if self._heads_buffer.shape[0] < n:
            self._heads_buffer = np.empty(max(n, 4096), dtype=np.uint64)
        heads = self._heads_buffer[:n]
        view = self._heads_view[1]
        assert view is not None  # ``_heads_fit`` said so
        np.copyto(heads, batch.view(view)["head"])
        return heads

    def _batch_words(self, batch: npt.NDArray[Any]) -> npt.NDArray[np.unsignedinteger[Any]]:
        """The payload words the messages read, as ``_little_endian_words`` gives them; for
        the usual batch a view of it (no copy: the decode gathers each frame's words once,
        from there)."""
        if self._word_view is None or self._word_view[0] is not batch.dtype:
            self._word_view = (batch.dtype, _word_view(batch.dtype, self._columns))
            self._word_offset = _kernel_word_offset(batch.dtype, self._word_view[1])
        view = self._word_view[1]
        if view is None:
            return _little_endian_words(batch["data"], self._columns)
        words: npt.NDArray[np.unsignedinteger[Any]] = batch.view(view)["words"]
        return words

    def _decode(
        self,
        ids: npt.NDArray[np.uint32],
        words: npt.NDArray[np.unsignedinteger[Any]],
        lengths: npt.NDArray[np.integer[Any]],
        times: FloatArray,
        extended: npt.NDArray[np.bool_] | None,
        rows: IndexArray | None,
    ) -> DecodedBatch:
        """Decode frames; ``words``: their payloads as ``_little_endian_words`` gives them
        (any strides), ``rows``: their rows in the caller's input (None: 0..N-1)."""
        n = ids.shape[0]
        if n == 0:
            return DecodedBatch(self._layout, {}, None)
        buckets = self._tables.buckets(ids, extended, lengths)
        bad_length = _bad_lengths(lengths)
        if bad_length is not None:  # rare: a bucket of their own, counted apart
            np.putmask(buckets, bad_length, len(self._plans) + 2)
        return self._decode_buckets(buckets, ids, words, times, rows)

    def _decode_buckets(
        self,
        buckets: npt.NDArray[np.integer[Any]],
        ids: npt.NDArray[np.uint32],
        words: npt.NDArray[np.unsignedinteger[Any]],
        times: npt.NDArray[np.floating[Any]],
        rows: IndexArray | None,
        standard: bool = False,
    ) -> DecodedBatch:
        """Decode frames put in ``buckets`` (0: unknown id, ``slot + 1``, then short frames,
        then frames of a length no frame has); the rest as ``_decode``. ``standard``: the
        buckets are ``IdTables.standard_buckets``' (a known frame's id is its message's: the
        messages' ids are made from the decoder's when first read, not gathered)."""
        n = buckets.shape[0]
        if n == 0:
            return DecodedBatch(self._layout, {}, None)
        plans = len(self._plans)
        # One stable sort (a radix sort for small integers) groups each message's frames in
        # input (time) order, unknown frames first and short ones last; the bucket counts
        # give every group's bounds.
        order = buckets.argsort(kind="stable")
        counts: list[int] = np.bincount(buckets, minlength=plans + 3).tolist()
        unknown, known_count = self._count_rejects(counts)
        known = order[unknown : unknown + known_count]
        # Each payload's 64-bit words, read little-endian, gathered once for the whole batch
        # in message order into the table's buffer: each message then reads columns of
        # these without a copy.
        little = self._table.load(words, known)
        # ``take`` methods, not ``np.take``: no Python wrapper per call.
        sorted_times = times.take(known).astype(np.float64, copy=False)
        # A known frame's id, for the standard buckets, is its message's: made on first read.
        sorted_ids = None if standard else ids.take(known)
        sorted_rows = known if rows is None else rows.take(known)
        return self._decode_groups(counts, sorted_rows, little, sorted_times, sorted_ids)

    def _count_rejects(self, counts: list[int]) -> tuple[int, int]:
        """Count the rejected frames of the bucket ``counts`` (unknown, short, bad length);
        returns the unknown frames (the first bucket) and the known ones (those after)."""
        plans = len(self._plans)
        unknown, short, bad = counts[0], counts[plans + 1], counts[plans + 2]
        self.rejects["unknown_id"] += unknown
        self.rejects["short_frame"] += short
        if bad:
            self.rejects["bad_length"] += bad
        return unknown, sum(counts) - unknown - short - bad

    def _decode_groups(
        self,
        counts: list[int],
        sorted_rows: IndexArray,
        little: npt.NDArray[np.uint64],
        sorted_times: FloatArray,
        sorted_ids: npt.NDArray[np.uint32] | None,
    ) -> DecodedBatch:
        """Decode the known frames grouped by message: ``counts`` of each bucket (as
        ``_decode_buckets``), then of the known frames in message order their rows in the
        input, payload words (``LeanTable.load``'s), times and ids (None: each its
        message's)."""
        out: dict[str, DecodedMessage] = {}
        plans = len(self._plans)
        if sorted_rows.shape[0] == 0:
            return DecodedBatch(self._layout, out, None)
        sizes = counts[1 : plans + 1]  # frames of each slot
        first_frames = list(accumulate(sizes[:-1], initial=0))  # in message order
        columns = little.shape[1]
        present = list(compress(range(plans), sizes))
        if self._every_slot_lean and self._max_lean_columns <= columns:
            lean, alone = present, []
        else:
            lean_columns = self._lean_columns
            lean = [slot for slot in present if lean_columns[slot] <= columns]
            alone = [slot for slot in present if lean_columns[slot] > columns]
        part: DecodedTogether | None = None
        if lean:
            # Lean messages (a SignalBatch is their whole decode) are decoded in the
            # table's blocks; the others one by one.
            blocks = self._table.decode(little, lean, sizes, first_frames, TOGETHER_BELOW)
            part = DecodedTogether(
                sorted_times,
                sorted_rows,
                sorted_ids,
                blocks.blocks,
                blocks.placed,
                self._slot_ids,
            )
        for slot in alone:
            group = slice(first_frames[slot], first_frames[slot] + sizes[slot])
            group_little = little[group]
            plan = self._plans[slot]
            if plan.signals is None:
                decoded = self._decode_slow(plan.message, _payload_bytes(group_little))
            else:
                group_words = PayloadWords(
                    _payload_bytes(group_little),
                    plan.length,
                    plan.width,
                    group_little,
                    group_little.byteswap() if self._big_endian else None,
                )
                decoded = self._decode_fast(plan, group_words)
            if decoded is None:
                continue
            signals, good = decoded
            group_times, group_rows, group_ids = (
                sorted_times[group],
                sorted_rows[group],
                (
                    np.full(sizes[slot], self._slot_ids[slot])
                    if sorted_ids is None
                    else sorted_ids[group]
                ),
            )
            if good is not None:  # some frames were refused
                group_times, group_rows, group_ids = (
                    group_times[good],
                    group_rows[good],
                    group_ids[good],
                )
            out[plan.message.name] = DecodedMessage(
                timestamp=group_times,
                signals=signals,
                index=group_rows,
                arbitration_id=group_ids,
            )
        return DecodedBatch(self._layout, out, part)

    def _decode_fast(
        self, plan: MessagePlan, words: PayloadWords
    ) -> tuple[dict[str, FloatArray], npt.NDArray[np.bool_] | None] | None:
        """Decode one message's frames: values, and the rows kept (None: all); None when
        every frame was refused."""
        values, refused = decode_signals(plan, words)
        if refused is None or not refused.any():
            return values, None
        self.rejects["decode_error"] += int(np.count_nonzero(refused))
        good = ~refused
        if not good.any():
            return None
        return {name: value[good] for name, value in values.items()}, good

    def _decode_slow(
        self, message: Message, payload: npt.NDArray[np.uint8]
    ) -> tuple[dict[str, FloatArray], npt.NDArray[np.bool_] | None] | None:
        """Decode frame by frame with cantools; returns as ``_decode_fast``."""
        names = [s.name for s in message.signals]
        values = np.full((len(names), payload.shape[0]), np.nan)
        good = np.zeros(payload.shape[0], dtype=bool)
        for i in range(payload.shape[0]):
            try:
                decoded = message.decode_simple(
                    payload[i, : message.length].tobytes(), decode_choices=False, scaling=True
                )
            except (CantoolsError, ValueError):  # bad bytes are counted, never raised
                self.rejects["decode_error"] += 1
                continue
            good[i] = True
            for j, name in enumerate(names):
                value = decoded.get(name)
                if isinstance(value, int | float):
                    values[j, i] = value
        if not good.any():
            return None
        if good.all():
            return {name: values[j] for j, name in enumerate(names)}, None
        return {name: values[j, good] for j, name in enumerate(names)}, good


def _bad_lengths(lengths: npt.NDArray[np.integer[Any]]) -> npt.NDArray[np.bool_] | None:
    """Which frames have a length no CAN or CAN FD frame has; None when none (the usual
    batch: one table lookup of its lengths, no mask kept)."""
    if lengths.dtype == np.uint8:
        index: npt.NDArray[np.integer[Any]] = lengths
    else:  # any other integer type: negatives and lengths past 255 read entry 256 (False)
        index = np.where((lengths < 0) | (lengths > 255), 256, lengths)
    valid = np.take(FD_LENGTH_VALID, index)
    if valid.all():
        return None
    bad: npt.NDArray[np.bool_] = ~valid
    return bad


def _little_endian_words(
    payload: npt.NDArray[np.uint8], columns: int
) -> npt.NDArray[np.unsignedinteger[Any]]:
    """The first ``columns`` 64-bit words of each payload, contiguous ``<u8[N, C]``
    (C <= ``columns``, fewer when the payload is narrower; a partial last word is zero-padded).

    Only those bytes are copied out of wider rows (a frame batch's 64-byte payloads, kernel
    structs): np.take of a strided array is twice as slow as this copy and a take.
    """
    width = min(payload.shape[1], 8 * columns)
    if width % 8:
        padded = np.zeros((payload.shape[0], width + 8 - width % 8), dtype=np.uint8)
        padded[:, :width] = payload[:, :width]
        payload, width = padded, padded.shape[1]
    words: npt.NDArray[np.unsignedinteger[Any]] = np.ascontiguousarray(payload[:, :width]).view(
        "<u8"
    )
    return words


def _kernel_word_offset(dtype: np.dtype[Any], words: np.dtype[Any] | None) -> int | None:
    """Where the payload of ``dtype``'s records starts, when ``group_standard`` can read
    them (``words``, ``_word_view``'s, not None; a native float64 time at byte 0); else
    None."""
    fields: Mapping[str, Any] = dtype.fields or {}
    time = fields.get("timestamp")
    if words is None or time is None or time[1] != 0 or time[0] != np.dtype(np.float64):
        return None
    offset: int = fields["data"][1]
    return offset


def _word_view(dtype: np.dtype[Any], columns: int) -> np.dtype[Any] | None:
    """``dtype`` seen as its first ``columns`` payload words (field ``words``, little-endian
    ``u8``); None when its ``data`` is not a byte array that wide."""
    data = None if dtype.fields is None else dtype.fields.get("data")
    if data is None:
        return None
    data_type, offset = data[0], data[1]
    if data_type.base != np.uint8 or len(data_type.shape) != 1 or data_type.shape[0] < 8 * columns:
        return None
    return np.dtype(
        {
            "names": ["words"],
            "formats": [("<u8", (columns,))],
            "offsets": [offset],
            "itemsize": dtype.itemsize,
        }
    )


def _payload_bytes(words: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint8]:
    """The payload bytes of little-endian words, ``uint8[M, 8 * words]``."""
    data: npt.NDArray[np.uint8] = words.astype("<u8", copy=False).view(np.uint8)
    return data
