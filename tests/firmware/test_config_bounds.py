"""A config that passes ``roadgate config check`` runs: values that only failed at run time, or
silently, are one-line config errors naming the file and the key (issue 10)."""

from __future__ import annotations

import math
import re
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_py.config.loader import EXAMPLES_DIR, load_box_config, load_bridge_config
from firmware_py.config.reader import MAX_DEPTH, Table
from firmware_py.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Raw:
    """TOML text written as is: what a Python value cannot be turned into (5,000 digits...)."""

    text: str


def deep(depth: int) -> Raw:
    return Raw("[" * depth + "]" * depth)


def toml_string(text: str) -> str:
    escaped = "".join(
        f"\\u{ord(c):04x}" if ord(c) < 0x20 or ord(c) == 0x7F or c in '"\\' else c for c in text
    )
    return f'"{escaped}"'


def toml_value(value: Any) -> str:
    """``value`` as an inline TOML value (tables inline, floats with nan and inf)."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return (
            "nan"
            if math.isnan(value)
            else {math.inf: "inf", -math.inf: "-inf"}.get(value, repr(value))
        )
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{toml_string(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml_document(data: dict[str, Any]) -> str:
    return "".join(f"{toml_string(k)} = {toml_value(v)}\n" for k, v in data.items())


def example(name: str) -> dict[str, Any]:
    return tomllib.loads((EXAMPLES_DIR / name).read_text())


DOCUMENTS: dict[str, tuple[dict[str, Any], Callable[[Path], object]]] = {
    "vehicle": (example("vehicle-toyota.toml"), load_box_config),
    "roadside": (example("roadside.toml"), load_box_config),
    "bridge": (example("bridge.toml"), load_bridge_config),
}
"""Each example, parsed, and its loader."""

OPTIONAL: dict[str, list[tuple[str | int, ...]]] = {
    "vehicle": [
        ("mqtt", "expiry_s"),
        ("mqtt", "client_id"),
        ("mqtt", "username"),
        ("mqtt", "reconnect_min_s"),
        ("can", 0, "dbc_encoding"),
        ("outbox", "path"),
        ("outbox", "max_mb"),
        ("outbox", "hard_max_mb"),
        ("outbox", "max_age_h"),
        ("vehicle", "signals", "Vehicle.Speed", "factor"),
        ("vehicle", "signals", "Vehicle.AngularVelocity.Yaw", "unit"),
        ("vehicle", "signals", "Vehicle.Chassis.Brake.IsPedalPressed", "signal"),
        ("v2x", "station_id"),
    ],
    "roadside": [
        ("mqtt", "keepalive_s"),
        ("radar", 0, "altitude_m"),
        ("radar", 0, "noise", "range_std_m"),
        ("radar", 0, "noise", "azimuth_std_deg"),
        ("roadside", "spat_rate_hz"),
        ("roadside", "signal_plan", "groups", 0, "amber_s"),
    ],
    "bridge": [("mqtt", "keepalive_s"), ("mqtt", "password"), ("bridge", "store")],
}
"""Keys the examples leave out, which a user may set."""


def leaves(node: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in leaves(v, (*prefix, k))]
    if isinstance(node, list) and node and all(isinstance(v, dict) for v in node):
        return [p for i, v in enumerate(node) for p in leaves(v, (*prefix, i))]
    return [prefix]


def tables(node: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    if isinstance(node, dict):
        return [prefix] + [p for k, v in node.items() for p in tables(v, (*prefix, k))]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in tables(v, (*prefix, i))]
    return []


def set_at(data: dict[str, Any], path: tuple[str | int, ...], value: Any) -> None:
    node: Any = data
    for part in path[:-1]:
        if isinstance(part, str) and part not in node:
            node[part] = {}
        node = node[part]
    node[path[-1]] = value


NO_SURROGATES = st.characters(exclude_categories=["Cs"])
ODD_VALUES = (
    st.sampled_from(
        [
            math.nan,
            math.inf,
            -math.inf,
            2**63,
            -(2**63) - 1,
            2**63 - 1,
            2**32,
            10**30,
            0,
            -1,
            1e308,
            -1e308,
            5e-324,
            "",
            "\0",
            "a\nb",
            "~nosuchuser/x.sqlite3",
            "~/x",
            "x" * 5000,
            "/" + "a" * 300 + "/x",
            "nonsense",
            "rot13",
            "base64",
            "undefined",
            "utf-16",
            "²",
            "#",
            "a/b",
            "+",
            Raw("9" * 5000),
            deep(5000),
            deep(MAX_DEPTH + 5),
            [],
            [math.nan],
            {},
        ]
    )
    | st.floats()
    | st.integers(-(2**70), 2**70)
    | st.text(NO_SURROGATES, max_size=20)
    | st.lists(st.floats(), max_size=3)
)
ODD_KEYS = st.sampled_from(
    ["", "²", "é", "a\nb", " ", "-1", "٣", "99999999999999999999"]
) | st.text(NO_SURROGATES, max_size=8)


def key_shown(key: str | int) -> str:
    """How an error message writes ``key`` (bare, or quoted), cut to fit its 60 characters."""
    if isinstance(key, int):
        return f"[{key}]"
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else repr(key)[:12]


RELATED: dict[str | int, tuple[str, ...]] = {
    "max_mb": ("max_bytes",),
    "hard_max_mb": ("hard_max_bytes",),
    "reconnect_min_s": ("reconnect_max_s",),
    # A fixed-time plan checks each group's green + amber against the cycle.
    "green_start_s": ("green",),
    "green_s": ("green",),
    "amber_s": ("amber",),
    "cycle_s": ("cycle",),
}
"""Keys checked against others: the error may name those instead (in words)."""


def check_outcome(
    load: Callable[[Path], object], text: str, key: str | int | None, *, must_fail: bool
) -> None:
    """Loading ``text`` builds a config (unless ``must_fail``), or raises a one-line
    ``ConfigError`` that names the file and (if given) ``key``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.toml"
        path.write_text(text, encoding="utf-8")
        try:
            load(path)
        except ConfigError as err:
            message = str(err)
            assert len(message.splitlines()) == 1, message
            assert message.startswith(f"{path}: "), message
            if key is not None:
                named = (key_shown(key), *RELATED.get(key, ()))
                assert any(name in message for name in named), message
        else:
            assert not must_fail, f"an unknown key was accepted: {text}"


