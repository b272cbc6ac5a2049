"""SocketCAN error frames to bus states and event counts (``<linux/can/error.h>``).

An error frame's ``can_id`` carries ``CAN_ERR_FLAG`` and its error classes; ``data[1]`` the
controller's status. Pure functions on frame batches, property-tested without a bus.
"""

from __future__ import annotations

from dataclasses import dataclass

from hal.can.frames import FLAG_ERROR, FrameBatch
from hal.can.port import BusState

# Error classes in an error frame's can_id, and controller status bits in its data[1]
# (<linux/can/error.h>).
CAN_ERR_TX_TIMEOUT = 0x001
CAN_ERR_LOSTARB = 0x002
CAN_ERR_CRTL = 0x004
CAN_ERR_PROT = 0x008
CAN_ERR_TRX = 0x010
CAN_ERR_ACK = 0x020
CAN_ERR_BUSOFF = 0x040
CAN_ERR_BUSERROR = 0x080
CAN_ERR_RESTARTED = 0x100
CAN_ERR_CRTL_RX_OVERFLOW = 0x01
CAN_ERR_CRTL_TX_OVERFLOW = 0x02
CAN_ERR_CRTL_RX_WARNING = 0x04
CAN_ERR_CRTL_TX_WARNING = 0x08
CAN_ERR_CRTL_RX_PASSIVE = 0x10
CAN_ERR_CRTL_TX_PASSIVE = 0x20
CAN_ERR_CRTL_ACTIVE = 0x40


@dataclass(frozen=True)
class ErrorFrameSummary:
    """What a batch's error frames say: the last bus state they imply (or ``None``) and counts
    per event (keys as in the port's counters: ``bus_error_warning``, ``bus_error_passive``,
    ``bus_off``, ``bus_restarted``, ``bus_errors``, ``controller_overflows``...)."""

    state: BusState | None
    events: dict[str, int]


def error_frame_state(class_bits: int, controller: int) -> BusState | None:
    """The bus state one error frame reports: its class bits (``can_id & CAN_ERR_MASK``) and
    controller status byte (``data[1]``). ``None`` when it says nothing about the state."""
    if class_bits & CAN_ERR_BUSOFF:
        return BusState.BUS_OFF
    if class_bits & CAN_ERR_RESTARTED:
        return BusState.ACTIVE
    if class_bits & CAN_ERR_CRTL:
        if controller & (CAN_ERR_CRTL_RX_PASSIVE | CAN_ERR_CRTL_TX_PASSIVE):
            return BusState.PASSIVE
        if controller & (CAN_ERR_CRTL_RX_WARNING | CAN_ERR_CRTL_TX_WARNING):
            return BusState.WARNING
        if controller & CAN_ERR_CRTL_ACTIVE:
            return BusState.ACTIVE
    return None


_STATE_EVENTS = {
    BusState.WARNING: "bus_error_warning",
    BusState.PASSIVE: "bus_error_passive",
    BusState.BUS_OFF: "bus_off",
}
_CLASS_EVENTS = (
    (CAN_ERR_RESTARTED, "bus_restarted"),
    (CAN_ERR_PROT | CAN_ERR_BUSERROR, "bus_errors"),
    (CAN_ERR_LOSTARB, "lost_arbitration"),
    (CAN_ERR_ACK, "no_ack"),
    (CAN_ERR_TX_TIMEOUT, "tx_timeouts"),
    (CAN_ERR_TRX, "transceiver_errors"),
)


def summarize_error_frames(batch: FrameBatch) -> ErrorFrameSummary:
    """Walk the error frames of ``batch`` in order (they are rare; data frames are skipped in
    one numpy step). Returns the last implied state and the event counts."""
    errors = batch[(batch["flags"] & FLAG_ERROR) != 0]
    events: dict[str, int] = {}
    state: BusState | None = None
    for class_bits, controller in zip(
        errors["arbitration_id"].tolist(), errors["data"][:, 1].tolist(), strict=True
    ):
        frame_state = error_frame_state(class_bits, controller)
        if frame_state is not None:
            state = frame_state
            if frame_state in _STATE_EVENTS:
                _bump(events, _STATE_EVENTS[frame_state])
        for bits, name in _CLASS_EVENTS:
            if class_bits & bits:
                _bump(events, name)
        if class_bits & CAN_ERR_CRTL and controller & (
            CAN_ERR_CRTL_RX_OVERFLOW | CAN_ERR_CRTL_TX_OVERFLOW
        ):
            _bump(events, "controller_overflows")
    return ErrorFrameSummary(state, events)


def _bump(counts: dict[str, int], key: str) -> None:
    counts[key] = counts.get(key, 0) + 1
