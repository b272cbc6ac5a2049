"""NMEA lines for the parser tests: sealed with their checksum, or mutated."""

from __future__ import annotations

from protocols.nmea.fields import checksum


def seal(body: str) -> bytes:
    """``$body*CS``: the sentence ``body`` with its checksum."""
    return f"${body}*{checksum(body):02X}".encode()


def mutate(line: bytes, edits: list[tuple[int, int]], reseal: bool) -> bytes:
    """``line`` with each (position, byte) of ``edits`` written in (position modulo length).

    With ``reseal``, a result that still looks like a sentence gets its checksum recomputed,
    so the mutation reaches the field parsers instead of the checksum check.
    """
    mutated = bytearray(line)
    for position, value in edits:
        mutated[position % len(mutated)] = value
    if reseal and mutated.startswith(b"$") and b"*" in mutated:
        body = bytes(mutated[1:]).partition(b"*")[0]
        total = 0
        for char in body:
            total ^= char
        return b"$" + body + f"*{total:02X}".encode()
    return bytes(mutated)