@st.composite
def mutations(draw: st.DrawFn) -> tuple[str, str, str | int | None, bool]:
    """(document, TOML text, key to be named, whether it must fail): an example with one key
    set to an odd value."""
    name = draw(st.sampled_from(sorted(DOCUMENTS)))
    data = tomllib.loads(toml_document(DOCUMENTS[name][0]))  # a deep copy
    mode = draw(st.sampled_from(["replace", "optional", "add"]))
    value = draw(ODD_VALUES)
    if mode == "add":
        path = (*draw(st.sampled_from(tables(data))), draw(ODD_KEYS))
    else:
        path = draw(st.sampled_from(leaves(data) if mode == "replace" else OPTIONAL[name]))
    set_at(data, path, value)
    # A Raw value fails as TOML (no key known).
    key = None if isinstance(value, Raw) else path[-1]
    # A key added to a table of ours is unknown, or (where keys are names) an odd name.
    must_fail = mode == "add" and "values" not in path
    return name, toml_document(data), key, must_fail


@given(mutations())
def test_an_odd_value_anywhere_builds_or_is_a_one_line_config_error(
    mutation: tuple[str, str, str | int | None, bool],
) -> None:
    name, text, key, must_fail = mutation
    check_outcome(DOCUMENTS[name][1], text, key, must_fail=must_fail)


def test_the_examples_survive_the_round_trip_through_the_test_serializer() -> None:
    # The fuzz test would prove little if its TOML writer broke every document.
    for name, (data, load) in DOCUMENTS.items():
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "config.toml"
            path.write_text(toml_document(data))
            assert load(path) is not None, name


# --- the tester's cases, one by one ---------------------------------------------------------

VEHICLE = (EXAMPLES_DIR / "vehicle-toyota.toml").read_text()
BRIDGE = (EXAMPLES_DIR / "bridge.toml").read_text()


def vehicle(old: str, new: str) -> str:
    assert old in VEHICLE
    return VEHICLE.replace(old, new, 1)


def bridge(old: str, new: str) -> str:
    assert old in BRIDGE
    return BRIDGE.replace(old, new, 1)


