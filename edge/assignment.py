"""``linear_sum_assignment``: SciPy's solver, without importing all of ``scipy.optimize``.

The function ``scipy.optimize.linear_sum_assignment`` is defined in SciPy's compiled module
``scipy.optimize._lsap``, which needs only numpy. Importing it the usual way first runs
``scipy.optimize``'s package, which imports its minimisers, linear programming (HiGHS),
``scipy.linalg``, ``scipy.sparse`` and ``scipy.special``: 47 MiB of a roadside unit's 100 MiB
budget, measured with ``roadgate bench memory``, for one function. So the compiled module is
loaded from SciPy's own installation under its own name (a later ``import scipy.optimize``
then reuses it); where that is not possible (another SciPy layout), the public import is used.
``tests/edge/test_assignment.py`` checks that both give the same assignments.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import numpy as np
import numpy.typing as npt

_MODULE = "scipy.optimize._lsap"

Solver = Callable[..., tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]]


def _compiled_module() -> ModuleType | None:
    if _MODULE in sys.modules:
        return sys.modules[_MODULE]
    spec = importlib.util.find_spec("scipy")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        for suffix in EXTENSION_SUFFIXES:
            path = Path(folder) / "optimize" / f"_lsap{suffix}"
            if not path.is_file():
                continue
            module_spec = importlib.util.spec_from_file_location(_MODULE, path)
            if module_spec is None or module_spec.loader is None:
                return None
            module = importlib.util.module_from_spec(module_spec)
            try:
                module_spec.loader.exec_module(module)
            except ImportError:
                return None
            sys.modules[_MODULE] = module
            return module
    return None


def _solver() -> Solver:
    module = _compiled_module()
    found: Any = getattr(module, "linear_sum_assignment", None)
    if callable(found):
        return cast(Solver, found)
    from scipy.optimize import linear_sum_assignment as public

    return cast(Solver, public)


linear_sum_assignment: Solver = _solver()
"""``scipy.optimize.linear_sum_assignment`` itself: ``(cost, maximize=False)`` ->
``(row_indices, column_indices)``."""
