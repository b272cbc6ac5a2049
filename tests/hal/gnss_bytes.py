"""Byte streams a GNSS receiver really sends besides NMEA: u-blox UBX binary frames."""

from __future__ import annotations

import struct


def ubx_frame(msg_class: int, msg_id: int, payload: bytes) -> bytes:
    """A UBX frame: sync 0xB5 0x62, class, id, little-endian length, payload, Fletcher-8 sum."""
    body = struct.pack("<BBH", msg_class, msg_id, len(payload)) + payload
    ck_a = ck_b = 0
    for byte in body:
        ck_a = (ck_a + byte) & 0xFF
        ck_b = (ck_b + ck_a) & 0xFF
    return b"\xb5\x62" + body + bytes([ck_a, ck_b])


# UBX-NAV-PVT (0x01 0x07, 92 bytes) at 10:13:36 over Xi'an. Its hour, minute and second
# bytes are LF, CR and '$': a framer must not be fooled into emitting text from inside binary.
NAV_PVT = ubx_frame(
    0x01,
    0x07,
    struct.pack(
        "<IHBBBBBBIiBBBBiiii",
        273_600_000,  # iTOW, ms
        2026,
        11,
        28,
        10,  # hour: 0x0A, LF
        13,  # minute: 0x0D, CR
        36,  # second: 0x24, '$'
        0x37,  # valid flags: '7', printable
        25,  # tAcc, ns
        0,  # nano
        3,  # fixType: 3D
        0x01,
        0x00,
        17,  # numSV
        1_089_400_000,  # lon, 1e-7 deg
        343_400_000,  # lat, 1e-7 deg
        421_000,  # height, mm
        447_000,  # hMSL, mm
    ).ljust(92, b"\x00"),
)

# UBX-ACK-ACK (0x05 0x01) for a CFG-PRT (0x06 0x00).
ACK_ACK = ubx_frame(0x05, 0x01, b"\x06\x00")
