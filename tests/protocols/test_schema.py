"""The wire schema: generated code is current, and every change is wire compatible."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from protocols.schema.codegen import PROTO_FILES, SCHEMA_ROOT, generate
from protocols.schema.snapshot import describe, incompatibilities, load_snapshot


def test_generated_code_and_stubs_are_current(tmp_path: Path) -> None:
    for fresh in generate(tmp_path):
        committed = SCHEMA_ROOT / fresh.relative_to(tmp_path)
        assert committed.read_text() == fresh.read_text(), (
            f"{committed} is stale: run `make proto` after editing {PROTO_FILES[0]}"
        )


def test_schema_is_wire_compatible_with_the_committed_snapshot() -> None:
    problems = incompatibilities(load_snapshot(), describe())
    assert problems == [], f"incompatible schema change: {problems}"


def test_snapshot_is_current() -> None:
    assert load_snapshot() == describe(), "run `make proto` to refresh descriptor_snapshot.json"


def _mutated(path: list[str], value: object) -> dict[str, dict[str, object]]:
    snapshot = copy.deepcopy(describe())
    target: Any = snapshot
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return snapshot


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (["messages", "roadgate.v1.Envelope", "sequence", "number"], 40, "changed"),
        (["messages", "roadgate.v1.VehicleState", "speed_mps", "type"], 2, "changed"),
        (["enums", "roadgate.v1.EventType", "EVENT_TYPE_SPEEDING"], 9, "changed"),
    ],
)
def test_the_guard_catches_renumbering_and_retyping(
    path: list[str], value: object, expected: str
) -> None:
    # The committed snapshot plays "old"; a mutated copy of today's schema plays "new".
    new = _mutated(path, value)
    problems = incompatibilities(describe(), new)
    assert any(expected in p for p in problems), problems


def test_the_guard_catches_a_reused_number() -> None:
    new = copy.deepcopy(describe())
    fields = new["messages"]["roadgate.v1.Envelope"]
    spec = dict(fields.pop("historical"))
    fields["replayed"] = spec  # same number 8, different name: a reuse
    problems = incompatibilities(describe(), new)
    assert any("removed" in p for p in problems)
    assert any("reused by replayed" in p for p in problems)


def test_adding_a_field_is_compatible() -> None:
    new = copy.deepcopy(describe())
    new["messages"]["roadgate.v1.VehicleState"]["new_field"] = {
        "number": 99,
        "type": 1,
        "label": "optional",
        "type_name": "",
        "oneof": "",
    }
    assert incompatibilities(describe(), new) == []
