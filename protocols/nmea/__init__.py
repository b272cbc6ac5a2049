"""NMEA 0183 GNSS sentences: GGA and RMC in, merged fixes out; and the reverse for simulators."""

from protocols.nmea.assembler import NmeaFixAssembler
from protocols.nmea.fix import AltitudeReference, FixQuality, GnssFix
from protocols.nmea.formatter import format_gga, format_rmc
from protocols.nmea.sentences import GgaSentence, RmcSentence, parse_sentence

__all__ = [
    "AltitudeReference",
    "FixQuality",
    "GgaSentence",
    "GnssFix",
    "NmeaFixAssembler",
    "RmcSentence",
    "format_gga",
    "format_rmc",
    "parse_sentence",
]
