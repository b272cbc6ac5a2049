"""NMEA 0183 GNSS sentences in, merged fixes out; and the reverse for simulators."""

from protocols.nmea.assembler import NmeaFixAssembler
from protocols.nmea.epoch import DatedFix, epoch_unix_ns, epoch_unix_s
from protocols.nmea.fix import (
    AltitudeReference,
    ErrorEstimate,
    FaultDetection,
    FixMode,
    FixQuality,
    GnssFix,
)
from protocols.nmea.formatter import (
    format_gga,
    format_gst,
    format_hdt,
    format_rmc,
    format_vtg,
    format_zda,
)
from protocols.nmea.sentences import (
    GgaSentence,
    GnsSentence,
    RmcSentence,
    Sentence,
    parse_sentence,
)

__all__ = [
    "AltitudeReference",
    "DatedFix",
    "ErrorEstimate",
    "FaultDetection",
    "FixMode",
    "FixQuality",
    "GgaSentence",
    "GnsSentence",
    "GnssFix",
    "NmeaFixAssembler",
    "RmcSentence",
    "Sentence",
    "epoch_unix_ns",
    "epoch_unix_s",
    "format_gga",
    "format_gst",
    "format_hdt",
    "format_rmc",
    "format_vtg",
    "format_zda",
    "parse_sentence",
]
