"""``roadgate v2x``: decode a capture of T/CSAE 53 frames, or encode frames from JSON.

The work is in ``v2x_tool`` (and the capture readers in ``v2x_captures``), imported when the
command runs. Exit status: 0 when at least one frame was done and none failed, 1 otherwise,
2 for bad arguments or an unreadable input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from firmware_py.cli.arguments import positive_int
from firmware_py.cli.text_input import format_rejects, until_broken_pipe

if TYPE_CHECKING:
    from protocols.v2x.j2735 import J2735Codec


def register(commands: Any) -> None:
    """Add ``v2x`` (``decode``, ``encode``) to the top-level subparsers ``commands``."""
    v2x = commands.add_parser(
        "v2x",
        help="decode or encode T/CSAE 53 MessageFrames (UPER)",
        description="Check another vendor's RSU or OBU: decode the T/CSAE 53-2017 "
        "MessageFrames of a capture, or encode frames from JSON.",
    )
    tools = v2x.add_subparsers(required=True, metavar="TOOL")
    decode = tools.add_parser(
        "decode",
        help="print each MessageFrame of a capture",
        description="Print each UPER MessageFrame of a capture: a binary file (one frame), a "
        "pcap or pcapng of the radio's UDP host interface (each UDP payload one frame; told by "
        "its magic number; needs dpkt), or hex lines with --hex. One readable line per frame, "
        "or JSON lines with --json. Bad frames are reported on standard error and counted.",
    )
    decode.add_argument(
        "--hex",
        action="store_true",
        help="the input is hex, one frame per line (blank lines and # comments skipped)",
    )
    decode.add_argument(
        "--json",
        action="store_true",
        help='one JSON object per frame: {"index", "where", "kind", "edition", "layer", '
        '"offset", "frame"} (frame: the ASN.1 JER form)',
    )
    decode.add_argument(
        "--udp-port",
        type=positive_int,
        metavar="PORT",
        help="in a pcap, only UDP datagrams to or from this port",
    )
    _add_j2735(decode)
    _add_input(decode, "capture")
    decode.set_defaults(handler=_decode)
    encode = tools.add_parser(
        "encode",
        help="encode MessageFrames from JSON lines",
        description="Encode JSON lines (as decode --json writes them, or bare frame values) "
        "into UPER MessageFrames: raw bytes on standard output (one frame: binary frames have "
        "no delimiter), or one hex line per frame with --hex.",
    )
    encode.add_argument("--hex", action="store_true", help="write one hex line per frame")
    _add_j2735(encode)
    _add_input(encode, "JSON lines")
    encode.set_defaults(handler=_encode)


def _add_j2735(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--j2735",
        type=Path,
        metavar="DIR",
        help="use the SAE J2735 (2016/2020) ASN.1 modules in DIR (your licensed copy: every "
        "*.asn/*.asn1 file) instead of T/CSAE 53; frames are {messageId, value}",
    )


def _add_input(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "file",
        nargs="?",
        default="-",
        metavar="FILE",
        help=f"the {what}, or - for standard input (default)",
    )


def _decode(args: argparse.Namespace) -> int:
    from firmware_py.cli.v2x_tool import run_decode

    summary = until_broken_pipe(
        lambda: run_decode(
            args.file,
            sys.stdout,
            sys.stderr,
            hex_lines=args.hex,
            as_json=args.json,
            udp_port=args.udp_port,
            j2735=_j2735(args),
        )
    )
    if summary is None:
        return 0
    skipped = f"; skipped packets: {format_rejects(summary.skipped)}" if summary.skipped else ""
    print(
        f"roadgate v2x decode: {summary.frames} frames, {summary.done} decoded; "
        f"rejects: {format_rejects(summary.rejects)}{skipped}",
        file=sys.stderr,
    )
    return summary.status


def _j2735(args: argparse.Namespace) -> J2735Codec | None:
    """The codec of ``--j2735 DIR``; its ``J2735DefinitionError`` ends the run (status 2)."""
    if args.j2735 is None:
        return None
    from protocols.v2x.j2735 import load_j2735

    return load_j2735(args.j2735)


def _encode(args: argparse.Namespace) -> int:
    from firmware_py.cli.v2x_tool import run_encode

    summary = until_broken_pipe(
        lambda: run_encode(
            args.file, sys.stdout.buffer, sys.stderr, hex_lines=args.hex, j2735=_j2735(args)
        )
    )
    if summary is None:
        return 0
    print(
        f"roadgate v2x encode: {summary.frames} frames, {summary.done} encoded; "
        f"rejects: {format_rejects(summary.rejects)}",
        file=sys.stderr,
    )
    return summary.status
