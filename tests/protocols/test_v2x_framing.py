"""Framing detection: what equipment puts before a ``MessageFrame`` (an IEEE 1609.2 header,
a transport prefix) is found and reported with the frame's offset; encrypted or unknown
wrappers and garbage raise ``V2xDecodeError``, never anything else."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.errors import V2xDecodeError
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.v2x import (
    GeoPoint,
    decode_message_frame,
    encode_bsm,
    encode_rsm,
    station_id_bytes,
    unwrap,
)

T = 1_772_446_542.25
REFERENCE = GeoPoint(31.2, 121.5)


def bsm() -> bytes:
    state = pb.VehicleState(
        position=pb.Position(latitude_deg=31.2, longitude_deg=121.5), speed_mps=8.0
    )
    return encode_bsm(state, vehicle_id=station_id_bytes(7), msg_cnt=3, unix_s=T)


def long_rsm() -> bytes:
    """An RSM of 16 participants: over 127 bytes, so a COER length takes the long form."""
    objects = pb.ObjectList(sensor_id="fused", kind=pb.OBJECT_LIST_KIND_FUSED)
    objects.sensor_position.latitude_deg, objects.sensor_position.longitude_deg = 31.2, 121.5
    for i in range(16):
        objects.objects.add(object_id=i + 1, x_m=i * 2.0, y_m=-i * 1.5, speed_mps=4.0)
    frames = encode_rsm(objects, reference=REFERENCE, rsu_id=b"RSU00001", msg_cnt=0, unix_s=T)
    return frames.frames[0]


FRAMES = {"bsm": bsm(), "rsm": long_rsm()}


def coer_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    size = (length.bit_length() + 7) // 8
    return bytes([0x80 | size]) + length.to_bytes(size, "big")


def unsecured(frame: bytes) -> bytes:
    """An IEEE 1609.2 ``Ieee1609Dot2Data``: version 3, ``unsecuredData`` (tag 0x80)."""
    return b"\x03\x80" + coer_length(len(frame)) + frame


def signed(frame: bytes) -> bytes:
    """A 1609.2 ``signedData``: hashId sha256, a ``SignedDataPayload`` whose ``data`` is an
    unsecured ``Ieee1609Dot2Data``, then a header, a digest signer and a signature (their
    bytes are arbitrary here: nothing reads them)."""
    header_info = b"\x40\x01\x20" + bytes(8)  # psid 32 and a generation time
    signer = b"\x80" + bytes(range(8))  # a certificate digest
    signature = b"\x80\x80" + bytes(range(100, 164))  # ecdsaNistP256 (r, s)
    return b"\x03\x81\x00\x40" + unsecured(frame) + header_info + signer + signature


@pytest.mark.parametrize("kind", sorted(FRAMES))
def test_a_bare_frame_is_reported_as_none(kind: str) -> None:
    result = unwrap(FRAMES[kind])
    assert (result.payload, result.layer, result.offset) == (FRAMES[kind], "none", 0)


@pytest.mark.parametrize("kind", sorted(FRAMES))
def test_an_unsecured_1609dot2_wrapper_is_found_with_short_and_long_lengths(kind: str) -> None:
    frame = FRAMES[kind]
    result = unwrap(unsecured(frame))
    assert (result.payload, result.layer) == (frame, "unsecured")
    assert result.offset == len(unsecured(frame)) - len(frame)


@pytest.mark.parametrize("kind", sorted(FRAMES))
def test_signed_data_is_reported_secured_with_its_inner_frame(kind: str) -> None:
    frame = FRAMES[kind]
    data = signed(frame)
    result = unwrap(data)
    assert (result.payload, result.layer) == (frame, "secured")
    assert data[result.offset : result.offset + len(frame)] == frame
    assert decode_message_frame(result.payload)[0] == kind


def test_encrypted_data_is_a_typed_error_naming_the_layer() -> None:
    data = b"\x03\x82" + bytes(range(7, 247, 2))
    with pytest.raises(V2xDecodeError) as caught:
        unwrap(data)
    assert caught.value.detail == "encrypted"
    assert "encryptedData" in caught.value.path


def test_signed_data_without_a_frame_is_a_typed_error() -> None:
    # SignedDataPayload with extDataHash only (preamble 0x20): a hash, then the rest.
    data = b"\x03\x81\x00\x20\x80" + bytes(range(1, 33)) + bytes(range(200, 250))
    with pytest.raises(V2xDecodeError) as caught:
        unwrap(data)
    assert caught.value.detail == "no_payload"
    assert "signedData" in caught.value.path


def wsmp(frame: bytes) -> bytes:
    """A WSMP-like header (version 3, no options; TPID 0; PSID 0x20; length)."""
    return b"\x03\x00\x20" + coer_length(len(frame)) + frame


@pytest.mark.parametrize("kind", sorted(FRAMES))
@pytest.mark.parametrize(
    ("wrap", "offset", "layer"),
    [
        (wsmp, None, None),
        (lambda f: len(f).to_bytes(2, "big") + f, 2, "prefix+length-prefix"),
        (lambda f: len(f).to_bytes(2, "little") + f, 2, "prefix+length-prefix"),
        (lambda f: b"RGV2" + bytes(4) + f, 8, "prefix"),
        (lambda f: b"\xaa\x55" + unsecured(f), None, "prefix+unsecured"),
    ],
)
def test_a_transport_prefix_is_found_and_its_length_reported(
    kind: str, wrap: object, offset: int | None, layer: str | None
) -> None:
    frame = FRAMES[kind]
    data = wrap(frame)  # type: ignore[operator]
    result = unwrap(data)
    assert result.payload == frame
    assert result.offset == (len(data) - len(frame) if offset is None else offset)
    if layer is not None:
        assert result.layer == layer
    else:
        assert result.layer.startswith("prefix")


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.sampled_from(sorted(FRAMES)), st.binary(min_size=1, max_size=24))
def test_random_prefixes_are_skipped_to_the_frame(kind: str, prefix: bytes) -> None:
    frame = FRAMES[kind]
    result = unwrap(prefix + frame)
    # The frame at its true offset, or the prefix ends in bytes that make a longer frame
    # which holds ours at its end (the heuristic's ambiguity, stated in its docs).
    assert result.payload.endswith(frame)
    assert result.offset + len(result.payload) == len(prefix) + len(frame)


def test_a_frame_of_a_later_edition_names_the_likely_mismatch() -> None:
    with pytest.raises(V2xDecodeError) as caught:
        unwrap(bytes([0x85, 0x02, 0x00, 0x00]))
    assert caught.value.detail == "unknown_alternative"
    assert "2020" in str(caught.value)


def test_garbage_names_where_decoding_stopped() -> None:
    with pytest.raises(V2xDecodeError) as caught:
        unwrap(bytes([0x70]) + bytes(10))
    assert caught.value.path.startswith("MessageFrame")
    assert "no IEEE 1609.2 header or transport prefix" in str(caught.value)


def test_empty_input_is_a_typed_error() -> None:
    with pytest.raises(V2xDecodeError) as caught:
        unwrap(b"")
    assert caught.value.reason == "empty"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120))
def test_arbitrary_bytes_raise_only_the_decode_error(data: bytes) -> None:
    failure = None
    try:
        result = unwrap(data)
    except V2xDecodeError as err:  # nothing else may escape
        failure = err.detail
    else:
        assert data[result.offset : result.offset + len(result.payload)] == result.payload
    assert failure is None or failure


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(sorted(FRAMES)),
    st.sampled_from([unsecured, signed, wsmp]),
    st.integers(0, 10_000),
    st.none() | st.integers(0, 255),
)
def test_cut_or_mutated_wrappers_raise_only_the_decode_error(
    kind: str, wrap: Callable[[bytes], bytes], at: int, value: int | None
) -> None:
    data = bytearray(wrap(FRAMES[kind]))
    if value is None:
        del data[at % len(data) :]  # cut
    else:
        data[at % len(data)] = value
    failure = None
    try:
        unwrap(bytes(data))
    except V2xDecodeError as err:  # nothing else may escape
        failure = err.detail
    assert failure is None or failure
