"""Argument types shared by the subcommands."""

from __future__ import annotations

import argparse
import math


def positive_int(text: str) -> int:
    """An integer of at least 1; raises ``argparse.ArgumentTypeError`` otherwise."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def duration(text: str) -> float:
    """A ``--duration``: finite seconds, 0 for "until stopped" (nan would never end)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be finite seconds >= 0, got {text!r}")
    return value


def host_port(text: str, default_host: str) -> tuple[str, int]:
    """``[HOST:]PORT`` as (host, port), ``default_host`` when none is given; an IPv6 host may
    be in brackets. Raises ``argparse.ArgumentTypeError`` for a missing or out-of-range port."""
    host, _, port_text = text.rpartition(":")
    try:
        port = int(port_text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"no UDP port number in {text!r}") from None
    if not 0 < port <= 65535:
        raise argparse.ArgumentTypeError(f"UDP port must be 1-65535, got {port}")
    return host.strip("[]") or default_host, port
