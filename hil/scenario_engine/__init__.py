"""The scenario engine: the scenario file format's loader, the model, and the expectations
checked against a run's ``Recording``. The shipped scenario files themselves are in
``hil/scenarios/``; see ``hil/scenarios/README.md`` for the file format."""

from hil.scenario_engine.expectations import (
    Expectation,
    ExpectCanReceived,
    ExpectCounter,
    ExpectEvent,
    ExpectGnssReceived,
    ExpectMessages,
    ExpectNoLoss,
    ExpectRecovery,
    Verdict,
    evaluate,
)
from hil.scenario_engine.expectations_hmi import ExpectHmi
from hil.scenario_engine.expectations_motion import ExpectTracks, ExpectVehicleState
from hil.scenario_engine.expectations_objects import ExpectObjectsNear
from hil.scenario_engine.expectations_replay import ExpectReplayEqual, ExpectReplayRerunEqual
from hil.scenario_engine.expectations_spat import ExpectSpat
from hil.scenario_engine.expectations_tracking import ExpectFusedTracks
from hil.scenario_engine.expectations_v2x import ExpectV2x
from hil.scenario_engine.loader import load_scenario, parse_scenario, scenario_files
from hil.scenario_engine.model import (
    Ars408Spec,
    CanReplaySpec,
    CV2xRadioSpec,
    EmulatorSpec,
    FaultSpec,
    GnssSpec,
    HmiSpec,
    ReplaySpec,
    Scenario,
    SignalControllerSpec,
    VehicleCanSpec,
)

__all__ = [
    "Ars408Spec",
    "CV2xRadioSpec",
    "CanReplaySpec",
    "EmulatorSpec",
    "ExpectCanReceived",
    "ExpectCounter",
    "ExpectEvent",
    "ExpectFusedTracks",
    "ExpectGnssReceived",
    "ExpectHmi",
    "ExpectMessages",
    "ExpectNoLoss",
    "ExpectObjectsNear",
    "ExpectRecovery",
    "ExpectReplayEqual",
    "ExpectReplayRerunEqual",
    "ExpectSpat",
    "ExpectTracks",
    "ExpectV2x",
    "ExpectVehicleState",
    "Expectation",
    "FaultSpec",
    "GnssSpec",
    "HmiSpec",
    "ReplaySpec",
    "Scenario",
    "SignalControllerSpec",
    "VehicleCanSpec",
    "Verdict",
    "evaluate",
    "load_scenario",
    "parse_scenario",
    "scenario_files",
]
