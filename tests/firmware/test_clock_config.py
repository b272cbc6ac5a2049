"""``[clock]``: the box's clock source, its error bound and the GNSS disagreement bound."""

from __future__ import annotations

import re
import tempfile
import tomllib
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.clock import CLOCK_SOURCES, configured_clock
from firmware_py.box.parts import gnss_clock_check, open_uplink
from firmware_py.config.loader import EXAMPLES_DIR, load_box_config
from firmware_py.config.model import BoxConfig, ClockConfig
from firmware_py.errors import ConfigError
from protocols.envelope import decode
from protocols.schema.v1 import roadgate_pb2 as pb
from tests.firmware.test_config_bounds import (
    ODD_KEYS,
    ODD_VALUES,
    Raw,
    check_outcome,
    toml_document,
)

ROADSIDE = (EXAMPLES_DIR / "roadside.toml").read_text()
SIMULATION = "[simulation]\nenabled = true\n"


def on_a_pole(extra: str = "") -> str:
    """The roadside example without simulation (a real box), plus ``extra``."""
    assert SIMULATION in ROADSIDE
    return ROADSIDE.replace(SIMULATION, "") + "\n" + extra


def load(tmp_path: Path, text: str) -> BoxConfig:
    path = tmp_path / "box.toml"
    path.write_text(text)
    return load_box_config(path)


def test_defaults_detect_a_real_box_s_clock_and_label_a_simulated_one(tmp_path: Path) -> None:
    assert load(tmp_path, on_a_pole()).clock == ClockConfig("auto", None, 0.5)
    assert load(tmp_path, ROADSIDE).clock == ClockConfig("simulated", None, 0.5)


def test_every_key(tmp_path: Path) -> None:
    text = on_a_pole(
        '[clock]\nsource = "pps"\nmax_error_ms = 0.25\ngnss_disagreement_bound_ms = 150\n'
    )
    assert load(tmp_path, text).clock == ClockConfig("pps", 0.00025, 0.15)


@pytest.mark.parametrize("source", ["auto", *CLOCK_SOURCES])
def test_every_source_loads_and_labels_the_clock(tmp_path: Path, source: str) -> None:
    clock = load(tmp_path, on_a_pole(f'[clock]\nsource = "{source}"\n')).clock
    label = configured_clock(clock.source, clock.max_error_s).label()
    if source != "auto":
        assert label.source == CLOCK_SOURCES[source]
    assert label.source in pb.ClockSource.values()


def test_a_simulated_box_may_name_its_clock(tmp_path: Path) -> None:
    assert load(tmp_path, ROADSIDE + '\n[clock]\nsource = "ntp"\n').clock.source == "ntp"


def test_the_examples_document_the_clock_section_they_load(tmp_path: Path) -> None:
    for name in ("roadside.toml", "vehicle-toyota.toml"):
        text = (EXAMPLES_DIR / name).read_text()
        documented = re.search(r"^# \[clock\]\n((?:# .*\n)+)", text, re.MULTILINE)
        assert documented is not None, name
        table = "[clock]\n" + re.sub(r"^# ", "", documented[1], flags=re.MULTILINE)
        assert load(tmp_path, on_a_pole(table)).clock == ClockConfig("auto", 0.002, 0.5)


