"""A radar of a scene as an ARS408 reports it: the radar measurement model's returns under the
radar's own object ids, one scan per cycle."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from edge.roadside.radar_noise import RADAR_NOISE, RadarNoise
from firmware_py.simulation.radar import CLASS_CODE, PROB_99_9
from firmware_py.simulation.radar_model import ClutterAndMisses, RadarModel, RadarReturns
from firmware_py.simulation.scenes import RadarMount, Scene
from hil.emulators.radar_ids import ObjectSlots
from protocols.radar.objects import RadarObject

MODELS = ("ideal", "realistic")
EXACT = RadarNoise(
    range_std_m=1e-6, azimuth_std_rad=1e-9, min_cross_range_std_m=1e-6, velocity_std_mps=1e-6
)
"""The ideal radar's noise: micrometres, far below the CAN encoding's 0.2 m resolution (the
model needs a positive noise)."""
PERFECT = ClutterAndMisses(
    detection_probability=1.0,
    clutter_per_scan=0.0,
    split_probability=0.0,
    merge_distance_m=0.0,
    occlusion=False,
)
"""The ideal radar reports every object in its field of view, and nothing else."""
MOVING_MPS = 0.3  # slower than this, an object is reported stationary (Obj_DynProp 7)
HISTORY = 64  # scans kept for inspection


def radar_model(mount: RadarMount, model: str, seed: int) -> RadarModel:
    """The measurement model of ``mount`` for an emulator: ``ideal`` (every object in the field
    of view, exactly where it is) or ``realistic`` (the kind's noise, misses, clutter, splits,
    merges and occlusion, drawn from a generator seeded with ``seed``)."""
    if model == "ideal":
        return RadarModel(mount, EXACT, PERFECT, np.random.default_rng(seed))
    if model == "realistic":
        return RadarModel(
            mount, RADAR_NOISE[mount.kind], ClutterAndMisses(), np.random.default_rng(seed)
        )
    raise ValueError(f"radar model {model!r} not one of {MODELS}")


@dataclass(frozen=True)
class Scan:
    """One cycle: the model's returns and the object id each got (None: no free id)."""

    cycle: int
    returns: RadarReturns
    object_ids: tuple[int | None, ...]


class SceneRadar:
    """Each ``objects(t_s)`` call is one scan of ``scene`` by ``model``: the returns as ARS408
    objects, numbered by ``slots`` (stable while the radar sees an object, never truth ids).
    The last ``HISTORY`` scans are kept in ``scans``."""

    def __init__(self, scene: Scene, model: RadarModel, slots: ObjectSlots | None = None) -> None:
        self._scene = scene
        self._model = model
        self._slots = slots or ObjectSlots()
        self.scans: deque[Scan] = deque(maxlen=HISTORY)

    @property
    def unassigned(self) -> int:
        """Returns dropped so far for want of a free object id."""
        return self._slots.dropped

    def objects(self, t_s: float, cycle: int) -> list[RadarObject]:
        """Scan at scene time ``t_s``; ``cycle`` labels the scan in ``scans``."""
        r = self._model.scan(self._scene, t_s)
        ids = self._slots.assign(r.truth_ids.tolist(), r.x_m.tolist(), r.y_m.tolist())
        self.scans.append(Scan(cycle, r, tuple(ids)))
        objects = []
        for k, object_id in enumerate(ids):
            if object_id is None:
                continue
            vx, vy = float(r.vx_mps[k]), float(r.vy_mps[k])
            objects.append(
                RadarObject(
                    object_id=object_id,
                    dist_long_m=float(r.x_m[k]),
                    dist_lat_m=float(r.y_m[k]),
                    # A radar on a pole stands still: relative velocity is over ground.
                    vrel_long_mps=vx,
                    vrel_lat_mps=vy,
                    dyn_prop=0 if np.hypot(vx, vy) > MOVING_MPS else 7,  # moving / stationary
                    rcs_dbsm=float(r.rcs_dbsm[k]),
                    obj_class=CLASS_CODE.get(r.object_class[k], 0),  # clutter: 0, a point
                    length_m=float(r.length_m[k]),
                    width_m=float(r.width_m[k]),
                    prob_of_exist_code=PROB_99_9,
                )
            )
        return objects
