"""The decoder's compiled kernels (``_kernels.c``): built with the package where a C compiler
and Python's headers were at hand (pyproject.toml), else ``compiled_kernels`` is None and the
decoder makes the same values with numpy passes.

``group_standard`` groups a batch of classic frames with 11-bit ids by message, gathering
the known frames' payload words and times (``VectorDecoder.decode_batch``); ``decode_rows``
decodes a block's rows (``block_runner.LeanTable``). Each replaces a dozen numpy calls, each
a sweep of the batch or the block, with one pass.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

KERNEL_ROW = np.dtype(
    [
        ("slot", "=i8"),
        ("word", "=i8"),
        ("big", "=i8"),
        ("left", "=i8"),
        ("right", "=i8"),
        ("arithmetic", "=i8"),
        ("mask", "=i8"),
        ("scale", "=f8"),
        ("offset", "=f8"),
        ("add", "=i8"),
    ]
)
"""A block row's parameters as ``decode_rows`` reads them (``_kernels.c``'s ``Row``)."""


class DecodeKernels(Protocol):
    """The compiled kernels (``_kernels.c``; their docstrings say what each does)."""

    def decode_rows(
        self,
        rows: npt.NDArray[Any],
        source: npt.NDArray[np.uint64],
        first_frames: list[int],
        sizes: list[int],
        out: npt.NDArray[np.float64],
        width: int,
        columns: int,
        swapped_at: int,
        /,
    ) -> None: ...

    def group_standard(
        self,
        batch: npt.NDArray[Any],
        itemsize: int,
        data_offset: int,
        columns: int,
        row_of_id: npt.NDArray[np.intp],
        pairs: npt.NDArray[Any],
        pairs_itemsize: int,
        not_standard: int,
        buckets: int,
        order: npt.NDArray[np.intp],
        words: npt.NDArray[np.uint64],
        times: npt.NDArray[np.float64],
        /,
    ) -> list[int] | None: ...


try:
    # Typed by ``DecodeKernels`` alone (no stub of its own to keep in step).
    from protocols.dbc import _kernels  # type: ignore[attr-defined]
except ImportError:  # installed without a C compiler: numpy passes
    _kernels = None
compiled_kernels: DecodeKernels | None = _kernels
