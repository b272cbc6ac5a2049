"""What each box imports: the heavy libraries stay out of boxes that do not use them.

The memory budgets of issue 14 (``roadgate bench memory``) are met by importing the roadside
perception, the V2X codec and the command signatures only where they run; these tests keep it
so, in a fresh interpreter per box.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from firmware_py.benchmarks.memory import roadside_config, vehicle_config

PROJECT_ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("scipy.optimize", "scipy.special", "scipy.spatial", "asn1tools", "cryptography")

_BUILD = """
import json, sys
from contextlib import ExitStack
from pathlib import Path
from firmware_py.box import build_box
from firmware_py.config.loader import load_box_config

with ExitStack() as stack:
    build_box(load_box_config(Path(sys.argv[1])), stack)
    print(json.dumps(sorted(name for name in sys.modules if name in sys.argv[2:])))
"""


def _loaded_after_build(config: Path) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", _BUILD, str(config), *HEAVY],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=PROJECT_ROOT,
        check=True,
    )
    loaded = json.loads(done.stdout.splitlines()[-1])
    return {
        heavy for heavy in HEAVY for name in loaded if name.split(".")[:2] == heavy.split(".")[:2]
    }


def test_a_vehicle_gateway_without_radio_or_keys_loads_none_of_them(tmp_path: Path) -> None:
    assert _loaded_after_build(vehicle_config(tmp_path, "127.0.0.1", 1883)) == set()


def test_a_roadside_unit_loads_the_v2x_codec_for_its_intersection_file_only(
    tmp_path: Path,
) -> None:
    # The intersection description is checked by encoding it; no scipy package at all: the
    # tracker's assignment solver is SciPy's compiled module alone (edge.assignment).
    assert _loaded_after_build(roadside_config(tmp_path, "127.0.0.1", 1883)) == {"asn1tools"}
