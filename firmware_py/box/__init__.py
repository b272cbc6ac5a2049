"""Building and running one box: a builder per role, and the simulated world attached apart.

* ``parts``: what every box opens: its outbox and uplink, CAN buses with their DBCs, GNSS
  port, C-V2X radio; the kernel filters of its buses.
* ``vehicle_gateway`` and ``roadside_unit``: one builder per ``Role``, wiring the pipeline
  from its roles (estimator, apps, decoders, uplink, radio).
* ``simulated_world``: the simulated intersection's sensors feeding a built box.
* ``running``: ``build_box`` (the role's builder, then the world) and ``run_box``.
"""

from firmware_py.box.built_box import Box
from firmware_py.box.parts import SIGNAL_CONTROLLER_PORT, V2X_RADIO_PORT, open_outbox, wanted_ids
from firmware_py.box.running import BUILDERS, build_box, run_box

__all__ = [
    "BUILDERS",
    "SIGNAL_CONTROLLER_PORT",
    "V2X_RADIO_PORT",
    "Box",
    "build_box",
    "open_outbox",
    "run_box",
    "wanted_ids",
]
