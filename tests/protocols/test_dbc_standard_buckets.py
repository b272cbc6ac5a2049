"""``IdTables.standard_buckets`` (the usual batch's id lookup) puts every frame where the general
lookup does: any 32-bit id of a frame not flagged extended (past 0x7FF: unknown), any length
(short frames and lengths no frame has in their own buckets)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import protocols.dbc
from hal.can.frames import FD_LENGTH_VALID
from protocols.dbc import VectorDecoder, load_dbc

TOYOTA = load_dbc(
    Path(protocols.dbc.__file__).parent / "files" / "toyota_nodsu_pt_generated.dbc"
).database
DECODER = VectorDecoder(TOYOTA)
KNOWN = sorted(int(m.frame_id) for m in TOYOTA.messages if not m.is_extended_frame)

IDS = st.one_of(
    st.sampled_from(KNOWN),
    st.integers(0, 0x7FF),
    st.integers(0x7FF, 0x900),
    st.integers(0, 2**32 - 1),
    # Past the table, at a multiple of its size from a known id.
    st.builds(lambda known, k: known + k * 0x801, st.sampled_from(KNOWN), st.integers(1, 9)),
)


@settings(max_examples=100, deadline=None)
@given(frames=st.lists(st.tuples(IDS, st.integers(0, 255)), min_size=1, max_size=64))
def test_standard_buckets_are_the_general_lookups(frames: list[tuple[int, int]]) -> None:
    tables = DECODER._tables
    ids = np.array([frame_id for frame_id, _ in frames], dtype=np.uint32)
    lengths = np.array([length for _, length in frames], dtype=np.uint8)
    want = tables.buckets(ids, np.zeros(len(frames), dtype=bool), lengths).astype(np.int64)
    want[~FD_LENGTH_VALID[lengths]] = len(TOYOTA.messages) + 2
    got = tables.standard_buckets(ids, lengths)
    np.testing.assert_array_equal(got.astype(np.int64), want)
    # An id past 0x7FF (not flagged extended) is unknown, unless its length is no frame's.
    assert (got[(ids > 0x7FF) & FD_LENGTH_VALID[lengths]] == 0).all()