OUTBOX = "[outbox]\npath = 'outbox.sqlite3'\n"
TESTER_CASES = {
    "state_rate_hz nan": (
        vehicle("state_rate_hz = 10", "state_rate_hz = nan"),
        r"vehicle\.state_rate_hz = nan is invalid: expected a finite number",
    ),
    "expiry over uint32": (
        vehicle("keepalive_s = 30", "keepalive_s = 30\nmqtt5 = true\nexpiry_s = 99999999999"),
        r"mqtt\.expiry_s = 99999999999 is invalid: expected an integer in \[1, 4294967295\]",
    ),
    "unknown dbc encoding": (
        vehicle("bitrate = 500000", 'bitrate = 500000\ndbc_encoding = "nonsense"'),
        r"can\[0\]\.dbc_encoding = 'nonsense' is invalid: a text encoding",
    ),
    "a codec that is not a text encoding": (
        vehicle("bitrate = 500000", 'bitrate = 500000\ndbc_encoding = "rot13"'),
        r"can\[0\]\.dbc_encoding = 'rot13' is invalid",
    ),
    "max_mb inf": (
        VEHICLE + "\n[outbox]\nmax_mb = inf\n",
        r"outbox\.max_mb = inf is invalid: expected a finite number",
    ),
    "max_mb past int64 bytes": (
        VEHICLE + "\n[outbox]\nmax_mb = 1e300\n",
        r"outbox\.max_mb = 1e\+300 is invalid: expected a finite number in \[0.001, ",
    ),
    "path of no user": (
        VEHICLE + "\n[outbox]\npath = '~nosuchuser/x.sqlite3'\n",
        r"outbox\.path = '~nosuchuser/x\.sqlite3' is invalid: .*~nosuchuser: no such home",
    ),
    "path with NUL": (
        VEHICLE + '\n[outbox]\npath = "a\\u0000b"\n',
        r"outbox\.path = 'a\\x00b' is invalid: a file path",
    ),
    "path too long": (
        VEHICLE + f"\n[outbox]\npath = '{'x' * 300}'\n",
        r"outbox\.path = 'xxx.* is invalid: .*too long",
    ),
    "dbc name too long": (
        vehicle('dbc = "toyota_nodsu_pt_generated.dbc"', f'dbc = "{"x" * 5000}"'),
        r"can\[0\]\.dbc = 'xxx.* is invalid: .*too long",
    ),
    "value code not ASCII digits": (
        vehicle(
            "hard_braking_mps2 = -4.0",
            "hard_braking_mps2 = -4.0\n"
            '[vehicle.signals."Vehicle.Chassis.Brake.IsPedalPressed"]\nvalues = { "²" = true }',
        ),
        r"vehicle\.signals\.'Vehicle\.Chassis\.Brake\.IsPedalPressed': key 'values': "
        r"BRAKE_PRESSED has no value table, so keys are integer codes, got '²'",
    ),
    "value code empty": (
        vehicle(
            "hard_braking_mps2 = -4.0",
            "hard_braking_mps2 = -4.0\n"
            '[vehicle.signals."Vehicle.Chassis.Brake.IsPedalPressed"]\nvalues = { "" = true }',
        ),
        r"IsPedalPressed': key 'values': BRAKE_PRESSED has no value table, so keys are integer "
        r"codes, got ''",
    ),
    "5,000-deep array": (
        VEHICLE + "\n[extra]\nx = " + "[" * 5000 + "]" * 5000 + "\n",
        r"nested too deeply",
    ),
    "40-deep array": (
        VEHICLE.replace("[health]", "x = " + "[" * 40 + "]" * 40 + "\n[health]"),
        r"vehicle\.x(\[0\])+ is nested more than 32 levels deep",
    ),
    "5,000-digit integer": (
        VEHICLE.replace("period_s = 5", "period_s = " + "9" * 5000),
        r"not valid TOML: Exceeds the limit",
    ),
    "integer past int64": (
        VEHICLE.replace("period_s = 5", "period_s = 99999999999999999999"),
        r"health\.period_s = 99999999999999999999 is invalid: .*64 bits",
    ),
    "signal factor nan": (
        vehicle(
            "hard_braking_mps2 = -4.0",
            'hard_braking_mps2 = -4.0\n[vehicle.signals."Vehicle.Speed"]\nfactor = nan',
        ),
        r"vehicle\.signals\.'Vehicle\.Speed'\.factor = nan is invalid: expected a finite number",
    ),
    "signal factor -inf": (
        vehicle(
            "hard_braking_mps2 = -4.0",
            'hard_braking_mps2 = -4.0\n[vehicle.signals."Vehicle.Speed"]\nfactor = -inf',
        ),
        r"vehicle\.signals\.'Vehicle\.Speed'\.factor = -inf is invalid",
    ),
    "a key with a newline": (
        VEHICLE.replace("[health]", '[health]\n"a\\nb" = 1'),
        r"unknown key 'health\.'a\\nb''",
    ),
    "empty host": (vehicle('host = "127.0.0.1"', 'host = ""'), r"mqtt\.host = '' is invalid"),
    "empty gnss port": (vehicle('port = "simulated"', 'port = ""'), r"gnss\.port = '' is invalid"),
}
BRIDGE_CASES = {
    "region #": (bridge('region = "+"', 'region = "#"'), r"bridge\.region = '#' is invalid"),
    "region a/b": (bridge('region = "+"', 'region = "a/b"'), r"bridge\.region = 'a/b' is invalid"),
    "region empty": (bridge('region = "+"', 'region = ""'), r"bridge\.region = '' is invalid"),
    "region a number": (bridge('region = "+"', "region = 7"), r"bridge\.region = 7 is invalid"),
    "client_id empty": (
        bridge('client_id = "roadgate-bridge"', 'client_id = ""'),
        r"mqtt\.client_id = '' is invalid: a non-empty MQTT client id",
    ),
    "client_id with NUL": (
        bridge('client_id = "roadgate-bridge"', 'client_id = "a\\u0000"'),
        r"mqtt\.client_id = 'a\\x00' is invalid: .*without NUL",
    ),
    "payload limit past MQTT": (
        bridge("max_payload_bytes = 65536", "max_payload_bytes = 4294967296"),
        r"bridge\.max_payload_bytes = 4294967296 is invalid: expected an integer in",
    ),
    "store of no user": (
        bridge('store = "roadgate-bridge.sqlite3"', 'store = "~nosuchuser/b.sqlite3"'),
        r"bridge\.store = '~nosuchuser/b\.sqlite3' is invalid",
    ),
}


