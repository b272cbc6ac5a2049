"""hal's error tree: every exception it defines descends from ``HalError`` and is listed in
``hal/errors.py``; what it raises is of that tree or a bad-argument error."""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import pkgutil
from pathlib import Path

import hal
import hal.errors
from hal.errors import HalError

HAL_DIR = Path(hal.__file__).resolve().parent
BAD_ARGUMENTS = {"ValueError", "TypeError", "NotImplementedError"}
"""Built-in exceptions hal may raise: bad arguments, and abstract methods."""
CONVERTED_WHERE_RAISED = {("can/socketcan_raw.py", "OSError")}
"""Built-in exceptions raised inside a ``try`` that converts them to ``HalError`` right away
(a pending socket error after ``bind``, turned into ``PortOpenError``)."""


def _hal_modules() -> list[str]:
    return ["hal", *(info.name for info in pkgutil.walk_packages([str(HAL_DIR)], "hal."))]


def _exceptions_defined_in_hal() -> set[type[BaseException]]:
    found: set[type[BaseException]] = set()
    for name in _hal_modules():
        module = importlib.import_module(name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__.startswith("hal"):
                found.add(value)
    return found


def test_every_hal_exception_descends_from_hal_error_and_is_in_the_tree() -> None:
    defined = _exceptions_defined_in_hal()
    assert {e.__name__ for e in defined} >= {"HalError", "ProfileError", "TransmitError"}
    assert [e.__name__ for e in defined if not issubclass(e, HalError)] == []
    tree = hal.errors.__doc__ or ""
    assert [e.__name__ for e in defined if e.__name__ not in tree] == []


def _foreign_raises(path: Path, rel: str) -> list[str]:
    """``raise`` statements of ``path`` that raise a built-in exception hal may not raise."""
    foreign = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if not isinstance(node, ast.Raise) or node.exc is None:
            continue
        target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        if not isinstance(target, ast.Name) or not hasattr(builtins, target.id):
            continue  # one of ours (checked above) or a re-raise of a caught error
        if target.id not in BAD_ARGUMENTS and (rel, target.id) not in CONVERTED_WHERE_RAISED:
            foreign.append(f"hal/{rel}:{node.lineno} raises {target.id}")
    return foreign


def test_hal_raises_only_its_own_errors_or_bad_argument_errors() -> None:
    foreign = [
        line
        for path in sorted(HAL_DIR.rglob("*.py"))
        for line in _foreign_raises(path, path.relative_to(HAL_DIR).as_posix())
    ]
    assert foreign == []


def test_the_raise_check_sees_a_foreign_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f(x):\n    if x:\n        raise ValueError(x)\n    raise RuntimeError(x)\n")
    assert _foreign_raises(bad, "bad.py") == ["hal/bad.py:4 raises RuntimeError"]
