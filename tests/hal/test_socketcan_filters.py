"""SocketCAN kernel id filters: every wanted id passes, few others do."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hal.can.frames import (
    CAN_EFF_FLAG,
)
from hal.can.socketcan_filters import CanFilter, compute_filters, pack_filters

# -- kernel filters ----------------------------------------------------------------------------


def passes(filters: list[CanFilter], arbitration_id: int, extended: bool) -> bool:
    return any(f.matches(arbitration_id, extended) for f in filters)


def test_exact_filters_pass_their_ids_and_kind_only() -> None:
    filters = compute_filters([0x123], [0x123, 0x18FEF100])
    assert len(filters) == 3
    assert passes(filters, 0x123, False)
    assert passes(filters, 0x123, True)
    assert passes(filters, 0x18FEF100, True)
    assert not passes(filters, 0x124, False)
    assert not passes(filters, 0x18FEF100 & 0x7FF, False)
    assert not passes(filters, 0x18FEF101, True)
    assert pack_filters(filters[:1]) == struct.pack("=II", 0x123, CAN_EFF_FLAG | 0x7FF)


@settings(max_examples=150)
@given(
    ids=st.sets(st.integers(0, 0x7FF), max_size=60),
    max_filters=st.integers(1, 20),
)
def test_standard_filters_cover_every_id_and_are_exact_when_they_fit(
    ids: set[int], max_filters: int
) -> None:
    filters = compute_filters(ids, max_filters=max_filters)
    assert len(filters) <= max_filters
    admitted = {i for i in range(0x800) if passes(filters, i, False)}
    assert ids <= admitted
    if len(ids) <= max_filters:
        assert admitted == ids
    assert not any(passes(filters, i, True) for i in ids)  # never the 29-bit twins


@settings(max_examples=100)
@given(
    ids=st.sets(st.integers(0, 0x1FFF_FFFF), min_size=1, max_size=40),
    standard=st.sets(st.integers(0, 0x7FF), max_size=10),
    max_filters=st.integers(2, 12),
)
def test_extended_and_mixed_filters_cover_every_id(
    ids: set[int], standard: set[int], max_filters: int
) -> None:
    filters = compute_filters(standard, ids, max_filters=max_filters)
    assert len(filters) <= max_filters
    assert all(passes(filters, i, True) for i in ids)
    assert all(passes(filters, i, False) for i in standard)
    if len(ids) + len(standard) <= max_filters:
        assert sorted(filters) == filters
        assert sum(f.admitted() for f in filters) == len(ids) + len(standard)


def test_merging_prefers_neighbours_that_admit_few_extra_ids() -> None:
    # 0x100-0x103 merge into one 4-id filter; 0x700 stays exact.
    filters = compute_filters([0x100, 0x101, 0x102, 0x103, 0x700], max_filters=2)
    assert [f.admitted() for f in filters] == [4, 1]
    assert sum(f.admitted() for f in filters) == 5


def test_bad_filter_arguments_are_value_errors() -> None:
    with pytest.raises(ValueError, match="standard CAN id"):
        compute_filters([0x800])
    with pytest.raises(ValueError, match="extended CAN id"):
        compute_filters(extended_ids=[0x2000_0000])
    with pytest.raises(ValueError, match="max_filters"):
        compute_filters([1], max_filters=0)
    with pytest.raises(ValueError, match="both"):
        compute_filters([1], [2], max_filters=1)
    assert compute_filters() == []
