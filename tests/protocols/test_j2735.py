"""SAE J2735 frames through the user's own modules (``protocols.v2x.j2735``), shown on modules
of J2735's shape written here (tests/data/v2x/j2735_shaped, not SAE text): the message table
read from their object set, the open type decoded with the type its id names, round trips,
typed errors naming the path, and unusable module directories naming the file."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import asn1tools
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.errors import DefinitionError, J2735DefinitionError, V2xDecodeError, V2xError
from protocols.v2x.csae53 import ASN_DIR
from protocols.v2x.j2735 import J2735Codec, load_j2735

SHAPED = Path(__file__).resolve().parents[1] / "data" / "v2x" / "j2735_shaped"
CODEC = load_j2735(SHAPED)
REPORT = {
    "msgCnt": 7,
    "id": b"\x01\x02\x03\x04",
    "lat": 342237000,
    "speed": 665,
    "gear": "forward",
}
SIGNALS = {
    "intersection": 12,
    "groups": [{"group": 1, "light": "green", "likelyEnd": 123}, {"group": 2, "light": "red"}],
}

reports = st.fixed_dictionaries(
    {
        "msgCnt": st.integers(0, 127),
        "id": st.binary(min_size=4, max_size=4),
        "lat": st.integers(-900000000, 900000001),
        "speed": st.integers(0, 8191),
        "gear": st.sampled_from(["neutral", "park", "forward", "reverse"]),
    },
    optional={
        "regional": st.lists(
            st.fixed_dictionaries(
                {"regionId": st.integers(0, 255), "regExtValue": st.binary(max_size=8)}
            ),
            min_size=1,
            max_size=4,
        )
    },
)
groups = st.fixed_dictionaries(
    {"group": st.integers(0, 255), "light": st.sampled_from(["dark", "red", "green", "yellow"])},
    optional={"likelyEnd": st.integers(0, 36001)},
)
signal_states = st.fixed_dictionaries(
    {"intersection": st.integers(0, 65535), "groups": st.lists(groups, min_size=1, max_size=16)}
)


def test_the_message_table_is_read_from_the_modules_object_set() -> None:
    assert CODEC.message_types == {19: "ShapedSignalState", 20: "ShapedVehicleReport"}
    assert CODEC.table == "MessageTypes in ShapedFrame.asn"


def test_value_is_an_open_type_holding_the_message_alone() -> None:
    """On the wire: extension bit and a 15-bit messageId, then the message's own UPER
    encoding behind a length, as J2735's MessageFrame puts it."""
    data = CODEC.encode(20, REPORT)
    assert data[:2] == b"\x00\x14"  # 0, then 20 in 15 bits
    inner = data[3:]
    assert data[2] == len(inner)
    other = load_j2735(SHAPED)  # the messages decode alone too, with the same modules
    frame = other.decode(data)
    assert (frame.message_id, frame.type_name, frame.value) == (20, "ShapedVehicleReport", REPORT)


@given(reports)
def test_vehicle_reports_round_trip(report: dict[str, Any]) -> None:
    data = CODEC.encode(20, report)
    assert CODEC.decode(data).value == report
    kind, value = CODEC.decode_json(data)
    assert kind == "ShapedVehicleReport"
    assert value["messageId"] == 20
    assert CODEC.encode_json(value) == data


@given(signal_states)
def test_signal_states_round_trip(state: dict[str, Any]) -> None:
    data = CODEC.encode(19, state)
    assert CODEC.decode(data).value == state
    assert CODEC.encode_json(CODEC.decode_json(data)[1]) == data


def test_json_form_is_the_messages_own_jer_without_a_wrapper() -> None:
    regional = {**REPORT, "regional": [{"regionId": 3, "regExtValue": b"\xab"}]}
    _, value = CODEC.decode_json(CODEC.encode(20, regional))
    assert value == {
        "messageId": 20,
        "value": {
            "msgCnt": 7,
            "id": "01020304",
            "lat": 342237000,
            "speed": 665,
            "gear": "forward",
            "regional": [{"regionId": 3, "regExtValue": "AB"}],  # nested open type: hex
        },
    }


@given(st.binary(max_size=40))
def test_arbitrary_bytes_raise_only_v2x_decode_errors(data: bytes) -> None:
    error = _decode_error(data)
    if error is not None:
        assert error.path.startswith("MessageFrame") or error.detail == "empty"


def _decode_error(data: bytes) -> V2xDecodeError | None:
    try:
        CODEC.decode(data)
    except V2xDecodeError as err:
        return err
    return None


def test_a_truncated_frame_names_where_it_stopped() -> None:
    data = CODEC.encode(20, REPORT)
    for cut in range(1, len(data)):
        with pytest.raises(V2xDecodeError) as caught:
            CODEC.decode(data[:cut])
        assert caught.value.detail == "truncated"
        assert caught.value.path in {"MessageFrame.messageId", "MessageFrame.value"}
    with pytest.raises(V2xDecodeError) as empty:
        CODEC.decode(b"")
    assert (empty.value.reason, empty.value.detail) == ("empty", "empty")