LOADERS: dict[str, Callable[[Path], object]] = {
    "box": load_box_config,
    "bridge": load_bridge_config,
}
CONFIG_CASES = {
    (kind, case): cases[case]
    for kind, cases in (("box", TESTER_CASES), ("bridge", BRIDGE_CASES))
    for case in sorted(cases)
}


@pytest.mark.parametrize(
    ("kind", "case"), list(CONFIG_CASES), ids=[f"{k}-{c}" for k, c in CONFIG_CASES]
)
def test_a_value_that_would_fail_at_run_time_is_a_config_error(
    tmp_path: Path, kind: str, case: str
) -> None:
    text, message = CONFIG_CASES[kind, case]
    path = tmp_path / f"{kind}.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as caught:
        LOADERS[kind](path)
    assert str(caught.value).startswith(f"{path}: ")
    assert len(str(caught.value).splitlines()) == 1


def test_the_largest_valid_values_still_build(tmp_path: Path) -> None:
    """Each bound admits its edge: a check must not refuse what the run time takes."""
    text = vehicle(
        "keepalive_s = 30", "keepalive_s = 65535\nmqtt5 = true\nexpiry_s = 4294967295"
    ).replace("bitrate = 500000", 'bitrate = 500000\ndbc_encoding = "cp1252"')
    text += "\n[outbox]\nmax_mb = 1099511627776\nhard_max_mb = 1099511627776\npath = '~/x.db'\n"
    path = tmp_path / "box.toml"
    path.write_text(text)
    config = load_box_config(path)
    assert config.uplink.expiry_s == 2**32 - 1
    assert config.can[0].dbc_encoding == "cp1252"
    assert config.outbox.limits.hard_max_bytes == 2**60
    assert config.outbox.path == Path("~/x.db").expanduser()


def test_a_table_built_in_code_is_checked_like_a_file() -> None:
    with pytest.raises(ConfigError, match=r"here: a\.b\[1\] = nan is invalid"):
        Table.document({"a": {"b": [1.0, math.nan]}}, "here")
    nested: list[Any] = []
    for _ in range(10_000):  # deeper than Python's recursion limit
        nested = [nested]
    with pytest.raises(ConfigError, match="nested more than 32 levels"):
        Table.document({"x": nested}, "here")


# --- the command line: exit status 2, one line, no traceback --------------------------------


def roadgate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "firmware_py", *args],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=60,
        check=False,
    )


CLI_CASES = [
    ("check", "state_rate_hz nan"),
    ("run", "state_rate_hz nan"),
    ("run", "expiry over uint32"),
    ("run", "unknown dbc encoding"),
    ("check", "max_mb inf"),
    ("check", "path of no user"),
    ("check", "value code not ASCII digits"),
    ("check", "5,000-deep array"),
    ("run", "signal factor nan"),
    ("bridge", "region #"),
    ("bridge", "client_id empty"),
]


@pytest.mark.parametrize(("command", "case"), CLI_CASES)
def test_the_cli_ends_a_bad_value_with_one_line_and_status_2(
    tmp_path: Path, command: str, case: str
) -> None:
    text, message = BRIDGE_CASES[case] if command == "bridge" else TESTER_CASES[case]
    path = tmp_path / "config.toml"
    # The outbox of a box that (wrongly) started stays in tmp_path.
    path.write_text(text if "[outbox]" in text else text + "\n" + OUTBOX, encoding="utf-8")
    args = {
        "check": ["config", "check", str(path)],
        "bridge": ["config", "check", "--bridge", str(path)],
        "run": ["run", "--config", str(path), "--duration", "3"],
    }[command]
    result = roadgate(*args)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr[-2000:]
    assert re.search(message, lines[0]), lines[0]
    assert lines[0].startswith(f"roadgate: error: {path}: ")
