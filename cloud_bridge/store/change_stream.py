"""The PostgreSQL store's change stream: one NOTIFY per committed batch, device, boot and stream.

A cloud service follows what the bridge stored without polling::

    for notice in follow_changes("postgresql://bridge@db/roadgate"):
        rows = conn.execute(CHANGED_ROWS, notice.query_args()).fetchall()

Each notice names a device, boot, stream and the sequence range the batch stored of them (with
``count`` messages: a range may have holes, the messages that were already stored or lost).
PostgreSQL sends notifications only when the writing transaction commits, and in commit order;
a listener that was not connected misses them, so on (re)connecting it reads what it missed
from ``messages`` by ``received_time_ns`` first.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import psycopg
from psycopg import sql

CHANGE_CHANNEL = "roadgate_messages"
"""The default channel the store notifies on."""

CHANGED_ROWS = (
    "SELECT device_id, boot_id, sequence, stream, capture_time_ns, payload FROM messages "
    "WHERE device_id = %(device_id)s AND boot_id = %(boot_id)s AND stream = %(stream)s "
    "AND sequence BETWEEN %(first_sequence)s AND %(last_sequence)s "
    "AND received_time_ns BETWEEN %(first_received_ns)s AND %(last_received_ns)s "
    "ORDER BY sequence"
)
"""The rows a notice announces, with :meth:`ChangeNotice.query_args` as parameters (the
received times let PostgreSQL read only the day partitions concerned)."""


@dataclass(frozen=True, slots=True)
class ChangeNotice:
    """One notification: ``count`` messages of a device's boot and stream were committed."""

    device_id: str
    boot_id: str
    stream: str
    region: str
    first_sequence: int
    last_sequence: int
    count: int
    first_received_ns: int
    last_received_ns: int

    def query_args(self) -> dict[str, object]:
        """Parameters for :data:`CHANGED_ROWS`."""
        return asdict(self)


def parse_notice(payload: str) -> ChangeNotice:
    """A notice from a notification's payload. Raises ``ValueError`` for a foreign payload."""
    try:
        data = json.loads(payload)
        return ChangeNotice(
            device_id=str(data["device_id"]),
            boot_id=str(data["boot_id"]),
            stream=str(data["stream"]),
            region=str(data["region"]),
            first_sequence=int(data["first_sequence"]),
            last_sequence=int(data["last_sequence"]),
            count=int(data["count"]),
            first_received_ns=int(data["first_received_ns"]),
            last_received_ns=int(data["last_received_ns"]),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"not a change notice: {payload[:200]!r}") from err


def follow_changes(
    dsn: str,
    *,
    channel: str = CHANGE_CHANNEL,
    timeout_s: float | None = None,
    stop_after: int | None = None,
) -> Iterator[ChangeNotice]:
    """LISTEN on ``channel`` and yield each notice as the store commits.

    Ends after ``timeout_s`` seconds without a notification or after ``stop_after`` of them
    (None: never). Payloads that are not notices (another program on the channel) are skipped.
    Raises ``psycopg.Error`` when the connection fails.
    """
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
        for notify in conn.notifies(timeout=timeout_s, stop_after=stop_after):
            try:
                yield parse_notice(notify.payload)
            except ValueError:
                continue