BAD = {
    "unknown source": ('source = "sundial"', r"clock\.source = 'sundial' is invalid"),
    "source not a string": ("source = 1", r"clock\.source = 1 is invalid"),
    "negative error": ("max_error_ms = -1", r"clock\.max_error_ms = -1 is invalid"),
    "nan error": ("max_error_ms = nan", r"clock\.max_error_ms = nan is invalid"),
    "zero bound": (
        "gnss_disagreement_bound_ms = 0",
        r"clock\.gnss_disagreement_bound_ms = 0 is invalid",
    ),
    "inf bound": (
        "gnss_disagreement_bound_ms = inf",
        r"clock\.gnss_disagreement_bound_ms = inf is invalid",
    ),
    "a typo": ("max_error_s = 1", r"max_error_s"),
    "bound in seconds": ("gnss_disagreement_bound_s = 1", r"gnss_disagreement_bound_s"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_value_is_a_one_line_config_error_naming_the_key(tmp_path: Path, case: str) -> None:
    line, message = BAD[case]
    path = tmp_path / "box.toml"
    path.write_text(on_a_pole(f"[clock]\n{line}\n"))
    with pytest.raises(ConfigError, match=message) as err:
        load_box_config(path)
    assert len(str(err.value).splitlines()) == 1


BASE: dict[str, Any] = tomllib.loads(on_a_pole())
KEYS = ["source", "max_error_ms", "gnss_disagreement_bound_ms"]


@settings(max_examples=150)
@given(
    table=st.dictionaries(st.sampled_from(KEYS) | ODD_KEYS, ODD_VALUES, max_size=4),
)
def test_any_clock_table_builds_or_is_a_one_line_config_error(table: dict[str, Any]) -> None:
    data = {**BASE, "clock": table}
    unknown = [k for k in table if k not in KEYS]
    # A lone unknown key is named; a value TOML cannot hold fails before any key is read.
    named = len(unknown) == 1 and len(table) == 1 and not isinstance(table[unknown[0]], Raw)
    check_outcome(
        load_box_config, toml_document(data), unknown[0] if named else None, must_fail=bool(unknown)
    )


@given(
    source=st.sampled_from(["auto", *CLOCK_SOURCES]),
    max_error_ms=st.none() | st.floats(0, 3_600_000),
    bound_ms=st.floats(0, 3_600_000, exclude_min=True),
)
@settings(max_examples=50)
def test_every_valid_table_builds_a_labelled_clock(
    source: str, max_error_ms: float | None, bound_ms: float
) -> None:
    table: dict[str, Any] = {"source": source, "gnss_disagreement_bound_ms": bound_ms}
    if max_error_ms is not None:
        table["max_error_ms"] = max_error_ms
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "box.toml"
        path.write_text(toml_document({**BASE, "clock": table}))
        clock = load_box_config(path).clock
    assert clock.gnss_bound_s == bound_ms / 1000
    label = configured_clock(clock.source, clock.max_error_s).label()
    if max_error_ms is not None:
        assert label.max_error_s == max_error_ms / 1000


@pytest.mark.parametrize(
    ("extra", "source", "bound_s"),
    [
        ("", pb.CLOCK_SOURCE_SIMULATED, 0.0),  # the demo's boxes
        ('[clock]\nsource = "pps"\nmax_error_ms = 1.5\n', pb.CLOCK_SOURCE_GNSS, 0.0015),
    ],
)
def test_the_box_s_uplink_labels_envelopes_with_the_configured_clock(
    tmp_path: Path, extra: str, source: pb.ClockSource.ValueType, bound_s: float
) -> None:
    text = ROADSIDE + f"\n[outbox]\npath = '{tmp_path / 'outbox.sqlite3'}'\n" + extra
    config = load(tmp_path, text)
    with ExitStack() as stack:
        uplink = open_uplink(config, stack)
        uplink.submit(pb.DeviceHealth(uptime_s=1.0), 123)
        (entry,) = uplink.outbox.peek(10)
    env = decode(entry.body)
    assert (env.clock_source, env.clock_max_error_s) == (source, bound_s)


def test_a_box_with_gnss_checks_its_clock_with_the_configured_bound(tmp_path: Path) -> None:
    config = load(tmp_path, on_a_pole("[clock]\ngnss_disagreement_bound_ms = 250\n"))
    check = gnss_clock_check(config)
    assert check is not None
    assert check.bound_s == 0.25
    without_gnss = on_a_pole().replace('[gnss]\nport = "simulated"\nbaudrate = 115200\n', "")
    assert "[gnss]" not in without_gnss
    assert gnss_clock_check(load(tmp_path, without_gnss)) is None
