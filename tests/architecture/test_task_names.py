"""Every background task our packages start has a name (house style: named tasks in TaskGroups).

A task's name is what a leak report, a crash's traceback and ``asyncio.all_tasks()`` show; an
unnamed ``Task-123`` says nothing of where it came from.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("hal", "protocols", "edge", "cloud_bridge", "firmware_py", "hil")


def unnamed_tasks(source: str, filename: str) -> list[str]:
    """``file:line`` of each ``create_task(...)`` call in ``source`` without ``name=``."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
            == "create_task"
            and not any(keyword.arg == "name" for keyword in node.keywords)
        ):
            found.append(f"{filename}:{node.lineno}")
    return found


def test_the_check_flags_an_unnamed_task_and_passes_a_named_one() -> None:
    source = (
        "async def f(tasks):\n"
        "    asyncio.create_task(g())\n"
        "    tasks.create_task(g(), name='g')\n"
        "    create_task(g())\n"
    )
    assert unnamed_tasks(source, "x.py") == ["x.py:2", "x.py:4"]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_task_our_code_starts_has_a_name(package: str) -> None:
    unnamed = [
        where
        for path in sorted((ROOT / package).rglob("*.py"))
        if "_pb2" not in path.name
        for where in unnamed_tasks(path.read_text(), str(path.relative_to(ROOT)))
    ]
    assert unnamed == []
