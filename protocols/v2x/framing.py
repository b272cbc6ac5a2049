"""What equipment puts before a ``MessageFrame``: detect it, report it, never fail silently.

``unwrap(data)`` returns the ``MessageFrame`` bytes and names the layers found before it:

* ``none``: ``data`` is a ``MessageFrame`` (it decodes and re-encodes to its exact length).
* ``unsecured``: an IEEE 1609.2 ``Ieee1609Dot2Data`` (protocol version 3, COER) holding
  ``unsecuredData``; the bytes after its length are the frame.
* ``secured``: a 1609.2 / YD/T 3957 ``signedData`` whose signed payload is unencrypted data;
  the frame is found by scanning the signed structure for a length followed by exactly that
  many bytes that decode as a ``MessageFrame``. The signature is **not** checked (no crypto
  here): a secured frame is as trustworthy as an unsecured one until something verifies it.
  Encrypted data raises ``V2xDecodeError`` (``detail`` ``encrypted``).
* ``prefix``: transport bytes (a DSMP/WSMP-like header, a vendor's length prefix) of
  ``offset`` bytes: found by trying the decode at offsets 1-64; ``length-prefix`` is added
  when the bytes right before the frame hold its length.

Heuristic, honestly: detection means "decodes as a 2017 ``MessageFrame`` and re-encodes to
exactly the bytes' length". Random bytes rarely pass that, but can; a frame carrying
extension additions of a later edition does not re-encode exactly, so it is only found at
offset 0 (reported ``none``) or right after a 1609.2 length. Headers are recognised by
their first bytes only; nothing in them (PSID/AID, certificates) is interpreted.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import asn1tools

from protocols.errors import V2xDecodeError
from protocols.v2x.csae53 import FRAME, decode_frame, specification

IEEE1609DOT2_VERSION = 3
UNSECURED, SIGNED, ENCRYPTED = 0x80, 0x81, 0x82
MAX_PREFIX = 64
MAX_SIGNED_SCAN = 512
_DECODE_ERRORS = (asn1tools.Error, ValueError, IndexError, KeyError, TypeError, NotImplementedError)


@dataclass(frozen=True)
class Unwrapped:
    """The ``MessageFrame`` bytes (``payload``), the layers found before it (``layer``:
    ``none``, ``unsecured``, ``secured``, ``prefix``, joined with ``+`` when stacked, e.g.
    ``prefix+secured``) and where the frame starts in the input (``offset``)."""

    payload: bytes
    layer: str
    offset: int


@dataclass(frozen=True)
class _Refused:
    error: V2xDecodeError
    offset: int


def is_exact_frame(data: bytes) -> bool:
    """Whether ``data`` decodes as a 2017 ``MessageFrame`` that re-encodes to its length."""
    if not data:
        return False
    try:
        value: Any = specification().decode(FRAME, data, check_constraints=True)
        if value[0] is None:  # an extension alternative: nothing to re-encode
            return False
        return len(specification().encode(FRAME, value)) == len(data)
    except _DECODE_ERRORS:
        return False


def unwrap(data: bytes) -> Unwrapped:
    """The ``MessageFrame`` inside ``data`` and what was before it (see the module doc).

    Raises ``V2xDecodeError``: ``detail`` ``encrypted`` for 1609.2 encrypted data,
    ``no_payload`` for signed data without an embedded frame, otherwise the error of
    decoding ``data`` as it is (its ``path`` and ``detail``), noting that no header or
    prefix was found.
    """
    data = bytes(data)
    if is_exact_frame(data):
        return Unwrapped(data, "none", 0)
    refused: list[_Refused] = []  # 1609.2 headers we recognised but cannot open
    for offset in range(min(MAX_PREFIX, len(data) - 1) + 1):
        try:
            inner = _ieee1609dot2(data, offset)
        except V2xDecodeError as err:
            refused.append(_Refused(err, offset))
            inner = None
        if inner is not None:
            layer = inner.layer if offset == 0 else f"prefix+{inner.layer}"
            return Unwrapped(inner.payload, layer, inner.offset)
        if offset and is_exact_frame(data[offset:]):
            layer = "prefix+length-prefix" if _length_before(data, offset) else "prefix"
            return Unwrapped(data[offset:], layer, offset)
    if refused and refused[0].offset == 0:  # the data starts with a 1609.2 header
        raise refused[0].error
    try:
        decode_frame(data)
    except V2xDecodeError as err:
        if refused:
            raise refused[0].error from err
        raise V2xDecodeError(
            f"{err} (no IEEE 1609.2 header or transport prefix found within "
            f"{MAX_PREFIX} bytes either)",
            reason=err.reason,
            path=err.path,
            detail=err.detail,
        ) from err
    # It decodes, though not exactly (trailing bytes, or a later edition's extensions).
    return Unwrapped(data, "none", 0)


def _length_before(data: bytes, offset: int) -> bool:
    remaining = len(data) - offset
    candidates = {data[offset - 1]}
    if offset >= 2:
        candidates |= {
            int.from_bytes(data[offset - 2 : offset], "big"),
            int.from_bytes(data[offset - 2 : offset], "little"),
        }
    return remaining in candidates


def _coer_length(data: bytes, at: int) -> tuple[int, int] | None:
    """(length, index of the first content byte) of a COER length determinant at ``at``."""
    if at >= len(data):
        return None
    first = data[at]
    if first < 0x80:
        return first, at + 1
    size = first & 0x7F
    if not 1 <= size <= 4 or at + 1 + size > len(data):
        return None
    return int.from_bytes(data[at + 1 : at + 1 + size], "big"), at + 1 + size


def _frames_after_lengths(data: bytes, start: int, stop: int) -> Iterator[tuple[int, int]]:
    """(offset, length) of frames whose COER length precedes them, scanning ``start..stop``."""
    for at in range(start, min(stop, len(data))):
        found = _coer_length(data, at)
        if found is None:
            continue
        length, content = found
        frame = data[content : content + length]
        if length and len(frame) == length and is_exact_frame(frame):
            yield content, length


def _ieee1609dot2(data: bytes, at: int) -> Unwrapped | None:
    """The frame in a 1609.2 ``Ieee1609Dot2Data`` starting at ``at``, or None if there is no
    such header there. Raises ``V2xDecodeError`` for encrypted or frameless signed data."""
    if len(data) < at + 3 or data[at] != IEEE1609DOT2_VERSION:
        return None
    tag = data[at + 1]
    if tag == UNSECURED:
        found = _coer_length(data, at + 2)
        if found is None:
            return None
        length, content = found
        if content + length <= len(data) and is_exact_frame(data[content : content + length]):
            return Unwrapped(data[content : content + length], "unsecured", content)
        return None
    if tag == ENCRYPTED:
        raise V2xDecodeError(
            f"an IEEE 1609.2 encryptedData at byte {at}: cannot be read without keys",
            path="Ieee1609Dot2Data.content.encryptedData",
            detail="encrypted",
        )
    if tag == SIGNED:
        for content, length in _frames_after_lengths(data, at + 2, at + MAX_SIGNED_SCAN):
            return Unwrapped(data[content : content + length], "secured", content)
        raise V2xDecodeError(
            f"an IEEE 1609.2 signedData at byte {at} without an embedded MessageFrame "
            "(an external payload hash, or not 1609.2 after all)",
            path="Ieee1609Dot2Data.content.signedData",
            detail="no_payload",
        )
    return None
