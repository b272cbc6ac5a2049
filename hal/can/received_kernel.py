"""The SocketCAN reader's compiled kernel (``_received.c``): built with the package where a C
compiler and Python's headers were at hand (pyproject.toml), else ``compiled_parse`` is None
and ``socketcan_mmsg.parse_received`` makes the same batch with numpy passes.

``parse_received`` turns the usual burst ``recvmmsg`` delivered (classic data frames with
11-bit ids, each stamped) into a frame batch in one pass over slots, headers and control
buffers, where numpy sweeps the burst once per field (stamps, sizes, heads, payloads).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from hal.can.frames import FRAME_DTYPE

KERNEL_FRAME_LAYOUT = {"timestamp": 0, "arbitration_id": 8, "flags": 12, "dlc": 13, "data": 14}
"""The batch's fields' offsets the kernel writes (``FRAME_DTYPE``'s, packed: 78 bytes)."""
KERNEL_FRAME_SIZE = 78


class ReceivedKernel(Protocol):
    """The compiled kernel (``_received.c``; its docstring says what it does)."""

    def parse_received(
        self,
        slots: Any,
        count: int,
        headers: np.ndarray[Any, Any],
        header_size: int,
        msg_len_at: int,
        controllen_at: int,
        control: np.ndarray[Any, Any],
        control_size: int,
        out: np.ndarray[Any, Any],
        /,
    ) -> tuple[int, int | None] | None: ...


def _fits(dtype: np.dtype[Any]) -> bool:
    fields: Mapping[str, Any] = dtype.fields or {}
    offsets = {name: fields[name][1] for name in fields}
    return dtype.itemsize == KERNEL_FRAME_SIZE and offsets == KERNEL_FRAME_LAYOUT


try:
    # Typed by ``ReceivedKernel`` alone (no stub of its own to keep in step).
    from hal.can import _received  # type: ignore[attr-defined]
except ImportError:  # installed without a C compiler: numpy passes
    _received = None
compiled_parse: ReceivedKernel | None = _received if _fits(FRAME_DTYPE) else None
