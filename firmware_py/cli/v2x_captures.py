"""The captures ``roadgate v2x decode`` reads, as a sequence of frames' bytes.

* hex lines (``--hex``): one frame per line, spaces and colons between bytes allowed; blank
  lines and lines starting with ``#`` are skipped;
* a pcap or pcapng file (told by its magic number, read with dpkt) of the radio's UDP host
  interface: each UDP payload is one frame, other packets are skipped and counted;
* anything else: the whole file is one binary frame.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from firmware_py.cli.text_input import line_batches
from firmware_py.errors import FirmwareError

PCAP_MAGICS = (
    b"\xa1\xb2\xc3\xd4",  # pcap, microseconds, big-endian
    b"\xd4\xc3\xb2\xa1",  # little-endian
    b"\xa1\xb2\x3c\x4d",  # nanoseconds, big-endian
    b"\x4d\x3c\xb2\xa1",  # little-endian
    b"\x0a\x0d\x0d\x0a",  # pcapng section header block
)
MAX_BINARY = 64 << 20
"""A binary capture or pcap larger than this is refused rather than read into memory."""


@dataclass(frozen=True)
class CaptureFrame:
    """One frame's bytes (``None`` when its line was not hex) and where it was found."""

    data: bytes | None
    where: str  # "line 3", "packet 5", "file"
    reject: str | None = None  # why ``data`` is None


@dataclass
class Skipped:
    """Packets of a pcap that are not frames (not UDP, another port), by reason."""

    counts: Counter[str] = field(default_factory=Counter)


def hex_frames(stream: BinaryIO) -> Iterator[CaptureFrame]:
    """One frame per hex line of ``stream``; a line that is not hex is a rejected frame."""
    number = 0
    for batch in line_batches(stream):
        for raw in batch:
            number += 1
            text = raw.decode("utf-8", "replace").strip()
            if not text or text.startswith("#"):
                continue
            try:
                data = bytes.fromhex(text.replace(":", " "))
            except ValueError:
                yield CaptureFrame(None, f"line {number}", reject="bad_hex")
                continue
            yield CaptureFrame(data, f"line {number}")


def binary_frames(
    stream: BinaryIO, skipped: Skipped, udp_port: int | None = None
) -> Iterator[CaptureFrame]:
    """The frames of a binary capture: a pcap's UDP payloads, else the whole input."""
    content = stream.read(MAX_BINARY + 1)
    if len(content) > MAX_BINARY:
        raise FirmwareError(f"the capture is over {MAX_BINARY >> 20} MiB: split it first")
    if content[:4] in PCAP_MAGICS:
        yield from pcap_frames(content, skipped, udp_port)
    else:
        yield CaptureFrame(content, "file")


def pcap_frames(content: bytes, skipped: Skipped, udp_port: int | None) -> Iterator[CaptureFrame]:
    """The UDP payloads of a pcap or pcapng capture (``udp_port``: only to or from it).

    Raises ``FirmwareError`` when dpkt is missing or the file is not a readable capture.
    """
    import io

    dpkt = _dpkt()
    try:
        reader = dpkt.pcap.UniversalReader(io.BytesIO(content))
        packets = list(reader)
        link = reader.datalink()
    except (dpkt.dpkt.Error, ValueError, EOFError) as err:
        raise FirmwareError(f"not a readable pcap or pcapng capture: {err}") from err
    for number, (_, packet) in enumerate(packets, start=1):
        datagram = _udp(dpkt, link, packet)
        if datagram is None:
            skipped.counts["not_udp"] += 1
        elif udp_port is not None and udp_port not in (datagram.sport, datagram.dport):
            skipped.counts["other_port"] += 1
        else:
            yield CaptureFrame(bytes(datagram.data), f"packet {number}")


def _dpkt() -> Any:
    try:
        import dpkt
    except ModuleNotFoundError as err:
        raise FirmwareError(
            "reading pcap captures needs dpkt: pip install dpkt (or .venv/bin/pip install dpkt)"
        ) from err
    return dpkt


def _udp(dpkt: Any, link: int, packet: bytes) -> Any:
    """The UDP datagram of one captured packet, or None (another protocol, a fragment, a
    truncated packet or a link type we do not read)."""
    try:
        if link == dpkt.pcap.DLT_EN10MB:
            ip = dpkt.ethernet.Ethernet(packet).data
        elif link == dpkt.pcap.DLT_LINUX_SLL:
            ip = dpkt.sll.SLL(packet).data
        elif link == dpkt.pcap.DLT_LINUX_SLL2:
            ip = dpkt.sll2.SLL2(packet).data
        elif link in (dpkt.pcap.DLT_RAW, dpkt.pcap.DLT_IPV4, dpkt.pcap.DLT_IPV6, 12, 14):
            # DLT_RAW is 12 or 14 on some BSDs; the first nibble tells IPv4 from IPv6.
            ip = dpkt.ip6.IP6(packet) if packet[:1] and packet[0] >> 4 == 6 else dpkt.ip.IP(packet)
        elif link in (dpkt.pcap.DLT_NULL, dpkt.pcap.DLT_LOOP):
            ip = dpkt.loopback.Loopback(packet).data
        else:
            return None
    except (dpkt.dpkt.Error, ValueError, IndexError):
        return None
    if not isinstance(ip, dpkt.ip.IP | dpkt.ip6.IP6):
        return None
    udp = ip.data
    return udp if isinstance(udp, dpkt.udp.UDP) else None
