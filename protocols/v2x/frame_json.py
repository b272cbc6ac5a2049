"""Any T/CSAE 53-2017 ``MessageFrame`` as JSON and back, losslessly.

The JSON is the ASN.1 JSON Encoding Rules' (JER, ITU-T X.697) form of the frame, written and
read by asn1tools' own JER codec compiled from the same modules as the UPER one: a SEQUENCE is
an object of its present members, a CHOICE an object of one member (``{"bsmFrame": {...}}``),
an OCTET STRING upper-case hex, a BIT STRING hex (``{"value", "length"}`` unless its size is
fixed), an ENUMERATED its name. The ASN.1 names are kept, so a frame reads like the standard.

Lossless: ``encode_json(decode_json(data)) == data`` for every frame asn1tools decodes (UPER
is canonical for these modules: no DEFAULT members). Values stay in the standard's units;
``protocols.v2x.decode_message_frame`` is the one converter to ours.
"""

from __future__ import annotations

import binascii
import functools
import json
from typing import Any

import asn1tools

from protocols.errors import V2xError
from protocols.v2x.csae53 import ASN_DIR, FRAME, KINDS, decode_frame, specification

EDITION = "2017"
"""The edition of the compiled modules (the only one shipped: see asn/SOURCES.md)."""
CHOICES = {kind: choice for choice, kind in KINDS.items()}
"""Short kind names (``bsm``) -> ``MessageFrame`` alternatives (``bsmFrame``)."""
# What asn1tools' decoders raise besides their own errors on inputs of the wrong shape.
_FOREIGN_ERRORS = (
    asn1tools.Error,
    ValueError,
    IndexError,
    KeyError,
    TypeError,
    AttributeError,
    NotImplementedError,
    binascii.Error,
)


@functools.cache
def json_specification() -> Any:
    """The modules compiled for JER (on the first call, ~0.5 s; cached after)."""
    return asn1tools.compile_files(sorted(str(p) for p in ASN_DIR.glob("*.asn")), "jer")


def to_json(frame: tuple[str, Any]) -> dict[str, Any]:
    """The JSON value of a frame as asn1tools decodes it (``(alternative, value)``).

    Raises ``V2xError`` (``unconvertible``) for a value that is not a 2017 frame (such as the
    ``(None, None)`` of a later edition's alternative).
    """
    try:
        value: dict[str, Any] = json.loads(json_specification().encode(FRAME, frame))
    except _FOREIGN_ERRORS as err:
        raise V2xError(f"not a T/CSAE 53-2017 frame value: {err}", reason="unconvertible") from err
    return value


def from_json(value: object) -> tuple[str, Any]:
    """The asn1tools value of a frame's JSON value (the reverse of ``to_json``).

    Raises ``V2xError`` (``bad_json``) for a value that is not one ``MessageFrame``
    alternative of the 2017 modules, has a member or enumeration name they do not know, or
    members of the wrong JSON types.
    """
    if not isinstance(value, dict) or len(value) != 1:
        raise V2xError(
            "a frame is a JSON object with one MessageFrame alternative", reason="bad_json"
        )
    (choice,) = value
    if choice not in KINDS:
        raise V2xError(f"unknown MessageFrame alternative {choice!r}", reason="bad_json")
    try:
        text = json.dumps(value, allow_nan=False).encode()
        frame: tuple[str, Any] = json_specification().decode(FRAME, text)
        # asn1tools' JER reader drops members it does not know and reads an unknown
        # enumeration name as None: reading the value back tells what it left out.
        back = json.loads(json_specification().encode(FRAME, frame))
    except _FOREIGN_ERRORS as err:
        raise V2xError(f"{choice}: {err}", reason="bad_json") from err
    left_out = _left_out(value, back, "")
    if left_out:
        raise V2xError(f"{choice}: unknown member {left_out}", reason="bad_json")
    return frame


def _left_out(given: object, back: object, path: str) -> str:
    """The path of the first member of ``given`` missing from ``back``, or ``""``."""
    if isinstance(given, dict) and isinstance(back, dict):
        for key, item in given.items():
            if key not in back:
                return f"{path}.{key}".lstrip(".")
            found = _left_out(item, back[key], f"{path}.{key}")
            if found:
                return found
    elif isinstance(given, list) and isinstance(back, list):
        for i, (item, item_back) in enumerate(zip(given, back, strict=False)):
            found = _left_out(item, item_back, f"{path}[{i}]")
            if found:
                return found
    return ""


def decode_json(data: bytes) -> tuple[str, dict[str, Any]]:
    """(kind, JSON value) of a UPER ``MessageFrame``; kind is ``bsm``, ``map``, ``rsm``,
    ``spat`` or ``rsi``. Raises ``V2xDecodeError`` as ``csae53.decode_frame`` does (where
    decoding stopped, and why)."""
    frame = decode_frame(data)
    return KINDS[frame[0]], to_json(frame)


def encode_json(value: object) -> bytes:
    """The UPER ``MessageFrame`` of a JSON value (as ``decode_json`` returns it).

    Raises ``V2xError``: ``bad_json`` for a value ``from_json`` refuses, ``unencodable`` for
    one outside the standard's constraints (a number out of range, a string for a number).
    """
    frame = from_json(value)
    try:
        return bytes(specification().encode(FRAME, frame, check_constraints=True))
    except _FOREIGN_ERRORS as err:
        raise V2xError(f"cannot encode {frame[0]}: {err}", reason="unencodable") from err
