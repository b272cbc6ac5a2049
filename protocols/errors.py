"""The error tree of ``protocols``.

::

    ProtocolError            anything that could not be decoded, encoded or loaded
    +-- DecodeError          bytes from outside are not a valid message
    |   +-- SchemaVersionError   an Envelope of a schema version we do not speak
    |   +-- NmeaError        an NMEA 0183 sentence we cannot use (``reason`` says why)
    |   +-- TscbmError       a signal controller's SPaT broadcast we cannot use (``reason``)
    |   +-- candump._RejectedLineError   a candump line that is not a frame (counted by
    |                        ``parse_candump``, never raised out of it)
    +-- V2xError             a T/CSAE 53 MessageFrame we cannot decode or encode (``reason``)
    |   +-- V2xDecodeError   bytes that are not a MessageFrame: ``path`` names where, ``detail``
    |                        why (``truncated``, ``out_of_range``, ``unknown_alternative``...)
    +-- TopicError           an MQTT topic that is not ``rg/v1/{region}/{device_id}/{stream}``
    +-- DefinitionError      a file describing a protocol cannot be used (names the file, the
    |   |                    key or line, the value and what would be valid)
    |   +-- DbcLoadError     a DBC file cantools cannot load
    |   +-- radar.RadarDefinitionError   a radar definition (``protocols/radar/*.toml``)
    |   +-- vss.VssMappingError          a VSS mapping, overlay or catalogue
    |   +-- IntersectionFileError        an intersection description (lanes, signs)
    |   +-- J2735DefinitionError         a directory of the user's SAE J2735 ASN.1 modules
    +-- CodegenError         ``schema.codegen`` cannot generate the schema's code (a dev tool)

Each carries a short machine-readable ``reason`` (used as a counter label and a dead-letter
reason) besides its human-readable message. Bad arguments from our own code (a phase number
out of 1-16, a message name the DBC does not have) are ``ValueError`` or ``TypeError``, as
the project's style says.
"""

from __future__ import annotations


class ProtocolError(Exception):
    """Base of every error raised by ``protocols``."""

    reason: str = "protocol_error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class DecodeError(ProtocolError):
    """Bytes from outside are not a valid message."""

    reason = "malformed"


class SchemaVersionError(DecodeError):
    """An Envelope whose ``schema_version`` this code does not speak."""

    reason = "unknown_schema_version"


class NmeaError(DecodeError):
    """An NMEA 0183 sentence that is not usable.

    ``reason`` is one of ``not_ascii``, ``malformed``, ``no_checksum``, ``checksum``,
    ``unsupported`` (a sentence type or talker we do not decode) or ``no_time``.
    """


class TscbmError(DecodeError):
    """A datagram that is not a usable NTCIP 1202 SPaT broadcast (TSCBM).

    ``reason`` is one of ``bad_length``, ``bad_header``, ``bad_phase_count``,
    ``bad_phase_number`` or ``duplicate_phase``.
    """


class V2xError(ProtocolError):
    """A UPER-encoded T/CSAE 53-2017 ``MessageFrame`` that could not be decoded or encoded.

    ``reason`` is ``empty`` or ``malformed`` (bytes that are not a valid ``MessageFrame``,
    values out of their ranges included) when decoding, ``unencodable`` when a message does
    not fit the standard (e.g. a SPaT without phases, or with more than 16), ``bad_json`` for
    JSON that is not a ``MessageFrame`` in the ASN.1 JSON form (an unknown member or
    enumeration name included) and ``unconvertible`` for a decoded value JSON cannot hold.
    """

    reason = "malformed"


class V2xDecodeError(V2xError):
    """Bytes that do not decode as a T/CSAE 53-2017 ``MessageFrame``.

    ``reason`` stays ``malformed`` (or ``empty``), the counter label; ``path`` is where the
    decoder stopped (``MessageFrame.bsmFrame.pos.long``, empty when unknown) and ``detail``
    a machine-readable cause: ``empty``, ``truncated``, ``out_of_range``, ``bad_index`` (a
    choice or enumeration index the 2017 modules do not have), ``unknown_alternative`` (a
    ``MessageFrame`` extension alternative: likely a later edition such as 2020),
    ``wrong_kind`` (a valid frame of another message than asked for) or ``invalid``; and
    for the user's SAE J2735 modules (``protocols.v2x.j2735``), ``unknown_message_id`` (a
    ``messageId`` their message table does not name).
    """

    reason = "malformed"

    def __init__(
        self, message: str, *, reason: str | None = None, path: str = "", detail: str = "invalid"
    ) -> None:
        super().__init__(message, reason=reason)
        self.path = path
        self.detail = detail


class TopicError(ProtocolError):
    """A topic that does not follow ``rg/v1/{region}/{device_id}/{stream}``."""

    reason = "bad_topic"


class DefinitionError(ProtocolError):
    """A file describing a protocol (a DBC, a radar definition, a VSS mapping) that cannot be
    used; the message names the file and what is wrong with it."""

    reason = "definition"


class DbcLoadError(DefinitionError):
    """A DBC file that cantools cannot load, even in relaxed mode."""

    reason = "dbc_load"


class IntersectionFileError(DefinitionError):
    """An intersection description file (``protocols.v2x.intersection_file``) that cannot be
    used: names the file, the table and key, the value and what would be valid."""

    reason = "intersection_file"


class J2735DefinitionError(DefinitionError):
    """A directory of SAE J2735 ASN.1 modules (``protocols.v2x.j2735``) that cannot be used:
    missing, without ``*.asn``/``*.asn1`` files, a file asn1tools cannot parse or compile, or
    no J2735 ``MessageFrame`` (``SEQUENCE {messageId, value}``); names the file."""

    reason = "j2735_definition"


class CodegenError(ProtocolError):
    """The schema's code cannot be generated: ``reason`` is ``missing_tool`` (the ``dev``
    extra is not installed) or ``protoc_failed``."""

    reason = "codegen"
