"""The rows a message store returns, whichever database holds them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """One stored message."""

    device_id: str
    boot_id: str
    sequence: int
    stream: str
    region: str
    topic: str
    capture_time_ns: int
    publish_time_ns: int
    received_time_ns: int
    historical: bool
    payload: bytes
    body_json: str
    clock_suspect: bool = False


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One rejected message with its reason."""

    id: int
    received_time_ns: int
    topic: str
    reason: str
    detail: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class DeviceStatusRecord:
    """The latest status a device published.

    ``updated_time_ns`` is the status's capture time (as the device's clock said), ``boot_id``
    and ``sequence`` identify the message it came from.
    """

    device_id: str
    region: str
    liveness: str
    role: str
    software_version: str
    updated_time_ns: int
    boot_id: str
    sequence: int = 0


@dataclass(frozen=True, slots=True)
class BootSequences:
    """What a store counted of one boot of a device: its sequence range, stored and duplicates.

    ``first_sequence``/``last_sequence`` are None while nothing of the boot was stored.
    """

    device_id: str
    boot_id: str
    first_sequence: int | None
    last_sequence: int | None
    delivered: int
    duplicates: int


@dataclass(frozen=True, slots=True)
class LossRecord:
    """Loss accounting of one boot of a device.

    ``delivered`` messages were stored, ``duplicates`` arrived again and were not. ``missing``
    counts the sequence numbers within the boot's range that never arrived. ``missing_before``
    counts the numbers between the previous boot's last and this boot's first: a device's
    outbox numbers its messages across restarts, so a gap there is loss too (a boot that
    starts lower, a replaced outbox, counts none).
    """

    device_id: str
    boot_id: str
    first_sequence: int | None
    last_sequence: int | None
    delivered: int
    duplicates: int
    missing: int
    missing_before: int

    @property
    def missing_total(self) -> int:
        """Missing within the boot and before it."""
        return self.missing + self.missing_before


@dataclass(frozen=True, slots=True)
class LossTotals:
    """Loss accounting summed over every device and boot (missing includes between boots)."""

    delivered: int = 0
    duplicates: int = 0
    missing: int = 0


def loss_totals(records: Iterable[LossRecord]) -> LossTotals:
    """The sums of ``records``."""
    delivered = duplicates = missing = 0
    for record in records:
        delivered += record.delivered
        duplicates += record.duplicates
        missing += record.missing_total
    return LossTotals(delivered, duplicates, missing)


def loss_records(boots: Iterable[BootSequences]) -> list[LossRecord]:
    """Loss records of ``boots``, ordered by device, then by each boot's first sequence.

    Python integers: a range up to 2**63 - 1 cannot overflow here as it would in SQL.
    """
    ordered = sorted(
        boots,
        key=lambda b: (
            b.device_id,
            b.first_sequence is None,
            b.first_sequence or 0,
            b.boot_id,
        ),
    )
    records: list[LossRecord] = []
    previous_last: int | None = None
    previous_device: str | None = None
    for boot in ordered:
        if boot.device_id != previous_device:
            previous_device, previous_last = boot.device_id, None
        first, last = boot.first_sequence, boot.last_sequence
        missing = 0 if first is None or last is None else last - first + 1 - boot.delivered
        before = 0
        if first is not None and previous_last is not None and first > previous_last + 1:
            before = first - previous_last - 1
        if last is not None:
            previous_last = last if previous_last is None else max(previous_last, last)
        records.append(
            LossRecord(
                boot.device_id,
                boot.boot_id,
                first,
                last,
                boot.delivered,
                boot.duplicates,
                max(missing, 0),
                before,
            )
        )
    return records
