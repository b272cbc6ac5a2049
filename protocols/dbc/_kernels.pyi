from typing import Any

import numpy as np
import numpy.typing as npt

def decode_rows(
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