def test_a_message_cut_inside_its_open_type_names_the_member() -> None:
    """The frame's length is right, the message inside is short: the path goes on into it."""
    inner = CODEC.encode(20, REPORT)[3:]
    data = b"\x00\x14\x02" + inner[:2]
    with pytest.raises(V2xDecodeError) as caught:
        CODEC.decode(data)
    assert caught.value.path == "MessageFrame.value.ShapedVehicleReport.id"
    assert caught.value.detail == "truncated"
    assert caught.value.reason == "malformed"


def test_an_out_of_range_member_is_refused_both_ways() -> None:
    with pytest.raises(V2xError) as refused:
        CODEC.encode(19, {"intersection": 70000, "groups": [{"group": 1, "light": "red"}]})
    assert refused.value.reason == "unencodable"
    # lat's range needs 31 bits: a sender can put a value above it there.
    plain = asn1tools.compile_files([str(p) for p in sorted(SHAPED.glob("*.asn*"))], "uper")
    inner = plain.encode("ShapedVehicleReport", {**REPORT, "lat": 900000002})
    data = plain.encode("MessageFrame", {"messageId": 20, "value": inner})
    with pytest.raises(V2xDecodeError) as caught:
        CODEC.decode(data)
    assert caught.value.path == "MessageFrame.value.ShapedVehicleReport.lat"
    assert caught.value.detail == "out_of_range"


def test_an_unknown_message_id_is_a_typed_error() -> None:
    data = b"\x00\x15\x01\x00"  # messageId 21: not in the set
    with pytest.raises(V2xDecodeError) as caught:
        CODEC.decode(data)
    assert (caught.value.path, caught.value.detail) == (
        "MessageFrame.messageId",
        "unknown_message_id",
    )
    assert "MessageTypes in ShapedFrame.asn" in str(caught.value)
    with pytest.raises(V2xError) as refused:
        CODEC.encode(21, {})
    assert refused.value.reason == "unencodable"


@pytest.mark.parametrize(
    "value",
    [
        [],
        {"messageId": 20},
        {"messageId": 21, "value": {}},
        {"messageId": True, "value": {}},
        {"messageId": 20, "value": {**REPORT, "id": "01020304", "extra": 1}},
        {"messageId": 20, "value": {**REPORT, "id": "01020304", "gear": "sideways"}},
    ],
)
def test_json_that_is_not_a_frame_is_bad_json(value: object) -> None:
    with pytest.raises(V2xError) as refused:
        CODEC.encode_json(value)
    assert refused.value.reason == "bad_json"


def test_json_outside_the_constraints_is_unencodable() -> None:
    """As for T/CSAE 53 frames: a string for a number or an empty list passes JER's reader."""
    with pytest.raises(V2xError) as refused:
        CODEC.encode_json({"messageId": 19, "value": {"intersection": "twelve", "groups": []}})
    assert refused.value.reason == "unencodable"


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "modules"
    shutil.copytree(SHAPED, target)
    return target


def _refused(directory: Path) -> J2735DefinitionError:
    with pytest.raises(J2735DefinitionError) as caught:
        load_j2735(directory)
    assert isinstance(caught.value, DefinitionError)
    assert caught.value.reason == "j2735_definition"
    return caught.value


def test_a_missing_or_empty_directory_is_refused(tmp_path: Path) -> None:
    assert "not a directory" in str(_refused(tmp_path / "nowhere"))
    assert "no *.asn or *.asn1 files" in str(_refused(tmp_path))


def test_a_file_that_does_not_parse_is_named(tmp_path: Path) -> None:
    modules = _copy(tmp_path)
    broken = modules / "ShapedMessages.asn1"
    broken.write_text(broken.read_text().replace("ShapedGroup ::= SEQUENCE {", "ShapedGroup {"))
    error = _refused(modules)
    assert str(error).startswith(f"{broken}: not ASN.1 asn1tools can parse")


def test_a_file_that_does_not_compile_is_named(tmp_path: Path) -> None:
    modules = _copy(tmp_path)
    broken = modules / "ShapedMessages.asn1"
    broken.write_text(broken.read_text().replace("OF ShapedGroup", "OF ShapedMissing"))
    error = _refused(modules)
    assert str(error).startswith(f"{broken}: asn1tools cannot compile it")
    assert "ShapedMissing" in str(error)


