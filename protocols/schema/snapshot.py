"""The wire-compatibility guard: a committed snapshot of every field number and type.

``python -m protocols.schema.snapshot`` (run by ``make proto``) refreshes the snapshot after an
edit of the schema, and refuses when the edit breaks compatibility: a field renumbered,
retyped, relabelled, removed without being reserved, or a number reused by another field.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from google.protobuf.descriptor import (
    Descriptor,
    EnumDescriptor,
    FieldDescriptor,
    FileDescriptor,
)

from protocols.schema.v1 import roadgate_pb2

SNAPSHOT_PATH = Path(__file__).resolve().parent / "v1" / "descriptor_snapshot.json"

Snapshot = dict[str, dict[str, Any]]


def describe(file: FileDescriptor = roadgate_pb2.DESCRIPTOR) -> Snapshot:
    """Field numbers, types and labels of every message; values of every enum."""
    messages: dict[str, Any] = {}

    def visit(message: Descriptor) -> None:
        messages[message.full_name] = {
            field.name: {
                "number": field.number,
                "type": field.type,
                "label": "repeated" if field.is_repeated else "optional",
                "type_name": _type_name(field),
                "oneof": field.containing_oneof.name if field.containing_oneof else "",
            }
            for field in message.fields
        }
        for nested in message.nested_types:
            visit(nested)

    def enum_values(enum: EnumDescriptor) -> dict[str, int]:
        return {value.name: value.number for value in enum.values}

    for message in file.message_types_by_name.values():
        visit(message)
    return {
        "messages": messages,
        "enums": {e.full_name: enum_values(e) for e in file.enum_types_by_name.values()},
    }


def incompatibilities(old: Snapshot, new: Snapshot) -> list[str]:
    """Every way ``new`` breaks readers or writers of ``old``; empty when compatible."""
    problems = []
    for message, old_fields in old["messages"].items():
        new_fields = new["messages"].get(message)
        if new_fields is None:
            problems.append(f"message {message} was removed")
            continue
        by_number = {spec["number"]: name for name, spec in new_fields.items()}
        for name, spec in old_fields.items():
            current = new_fields.get(name)
            if current is None:
                problems.append(f"{message}.{name} (#{spec['number']}) was removed")
            elif current != spec:
                problems.append(f"{message}.{name} changed from {spec} to {current}")
            owner = by_number.get(spec["number"])
            if owner is not None and owner != name:
                problems.append(f"{message}: #{spec['number']} of {name} reused by {owner}")
    for enum, old_values in old["enums"].items():
        new_values = new["enums"].get(enum)
        if new_values is None:
            problems.append(f"enum {enum} was removed")
            continue
        for name, number in old_values.items():
            if new_values.get(name) != number:
                problems.append(f"{enum}.{name} = {number} changed to {new_values.get(name)}")
    return problems


def _type_name(field: FieldDescriptor) -> str:
    referenced = field.message_type or field.enum_type
    return referenced.full_name if referenced is not None else ""


def load_snapshot(path: Path = SNAPSHOT_PATH) -> Snapshot:
    data: Snapshot = json.loads(path.read_text())
    return data


def write_snapshot(path: Path = SNAPSHOT_PATH) -> list[str]:
    """Refresh the snapshot unless the schema broke compatibility; returns the problems."""
    current = describe()
    if path.exists():
        problems = incompatibilities(load_snapshot(path), current)
        if problems:
            return problems
    path.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")
    return []


if __name__ == "__main__":
    found = write_snapshot()
    for problem in found:
        print(f"incompatible: {problem}", file=sys.stderr)
    sys.exit(1 if found else 0)
