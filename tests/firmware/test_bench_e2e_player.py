"""``bench e2e``'s player: the log's frames become the kernel's records, as ``pack_frame``
writes them (played on vcan by ``tests/firmware/test_bench_e2e.py``)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_py.benchmarks.e2e_player import can_frames
from hal.can.frames import CAN_EFF_FLAG, CAN_RTR_FLAG
from hal.can.socketcan_structs import pack_frame
from protocols.candump import parse_candump

_frame = st.tuples(
    st.booleans(),  # extended
    st.booleans(),  # remote
    st.integers(0, 2**29 - 1),
    st.binary(max_size=8),
)


@given(st.lists(_frame, max_size=40))
def test_each_frame_is_the_record_pack_frame_makes(
    frames: list[tuple[bool, bool, int, bytes]],
) -> None:
    lines, expected = [], []
    for i, (extended, remote, raw_id, data) in enumerate(frames):
        can_id = raw_id if extended else raw_id & 0x7FF
        head = f"{can_id:08X}" if extended else f"{can_id:03X}"
        body = f"R{len(data)}" if remote else data.hex().upper()
        lines.append(f"({i * 0.001:.6f}) vcan{i % 2} {head}#{body}")
        flags = (CAN_EFF_FLAG if extended else 0) | (CAN_RTR_FLAG if remote else 0)
        expected.append(pack_frame(can_id | flags, b"" if remote else data, length=len(data)))
    parsed = parse_candump(lines)
    assert not parsed.rejects
    assert can_frames(parsed) == b"".join(expected)


def test_fd_frames_are_refused() -> None:
    with pytest.raises(ValueError, match="classic frames only"):
        can_frames(parse_candump(["(0.000000) vcan0 123##1AABB"]))
