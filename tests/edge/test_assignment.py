"""``edge.assignment``: SciPy's own solver, loaded without ``scipy.optimize``'s package."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from edge.assignment import linear_sum_assignment

_COSTS = st.tuples(st.integers(1, 12), st.integers(1, 12)).flatmap(
    lambda shape: arrays(
        np.float64,
        shape,
        elements=st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.just(np.inf), st.just(1.0)),
    )
)


@settings(max_examples=300, deadline=None)
@given(_COSTS, st.booleans())
def test_same_assignments_as_scipy_optimize(cost: np.ndarray, maximize: bool) -> None:
    from scipy.optimize import linear_sum_assignment as public

    try:
        expected = public(cost, maximize=maximize)
    except ValueError as err:  # infeasible (rows or columns all +-inf): the same refusal
        with pytest.raises(ValueError, match=re.escape(str(err))):
            linear_sum_assignment(cost, maximize=maximize)
        return
    rows, cols = linear_sum_assignment(cost, maximize=maximize)
    assert np.array_equal(rows, expected[0])
    assert np.array_equal(cols, expected[1])


def test_solves_without_importing_scipy_optimize() -> None:
    code = (
        "import sys\n"
        "import numpy as np\n"
        "from edge.assignment import linear_sum_assignment\n"
        "rows, cols = linear_sum_assignment(np.array([[4.0, 1.0, 3.0], [2.0, 0.0, 5.0], "
        "[3.0, 2.0, 2.0]]))\n"
        "print(rows.tolist(), cols.tolist(), 'scipy.optimize' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split("]")[-1].strip() == "False", out
    assert out.startswith("[0, 1, 2] [1, 0, 2]"), out


def test_a_later_scipy_optimize_import_reuses_the_loaded_solver() -> None:
    code = (
        "import edge.assignment\n"
        "import scipy.optimize\n"
        "import sys\n"
        "print(sys.modules['scipy.optimize._lsap'].linear_sum_assignment"
        " is edge.assignment.linear_sum_assignment,"
        " scipy.optimize.linear_sum_assignment is edge.assignment.linear_sum_assignment)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "True True", out
