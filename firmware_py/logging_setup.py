"""Where log records go and how they look: plain text, JSON lines, or lines for journald.

* ``text``: ``time level logger: message``, for a terminal.
* ``json``: one JSON object a line, with ``time`` (UTC, ISO 8601), ``level``, ``logger``,
  ``message`` and ``device`` (and ``exception``, the traceback, when there is one), for a log
  shipper.
* ``journald``: under systemd, journald already reads the unit's stdout and stderr and stamps
  each line itself; a line starting with a syslog priority such as ``<4>`` gets that priority
  (sd-daemon(3), ``SyslogLevelPrefix=`` in systemd.exec(5), on by default). So this format writes
  ``<N>logger: message`` without a timestamp, every line of a multi-line record prefixed, and
  needs no native journal client (python-systemd has no wheel on PyPI).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TextIO

LOG_FORMATS = ("text", "json", "journald")

SYSLOG_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}
"""syslog(3) priorities (LOG_CRIT ... LOG_DEBUG) of the logging levels."""


def syslog_priority(levelno: int) -> int:
    """The syslog priority of a logging level: that of the nearest standard level at or
    below it (a custom level between INFO and WARNING is notice-like: INFO's)."""
    for level in sorted(SYSLOG_PRIORITY, reverse=True):
        if levelno >= level:
            return SYSLOG_PRIORITY[level]
    return SYSLOG_PRIORITY[logging.DEBUG]


class JsonLineFormatter(logging.Formatter):
    """One JSON object per record; ``device`` is the box's id (a record's own ``device``
    attribute, given with ``extra=``, wins)."""

    def __init__(self, device: str = "") -> None:
        super().__init__()
        self._device = device

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "device": str(getattr(record, "device", self._device)),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        # ensure_ascii keeps each record on one line whatever bytes a message holds.
        return json.dumps(line, ensure_ascii=True)


class JournaldFormatter(logging.Formatter):
    """``<N>logger: message``, each line of the record (a traceback too) with the record's
    syslog priority ``N``; no timestamp: journald stamps lines as it reads them."""

    def format(self, record: logging.LogRecord) -> str:
        text = f"{record.name}: {record.getMessage()}"
        if record.exc_info:
            text = f"{text}\n{self.formatException(record.exc_info)}"
        prefix = f"<{syslog_priority(record.levelno)}>"
        return "\n".join(prefix + line for line in text.splitlines() or [""])


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def formatter(log_format: str, device: str = "") -> logging.Formatter:
    """The formatter of ``log_format`` (one of ``LOG_FORMATS``); ``ValueError`` for another."""
    if log_format == "text":
        return logging.Formatter(TEXT_FORMAT)
    if log_format == "json":
        return JsonLineFormatter(device)
    if log_format == "journald":
        return JournaldFormatter()
    raise ValueError(f"log format {log_format!r} is not one of {LOG_FORMATS}")


def configure_logging(
    log_format: str = "text",
    level: str | int = "info",
    *,
    device: str = "",
    stream: TextIO | None = None,
    force: bool = False,
) -> logging.Handler | None:
    """Send every record at ``level`` or above to ``stream`` (stderr) in ``log_format``.

    Called again (once the config is read), it replaces its own handler, so the format
    switches. Like ``logging.basicConfig``, it leaves logging alone when someone else set it
    up (a test runner, a program embedding RoadGate) unless ``force``: then it replaces every
    handler. Returns the handler, or None when it left logging alone.
    """
    root = logging.getLogger()
    foreign = [h for h in root.handlers if not isinstance(h, _RoadgateHandler)]
    if foreign and not force:
        return None
    handler = _RoadgateHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(formatter(log_format, device))
    for old in list(root.handlers):
        root.removeHandler(old)
        if isinstance(old, _RoadgateHandler):
            old.close()
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    return handler


class _RoadgateHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler ``configure_logging`` installs (and so may replace)."""
