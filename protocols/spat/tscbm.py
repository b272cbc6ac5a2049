"""NTCIP 1202 "SPaT broadcast", a.k.a. TSCBM (Traffic Signal Controller Broadcast Message).

Econolite, Siemens and McCain controllers send it over UDP (commonly to port 6053) about ten
times a second; USDOT's V2X Hub SPaT plugin is its best-known consumer, and this layout is
the one it reads (``Ntcip1202Ext`` in V2X Hub). 245 bytes, packed, network byte order::

    u8  header = 0xCD
    u8  numOfPhases                      (16: controllers always send 16 blocks)
    16 x { u8 phaseNumber;               (0: unused block)
           u16 spatVehMinTimeToChange, spatVehMaxTimeToChange,
               spatPedMinTimeToChange, spatPedMaxTimeToChange,
               spatOvlpMinTimeToChange, spatOvlpMaxTimeToChange }
                                         (tenths of a second from the message time)
    u16 phaseStatusGroupReds, Yellows, Greens, DontWalks, PedClears, Walks,
        overlapStatusGroupReds, Yellows, Greens,
        flashingOutputPhaseStatus, flashingOutputOverlapStatus   (bit n-1 = phase n)
    u8  spatIntersectionStatus, timebaseAscActionStatus, spatDiscontinuousChangeFlag,
        spatMessageSeqCounter, hour, minute, second   (UTC time of day of the message)
    u16 millisecond, spatPedestrianCall, spatPedestrianDetect

Only what is needed to trust the rest is checked: the length, the header, at most 16 phases
and phase numbers 1-16 without repeats (the bitmaps have 16 bits). Times of day and status
bytes are kept as sent: controllers in the field send odd values there and they do not change
what the lights show.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from protocols.errors import TscbmError
from protocols.schema.v1 import roadgate_pb2 as pb

HEADER = 0xCD
MAX_PHASES = 16
DEFAULT_PORT = 6053

_PHASE = "BHHHHHH"
_STATUS_GROUPS = 11
_TAIL = "BBBBBBBHHH"
_FORMAT = struct.Struct("!BB" + _PHASE * MAX_PHASES + "H" * _STATUS_GROUPS + _TAIL)
SIZE = _FORMAT.size
"""245 bytes."""
_PHASE_FIELDS = len(_PHASE)


@dataclass(frozen=True)
class PhaseTiming:
    """One phase's times to change, in tenths of a second from the message time."""

    phase: int  # 1-16
    vehicle_min_ds: int = 0
    vehicle_max_ds: int = 0
    pedestrian_min_ds: int = 0
    pedestrian_max_ds: int = 0
    overlap_min_ds: int = 0
    overlap_max_ds: int = 0


@dataclass(frozen=True)
class StatusGroups:
    """The bitmaps of what every phase and overlap shows: bit n-1 is phase (overlap) n."""

    reds: int = 0
    yellows: int = 0
    greens: int = 0
    dont_walks: int = 0
    ped_clears: int = 0
    walks: int = 0
    overlap_reds: int = 0
    overlap_yellows: int = 0
    overlap_greens: int = 0
    flashing_phases: int = 0
    flashing_overlaps: int = 0


@dataclass(frozen=True)
class TscbmMessage:
    """One decoded SPaT broadcast. ``phases`` holds the used blocks, in the order sent."""

    phases: tuple[PhaseTiming, ...]
    status: StatusGroups = field(default_factory=StatusGroups)
    intersection_status: int = 0
    timebase_action: int = 0
    discontinuous_change: int = 0
    sequence: int = 0  # spatMessageSeqCounter, wraps at 256
    hour: int = 0
    minute: int = 0
    second: int = 0
    millisecond: int = 0
    pedestrian_calls: int = 0  # bitmap
    pedestrian_detects: int = 0  # bitmap

    def phase(self, number: int) -> PhaseTiming | None:
        """The block of phase ``number``, if sent."""
        return next((p for p in self.phases if p.phase == number), None)

    def vehicle_state(self, number: int) -> pb.SignalState.ValueType:
        """What phase ``number``'s vehicle signal shows.

        Red wins over yellow over green when a controller sets several bits (as V2X Hub
        reads them); a flashing red or yellow is ``FLASHING_*``; no bit set is ``DARK``.
        """
        bit = 1 << (number - 1)
        status = self.status
        flashing = bool(status.flashing_phases & bit)
        if status.reds & bit:
            return pb.SIGNAL_STATE_FLASHING_RED if flashing else pb.SIGNAL_STATE_RED
        if status.yellows & bit:
            return pb.SIGNAL_STATE_FLASHING_AMBER if flashing else pb.SIGNAL_STATE_AMBER
        if status.greens & bit:
            return pb.SIGNAL_STATE_GREEN
        return pb.SIGNAL_STATE_DARK


