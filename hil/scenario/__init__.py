"""HIL scenarios: the file format and its loader, the model, and the expectations checked
against a run's ``Recording``. See ``hil/scenarios/README.md`` for the file format."""

from hil.scenario.expectations import (
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
from hil.scenario.expectations_motion import ExpectTracks, ExpectVehicleState
from hil.scenario.expectations_objects import ExpectObjectsNear
from hil.scenario.expectations_spat import ExpectSpat
from hil.scenario.expectations_v2x import ExpectV2x
from hil.scenario.loader import load_scenario, parse_scenario, scenario_files
from hil.scenario.model import (
    Ars408Spec,
    CanReplaySpec,
    CV2xRadioSpec,
    EmulatorSpec,
    FaultSpec,
    GnssSpec,
    Scenario,
    SignalControllerSpec,
)

__all__ = [
    "Ars408Spec",
    "CV2xRadioSpec",
    "CanReplaySpec",
    "EmulatorSpec",
    "ExpectCanReceived",
    "ExpectCounter",
    "ExpectEvent",
    "ExpectGnssReceived",
    "ExpectMessages",
    "ExpectNoLoss",
    "ExpectObjectsNear",
    "ExpectRecovery",
    "ExpectSpat",
    "ExpectTracks",
    "ExpectV2x",
    "ExpectVehicleState",
    "Expectation",
    "FaultSpec",
    "GnssSpec",
    "Scenario",
    "SignalControllerSpec",
    "Verdict",
    "evaluate",
    "load_scenario",
    "parse_scenario",
    "scenario_files",
]