def test_a_set_naming_an_undefined_type_is_refused(tmp_path: Path) -> None:
    modules = _copy(tmp_path)
    frame = modules / "ShapedFrame.asn"
    frame.write_text(
        frame.read_text().replace(
            "{ ShapedSignalState IDENTIFIED BY shapedSignalState } |",
            "{ ShapedSignalState IDENTIFIED BY shapedSignalState } |\n"
            "   { Nowhere IDENTIFIED BY 31 } |",
        )
    )
    assert "names types no module defines: ['Nowhere']" in str(_refused(modules))


def test_modules_without_a_j2735_frame_are_refused(tmp_path: Path) -> None:
    """T/CSAE 53's MessageFrame is a CHOICE: not J2735's."""
    assert "no module defines a J2735 MessageFrame" in str(_refused(ASN_DIR))
    modules = _copy(tmp_path)
    (modules / "ShapedFrame.asn").unlink()
    assert "no module defines a J2735 MessageFrame" in str(_refused(modules))


def test_a_module_in_two_files_is_refused(tmp_path: Path) -> None:
    modules = _copy(tmp_path)
    shutil.copy(modules / "ShapedFrame.asn", modules / "again.ASN")  # any case of suffix
    assert "module ShapedFrame is also in" in str(_refused(modules))


def test_without_an_object_set_the_documented_2016_ids_are_used(tmp_path: Path) -> None:
    (tmp_path / "frame.asn").write_text(
        "NoSet DEFINITIONS AUTOMATIC TAGS ::= BEGIN\n"
        "MessageFrame ::= SEQUENCE { messageId MESSAGE-ID-AND-TYPE.&id,\n"
        "  value MESSAGE-ID-AND-TYPE.&Type, ... }\n"
        "MESSAGE-ID-AND-TYPE ::= CLASS { &id DSRCmsgID UNIQUE, &Type }\n"
        "  WITH SYNTAX {&Type IDENTIFIED BY &id}\n"
        "DSRCmsgID ::= INTEGER (0..32767)\n"
        "BasicSafetyMessage ::= SEQUENCE { msgCnt INTEGER (0..127) }\n"
        "PersonalSafetyMessage ::= SEQUENCE { msgCnt INTEGER (0..127) }\n"
        "END\n"
    )
    codec = load_j2735(tmp_path)
    assert codec.message_types == {20: "BasicSafetyMessage", 32: "PersonalSafetyMessage"}
    assert codec.table == "the documented J2735-2016 DSRCmsgID values"
    frame = codec.decode(codec.encode(32, {"msgCnt": 3}))
    assert (frame.type_name, frame.value) == ("PersonalSafetyMessage", {"msgCnt": 3})


def test_a_set_in_the_default_syntax_with_literal_ids(tmp_path: Path) -> None:
    (tmp_path / "frame.asn1").write_text(
        "Plain DEFINITIONS AUTOMATIC TAGS ::= BEGIN\n"
        "MessageFrame ::= SEQUENCE { messageId FRAME-CLASS.&id({Known}),\n"
        "  value FRAME-CLASS.&Type({Known}{@.messageId}) }\n"
        "FRAME-CLASS ::= CLASS { &id INTEGER (0..255) UNIQUE, &Type }\n"
        "Known FRAME-CLASS ::= { { &id 7, &Type Ping } | { &Type Pong, &id 9 } }\n"
        "Ping ::= SEQUENCE { n INTEGER (0..7) }\n"
        "Pong ::= BOOLEAN\n"
        "END\n"
    )
    codec: J2735Codec = load_j2735(tmp_path)
    assert codec.message_types == {7: "Ping", 9: "Pong"}
    assert codec.decode(codec.encode(9, True)).value is True


def test_a_set_and_class_of_another_module_are_found(tmp_path: Path) -> None:
    """As in J2735 2020, which splits the standard into modules that import each other."""
    (tmp_path / "frame.asn").write_text(
        "Frame DEFINITIONS AUTOMATIC TAGS ::= BEGIN\n"
        "IMPORTS FRAME-CLASS, Known FROM Table;\n"
        "MessageFrame ::= SEQUENCE { messageId FRAME-CLASS.&id({Known}),\n"
        "  value FRAME-CLASS.&Type({Known}{@.messageId}), ... }\n"
        "END\n"
    )
    (tmp_path / "table.asn").write_text(
        "Table DEFINITIONS AUTOMATIC TAGS ::= BEGIN\n"
        "FRAME-CLASS ::= CLASS { &id INTEGER (0..255) UNIQUE, &Type }\n"
        "  WITH SYNTAX {&Type IDENTIFIED BY &id}\n"
        "Known FRAME-CLASS ::= { { Ping IDENTIFIED BY ping }, ... }\n"
        "ping INTEGER ::= 5\n"
        "Ping ::= SEQUENCE { n INTEGER (0..7) }\n"
        "END\n"
    )
    codec = load_j2735(tmp_path)
    assert (codec.message_types, codec.table) == ({5: "Ping"}, "Known in table.asn")
    assert codec.decode(codec.encode(5, {"n": 6})).value == {"n": 6}
