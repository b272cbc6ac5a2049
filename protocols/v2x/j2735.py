"""SAE J2735 (2016, 2020) ``MessageFrame``s in UPER, through the user's own ASN.1 modules.

SAE does not allow the modules to be shipped: the user points us at a directory holding their
licensed copy (every ``*.asn``/``*.asn1`` file in it, any case). asn1tools compiles them as it
compiles T/CSAE 53's; the errors are the same ``V2xDecodeError`` (``path``, ``detail``).

J2735's frame is ``SEQUENCE {messageId MESSAGE-ID-AND-TYPE.&id({MessageTypes}), value
MESSAGE-ID-AND-TYPE.&Type({MessageTypes}{@.messageId}), ...}``. asn1tools compiles ``value``
as an open type and decodes it to its raw bytes (its JER codec cannot compile it at all), and
its parser keeps no members of the ``MessageTypes`` object set. So the table is read from the
set's own text in the user's files (``{ BasicSafetyMessage IDENTIFIED BY basicSafetyMessage }``
through the class's ``WITH SYNTAX``, value names resolved from the modules), and ``value`` is
decoded here with the type its ``messageId`` names. Without such a set, the documented J2735
2016 ``DSRCmsgID`` values are used (``DOCUMENTED_2016``).

Other open types (``RegionalExtension``'s ``regExtValue``) stay raw bytes: hex in JSON.
Values stay in J2735's units and names; nothing is converted to ours.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asn1tools

from protocols.errors import J2735DefinitionError, V2xDecodeError, V2xError
from protocols.v2x.frame_json import _left_out

FRAME = "MessageFrame"
SUFFIXES = (".asn", ".asn1")
DOCUMENTED_2016 = {
    18: "MapData",
    19: "SPAT",
    20: "BasicSafetyMessage",
    21: "CommonSafetyRequest",
    22: "EmergencyVehicleAlert",
    23: "IntersectionCollision",
    24: "NMEAcorrections",
    25: "ProbeDataManagement",
    26: "ProbeVehicleData",
    27: "RoadSideAlert",
    28: "RTCMcorrections",
    29: "SignalRequestMessage",
    30: "SignalStatusMessage",
    31: "TravelerInformation",
    32: "PersonalSafetyMessage",
    **{240 + n: f"TestMessage{n:02d}" for n in range(16)},
}
"""J2735-2016 ``DSRCmsgID`` values -> message types, used when the modules have no set."""
DOCUMENTED = "the documented J2735-2016 DSRCmsgID values"
_ERRORS = (
    asn1tools.Error,
    ValueError,
    IndexError,
    KeyError,
    TypeError,
    AttributeError,
    NotImplementedError,
    RecursionError,
)


@dataclass(frozen=True)
class J2735Frame:
    """One decoded frame: its ``messageId``, the type that id names, and the message as
    asn1tools gives it (J2735's names and units)."""

    message_id: int
    type_name: str
    value: Any


class J2735Codec:
    """UPER ``MessageFrame``s of the modules compiled by ``load_j2735``."""

    def __init__(
        self, *, uper: Any, jer: Any, message_types: Mapping[int, str], table: str
    ) -> None:
        self._uper = uper
        self._jer = jer
        self.message_types = dict(message_types)
        """``messageId`` -> message type name."""
        self.table = table
        """Where ``message_types`` came from (the set's name and file, or the 2016 ids)."""

    def decode(self, data: bytes) -> J2735Frame:
        """The frame in ``data``. Raises ``V2xDecodeError`` whose ``path`` names where
        decoding stopped (``MessageFrame.value.BasicSafetyMessage.coreData.speed``) and whose
        ``detail`` says why (``truncated``, ``out_of_range``, ``unknown_message_id``...)."""
        if not data:
            raise V2xDecodeError("empty datagram", reason="empty", detail="empty")
        frame = self._decode(FRAME, bytes(data), "")
        message_id = frame["messageId"]
        type_name = self.message_types.get(message_id)
        if type_name is None:
            raise V2xDecodeError(
                f"{FRAME}.messageId {message_id} is not in the message table ({self.table})",
                path=f"{FRAME}.messageId",
                detail="unknown_message_id",
            )
        return J2735Frame(message_id, type_name, self._decode(type_name, frame["value"], "value."))

    def _decode(self, type_name: str, data: bytes, under: str) -> Any:
        try:
            return self._uper.decode(type_name, data, check_constraints=True)
        except _ERRORS as err:
            path = f"{FRAME}.{under}{getattr(err, 'location_str', '') or type_name}"
            if not under:
                path = str(getattr(err, "location_str", "") or FRAME)
            raise V2xDecodeError(
                f"not a J2735 MessageFrame at {path}: {getattr(err, 'message', err)}",
                path=path,
                detail=_detail(err),
            ) from err

    def encode(self, message_id: int, value: Any) -> bytes:
        """The UPER ``MessageFrame`` of a message (asn1tools value of the type ``message_id``
        names). Raises ``V2xError`` (``unencodable``) for an unknown id or a value outside
        the modules' constraints."""
        type_name = self.message_types.get(message_id)
        if type_name is None:
            raise V2xError(
                f"messageId {message_id} is not in the message table ({self.table})",
                reason="unencodable",
            )
        try:
            inner = self._uper.encode(type_name, value, check_constraints=True)
            frame = {"messageId": message_id, "value": bytes(inner)}
            return bytes(self._uper.encode(FRAME, frame, check_constraints=True))
        except _ERRORS as err:
            raise V2xError(f"cannot encode {type_name}: {err}", reason="unencodable") from err

    def to_json(self, frame: J2735Frame) -> dict[str, Any]:
        """``{"messageId": id, "value": ...}``, ``value`` the message's JER form (X.697: an
        open type is its contained type's encoding, no wrapper). Raises ``V2xError``
        (``unconvertible``) for a value JER cannot hold."""
        try:
            value = json.loads(self._jer.encode(frame.type_name, frame.value))
        except _ERRORS as err:
            raise V2xError(f"{frame.type_name}: {err}", reason="unconvertible") from err
        return {"messageId": frame.message_id, "value": value}

    def from_json(self, value: object) -> J2735Frame:
        """The frame of a ``to_json`` value. Raises ``V2xError`` (``bad_json``) for anything
        else: an unknown ``messageId``, member or enumeration name, or wrong JSON types."""
        if not isinstance(value, dict) or set(value) != {"messageId", "value"}:
            raise V2xError(
                'a J2735 frame is a JSON object {"messageId": id, "value": message}',
                reason="bad_json",
            )
        message_id = value["messageId"]
        type_name = self.message_types.get(message_id) if type(message_id) is int else None
        if type_name is None:
            raise V2xError(f"unknown messageId {message_id!r}", reason="bad_json")
        try:
            message = self._jer.decode(type_name, json.dumps(value["value"]).encode())
            # asn1tools' JER reader drops unknown members: reading it back tells.
            back = json.loads(self._jer.encode(type_name, message))
        except _ERRORS as err:  # asn1tools' messages start with the path when they have one
            where = "" if getattr(err, "location_str", "") else f"{type_name}: "
            raise V2xError(f"{where}{err}", reason="bad_json") from err
        left_out = _left_out(value["value"], back, "")
        if left_out:
            raise V2xError(f"{type_name}: unknown member {left_out}", reason="bad_json")
        return J2735Frame(message_id, type_name, message)

    def decode_json(self, data: bytes) -> tuple[str, dict[str, Any]]:
        """(message type name, ``to_json`` value) of a UPER frame; errors as ``decode``."""
        frame = self.decode(data)
        return frame.type_name, self.to_json(frame)

    def encode_json(self, value: object) -> bytes:
        """The UPER frame of a ``to_json`` value; errors as ``from_json`` and ``encode``."""
        frame = self.from_json(value)
        return self.encode(frame.message_id, frame.value)


def _detail(err: Exception) -> str:
    if isinstance(err, asn1tools.codecs.OutOfDataError | IndexError):
        return "truncated"
    if isinstance(err, asn1tools.ConstraintsError):
        return "out_of_range"
    return "bad_index" if "index" in str(getattr(err, "message", err)) else "invalid"


def load_j2735(directory: Path) -> J2735Codec:
    """Compile every ``*.asn``/``*.asn1`` file of ``directory``. Raises
    ``J2735DefinitionError`` naming the file when one cannot be read, parsed or compiled, or
    when no module defines a J2735 ``MessageFrame``."""
    files = _module_files(directory)
    parsed: dict[str, Any] = {}
    texts: dict[str, str] = {}  # module -> its file's text, comments blanked
    where: dict[str, Path] = {}  # module -> file
    for path in files:
        text = _read(path)
        try:
            modules = asn1tools.parse_string(text)
        except _ERRORS as err:
            raise J2735DefinitionError(f"{path}: not ASN.1 asn1tools can parse: {err}") from err
        for name, module in modules.items():
            if name in parsed:
                raise J2735DefinitionError(f"{path}: module {name} is also in {where[name]}")
            parsed[name], texts[name], where[name] = module, _uncommented(text), path
    frame_module, set_name, class_name = _frame(parsed, directory)
    uper = _compile(parsed, "uper", where)
    jer_modules = copy.deepcopy(parsed)
    for module in jer_modules.values():  # asn1tools' JER has no open type: bytes (hex)
        module["types"].setdefault("OpenType", {"type": "OCTET STRING"})
    jer = _compile(jer_modules, "jer", where)
    found = _message_table(parsed, texts, frame_module, set_name, class_name, where)
    if found is None:
        table, source = dict(DOCUMENTED_2016), DOCUMENTED
    else:
        table, path = found
        source = f"{set_name} in {path.name}"
    known = {i: name for i, name in table.items() if name in uper.types}
    missing = sorted(set(table.values()) - set(known.values()))
    if missing and found is not None:
        raise J2735DefinitionError(f"{path}: {set_name} names types no module defines: {missing}")
    return J2735Codec(uper=uper, jer=jer, message_types=known, table=source)


def _module_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise J2735DefinitionError(f"{directory}: not a directory of J2735 ASN.1 modules")
    files = sorted(p for p in directory.iterdir() if p.suffix.lower() in SUFFIXES)
    if not files:
        raise J2735DefinitionError(f"{directory}: no *.asn or *.asn1 files in it")
    return files


def _read(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise J2735DefinitionError(f"{path}: cannot read: {err}") from err
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:  # some published modules carry Latin-1 quotes in comments
        return data.decode("latin-1")


def _compile(modules: dict[str, Any], codec: str, where: Mapping[str, Path]) -> Any:
    try:
        return asn1tools.compile_dict(copy.deepcopy(modules), codec)
    except _ERRORS as err:
        found = re.search(r"module '([^']+)'", str(err))
        name = where[found.group(1)] if found and found.group(1) in where else "the modules"
        raise J2735DefinitionError(f"{name}: asn1tools cannot compile it: {err}") from err


def _frame(parsed: Mapping[str, Any], directory: Path) -> tuple[str, str, str]:
    """(module, object set, class) of the J2735 ``MessageFrame``."""
    for module_name, module in parsed.items():
        frame = module.get("types", {}).get(FRAME)
        if not frame or frame.get("type") != "SEQUENCE":
            continue
        members = {m["name"]: m for m in frame.get("members", []) if m}
        value = members.get("value", {})
        if "messageId" in members and str(value.get("type", "")).endswith(".&Type"):
            table = value.get("table")
            set_name = table[0] if isinstance(table, list) and table else ""
            return module_name, set_name, value["type"].split(".&")[0]
    raise J2735DefinitionError(
        f"{directory}: no module defines a J2735 MessageFrame "
        "(SEQUENCE {messageId ..., value CLASS.&Type(...)})"
    )


def _uncommented(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"--.*?(?:--|$)", " ", text, flags=re.M)


def _braced(text: str, start: int) -> str:
    """The text inside the braces opening at ``text[start]``."""
    depth = 0
    for at in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[at], 0)
        if depth == 0:
            return text[start + 1 : at]
    return text[start + 1 :]


def _search(texts: Mapping[str, str], first: str, pattern: str) -> re.Match[str] | None:
    """``pattern`` in module ``first``'s text, else in the first other module's that has it
    (the match's ``string`` is that text)."""
    for module in (first, *texts):
        found = re.search(pattern, texts[module])
        if found is not None:
            return found
    return None


def _message_table(
    parsed: Mapping[str, Any],
    texts: Mapping[str, str],
    module: str,
    set_name: str,
    class_name: str,
    where: Mapping[str, Path],
) -> tuple[dict[int, str], Path] | None:
    """(``messageId`` -> type of the set's objects, the set's file), read from the set's text
    (in the frame's module or another); None when the modules have no such set."""
    head = rf"(?<![\w-]){re.escape(set_name)}\s+{re.escape(class_name)}\s*::=\s*{{"
    found = _search(texts, module, head)
    if found is None or not set_name:
        return None
    module = next(name for name, text in texts.items() if text is found.string)
    syntax = ["&id", "&Type"]  # the default: "{&id value, &Type Type}" names its fields
    named = True
    klass = _search(texts, module, rf"(?<![\w-]){re.escape(class_name)}\s*::=\s*CLASS\s*{{")
    if klass is not None:
        text = klass.string
        after = text[klass.end() - 1 :]
        rest = after[len(_braced(after, 0)) + 2 :]
        with_syntax = re.match(r"\s*WITH\s+SYNTAX\s*{", rest)
        if with_syntax:
            syntax, named = _tokens(_braced(rest, with_syntax.end() - 1)), False
    values = {
        name: value.get("value")
        for parsed_module in parsed.values()
        for name, value in parsed_module.get("values", {}).items()
    }
    table: dict[int, str] = {}
    body = found.string[found.end() - 1 :]
    for item in re.finditer(r"{([^{}]*)}", _braced(body, 0)):
        tokens = _tokens(item.group(1))
        fields = dict(zip(tokens[::2], tokens[1::2], strict=False)) if named else {}
        if not named and len(tokens) == len(syntax):
            fields = {s: t for s, t in zip(syntax, tokens, strict=True) if s.startswith("&")}
        ident, type_name = fields.get("&id", ""), fields.get("&Type", "")
        number = int(ident) if ident.isdigit() else values.get(ident)
        if not isinstance(number, int) or not type_name:
            raise J2735DefinitionError(
                f"{where[module]}: cannot read {{{item.group(1).strip()}}} of {set_name}"
            )
        table[number] = type_name
    return table, where[module]


def _tokens(text: str) -> list[str]:
    return re.findall(r"&?[A-Za-z][\w-]*|\d+", text)
