"""A fused object's ``source_mask`` names its sources through its list's ``sensor_ids``."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from protocols.schema.sources import source_names

NAMES = ("radar-n", "radar-e", "radar-s", "radar-w", "cooperative")


@given(st.sets(st.integers(0, len(NAMES) - 1)), st.sets(st.integers(len(NAMES), 63)))
def test_each_set_bit_names_its_source_and_unnamed_bits_are_left_out(
    named: set[int], beyond: set[int]
) -> None:
    mask = sum(1 << bit for bit in named | beyond)
    assert source_names(mask, NAMES) == tuple(NAMES[bit] for bit in sorted(named))


def test_no_bit_is_no_source() -> None:
    assert source_names(0, NAMES) == ()
