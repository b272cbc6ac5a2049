"""``[replay]`` of a scenario file: play the run's flight log back into a fresh daemon.

A replay plays inputs (CAN, GNSS lines, the signal controller's datagrams), not what happened
to the box, so a scenario with ``[replay]`` has no faults; and no C-V2X radio: the bench's
replay does not play what a radio heard yet (``roadgate replay --v2x`` does, retimed).
"""

from __future__ import annotations

from firmware_py.config.reader import Table
from hil.scenario_engine.model import CV2xRadioSpec, ReplaySpec
from hil.scenario_engine.parse_state import ParseState

MAX_SPEED = 100.0


def parse_replay(state: ParseState, t: Table) -> ReplaySpec:
    """``[replay]``: ``speed`` (1), ``settle_s`` (2); checked against emulators and faults."""
    if state.faults:
        raise t.error("speed", t.number("speed", 1.0), "no [[fault]]: a replay plays no faults")
    radios = [e.name for e in state.emulators if isinstance(e, CV2xRadioSpec)]
    if radios:
        raise t.error(
            "speed",
            t.number("speed", 1.0),
            f"no cv2x_radio emulator ({radios[0]}): the bench's replay does not play the radio",
        )
    spec = ReplaySpec(
        speed=t.number("speed", 1.0, above=0.0, high=MAX_SPEED),
        settle_s=t.number("settle_s", 2.0, low=0.0, high=60.0),
    )
    t.reject_unknown()
    return spec
