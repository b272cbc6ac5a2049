"""The outbox's free-space policy: how much room is left, how large the WAL may grow, and how
much old telemetry a commit must evict to fit when the disk is nearly full.

The files (database and WAL) may not take the filesystem below ``min_free_bytes`` of free space
(``OutboxLimits``). Each commit reads the free space (one ``statvfs``); the less room is left,
the smaller the WAL may grow before the writer checkpoints it (down to ``MIN_WAL_PAGES``), since
a large WAL on a small disk cannot be checkpointed into the database file once the disk is
full. Within ``TIGHT_ROOM_BYTES`` of the reserve the outbox stops growing: each commit first
evicts as much old committed telemetry as the new batch needs beyond the file's free pages
(SQLite reuses the pages of deleted rows), and checkpoints after committing.
"""

from __future__ import annotations

import os
import sqlite3

from edge.uplink.outbox_eviction import OutboxRow

WRITER_CHECKPOINT_PAGES = 8192
"""WAL pages after which the writing connection checkpoints by itself. Only that lets the WAL
start over from its beginning (SQLite restarts it only when a transaction begins on a fully
copied WAL, which a busy writer never sees from another thread), so this bounds the WAL file:
32 MiB at 4 KiB pages. The thread has copied nearly everything by then; the writer pays the
fsyncs every ~2,700 commits instead of copying and syncing every ~330. On a filesystem with
less room, the bound shrinks with the room (a quarter of it), down to ``MIN_WAL_PAGES``."""

MIN_WAL_PAGES = 64
"""The smallest WAL bound (256 KiB at 4 KiB pages): what the WAL is kept at, and truncated back
to, when the disk is nearly full."""

TIGHT_ROOM_BYTES = 4 * MIN_WAL_PAGES * 4096
"""Free space above the reserve below which the outbox stops growing (1 MiB)."""

FLOOR_FREE_BYTES = 2 * MIN_WAL_PAGES * 4096
"""Free space the outbox leaves whatever ``min_free_bytes`` says (512 KiB): a checkpoint must be
able to copy the WAL into the database file, or the WAL can never start over."""

ROW_OVERHEAD_BYTES = 64
"""What a row costs on disk beyond its body (record header, columns, index entry): an estimate
for how much a commit will add."""


def room_beyond_reserve(directory: str, min_free_bytes: int) -> int | None:
    """Free bytes on the filesystem of ``directory`` beyond the reserve (``min_free_bytes``, at
    least ``FLOOR_FREE_BYTES``); may be negative. None when it cannot be read."""
    try:
        fs = os.statvfs(directory)
    except OSError:
        return None  # the commit will tell what is wrong
    return fs.f_bavail * fs.f_frsize - max(min_free_bytes, FLOOR_FREE_BYTES)


def wal_bound_pages(room: int, page_size: int) -> int:
    """The WAL bound for ``room`` bytes left: a quarter of it, between ``MIN_WAL_PAGES`` and
    ``WRITER_CHECKPOINT_PAGES``, rounded down to a power of two (so that the setting changes
    now and then, not at every commit)."""
    wal_pages = max(MIN_WAL_PAGES, min(WRITER_CHECKPOINT_PAGES, room // 4 // page_size))
    return 1 << (wal_pages.bit_length() - 1)


def is_tight(room: int, batch_bytes: int) -> bool:
    """Whether a batch of ``batch_bytes`` leaves less than ``TIGHT_ROOM_BYTES`` of ``room``:
    then the outbox stops growing."""
    return room < batch_bytes + TIGHT_ROOM_BYTES


def bytes_short(
    db: sqlite3.Connection,
    wal_path: str,
    *,
    room: int,
    batch_bytes: int,
    page_size: int,
    freeing_bytes: int,
) -> int:
    """How many bytes of committed rows to evict before writing ``batch_bytes`` into ``room``
    (0 or less: it fits). ``freeing_bytes``: the bodies the commit deletes anyway."""
    try:
        (free_pages,) = db.execute("PRAGMA freelist_count").fetchone()
    except sqlite3.Error:
        free_pages = 0
    try:
        wal_file = os.stat(wal_path).st_size
    except OSError:
        wal_file = 0
    # Rows fill B-tree pages only partly, and the index takes pages too: the batch needs
    # half as much again as its bodies, and only half of the free pages count. It needs
    # that twice when it does not fit in the WAL file as it is (which the checkpoint after
    # the last commit let start over): once in the WAL, once when copied into the database.
    pages = batch_bytes * 3 // 2
    need = pages + max(0, pages - wal_file)
    have = max(room, 0) + int(free_pages) * page_size // 2 + freeing_bytes
    return need - have


def wal_sized_pieces(rows: list[OutboxRow], page_size: int) -> list[list[OutboxRow]]:
    """``rows`` in pieces that fit the smallest WAL (``MIN_WAL_PAGES``), for a nearly full
    disk: each piece is committed and checkpointed before the next."""
    chunk = MIN_WAL_PAGES * page_size // 4
    chunks: list[list[OutboxRow]] = [[]]
    size = 0
    for row in rows:
        if size > chunk:
            chunks.append([])
            size = 0
        chunks[-1].append(row)
        size += len(row[7]) + ROW_OVERHEAD_BYTES
    return chunks