def decode_tscbm(data: bytes) -> TscbmMessage:
    """Decode one datagram. Raises ``TscbmError`` (its ``reason`` a counter label) when it is
    not a usable SPaT broadcast; never anything else."""
    if len(data) != SIZE:
        raise TscbmError(f"TSCBM: {len(data)} bytes, expected {SIZE}", reason="bad_length")
    values = _FORMAT.unpack(data)
    header, count = values[0], values[1]
    if header != HEADER:
        raise TscbmError(
            f"TSCBM: header 0x{header:02X}, expected 0x{HEADER:02X}", reason="bad_header"
        )
    if count > MAX_PHASES:
        raise TscbmError(f"TSCBM: {count} phases, at most {MAX_PHASES}", reason="bad_phase_count")
    phases: list[PhaseTiming] = []
    seen: set[int] = set()
    # Blocks past numOfPhases are padding; a block with phase number 0 is unused.
    for i in range(count):
        block = values[2 + i * _PHASE_FIELDS : 2 + (i + 1) * _PHASE_FIELDS]
        number = block[0]
        if number == 0:
            continue
        if number > MAX_PHASES:
            raise TscbmError(
                f"TSCBM: block {i} has phase number {number}, expected 1-{MAX_PHASES}",
                reason="bad_phase_number",
            )
        if number in seen:
            raise TscbmError(f"TSCBM: phase {number} sent twice", reason="duplicate_phase")
        seen.add(number)
        phases.append(PhaseTiming(*block))
    rest = values[2 + MAX_PHASES * _PHASE_FIELDS :]
    status = StatusGroups(*rest[:_STATUS_GROUPS])
    return TscbmMessage(tuple(phases), status, *rest[_STATUS_GROUPS:])


def encode_tscbm(message: TscbmMessage) -> bytes:
    """The 245-byte datagram of ``message`` (unused blocks zero, numOfPhases 16, as
    controllers send). Raises ``ValueError`` for a value that does not fit its field or
    phases that ``decode_tscbm`` would refuse."""
    if len(message.phases) > MAX_PHASES:
        raise ValueError(f"at most {MAX_PHASES} phases, got {len(message.phases)}")
    numbers = [p.phase for p in message.phases]
    if any(not 1 <= n <= MAX_PHASES for n in numbers) or len(set(numbers)) != len(numbers):
        raise ValueError(f"phase numbers must be distinct and in 1-{MAX_PHASES}: {numbers}")
    blocks: list[int] = []
    for p in message.phases:
        blocks += [
            p.phase,
            p.vehicle_min_ds,
            p.vehicle_max_ds,
            p.pedestrian_min_ds,
            p.pedestrian_max_ds,
            p.overlap_min_ds,
            p.overlap_max_ds,
        ]
    blocks += [0] * (_PHASE_FIELDS * (MAX_PHASES - len(message.phases)))
    s = message.status
    try:
        return _FORMAT.pack(
            HEADER,
            MAX_PHASES,
            *blocks,
            s.reds,
            s.yellows,
            s.greens,
            s.dont_walks,
            s.ped_clears,
            s.walks,
            s.overlap_reds,
            s.overlap_yellows,
            s.overlap_greens,
            s.flashing_phases,
            s.flashing_overlaps,
            message.intersection_status,
            message.timebase_action,
            message.discontinuous_change,
            message.sequence,
            message.hour,
            message.minute,
            message.second,
            message.millisecond,
            message.pedestrian_calls,
            message.pedestrian_detects,
        )
    except struct.error as err:
        raise ValueError(f"a TSCBM field is out of range: {err}") from err


def to_spat(
    message: TscbmMessage,
    intersection_id: int,
    signal_groups: Mapping[int, int] | None = None,
) -> pb.SignalPhaseTiming:
    """The SPaT of ``message``'s vehicle phases, times relative to the message time.

    ``signal_groups`` maps phase number -> signal group; phases it does not name are left out
    (as V2X Hub does). Without it every phase sent is published as the signal group of its
    number. ``min_end_s`` and ``max_end_s`` are the vehicle min and max times to change;
    ``likely_end_s`` is the min (the controller's earliest change is the usual case of a
    fixed-time or coordinated plan). A max below the min (controllers send 0 when they do
    not know) is taken as the min. Pedestrian and overlap signals are not in the schema.
    ``cycle_counter`` stays 0: TSCBM carries no cycle number.
    """
    spat = pb.SignalPhaseTiming(intersection_id=intersection_id)
    for timing in message.phases:
        if signal_groups is None:
            group = timing.phase
        elif timing.phase in signal_groups:
            group = signal_groups[timing.phase]
        else:
            continue
        min_end = timing.vehicle_min_ds / 10
        spat.phases.append(
            pb.PhaseState(
                signal_group=group,
                state=message.vehicle_state(timing.phase),
                min_end_s=min_end,
                max_end_s=max(min_end, timing.vehicle_max_ds / 10),
                likely_end_s=min_end,
            )
        )
    return spat


def phase_bitmap(phases: Sequence[int]) -> int:
    """The status-group bitmap with the bits of ``phases`` (1-16) set."""
    bits = 0
    for number in phases:
        if not 1 <= number <= MAX_PHASES:
            raise ValueError(f"phase {number} is not in 1-{MAX_PHASES}")
        bits |= 1 << (number - 1)
    return bits
