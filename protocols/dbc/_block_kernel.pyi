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
