"""`roadgate broker acl`: the broker's ACL file from the fleet registry (enforcement itself is
tested on a real Mosquitto in tests/e2e/test_tls_acl.py)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_py.broker_acl import (
    UPLINK_STREAMS,
    FleetRegistry,
    RegisteredDevice,
    load_registry,
    parse_registry,
    render_acl,
    write_acl,
)
from firmware_py.cli import main
from firmware_py.config.reader import Table
from firmware_py.errors import ConfigError, FirmwareError

DEPLOY = Path(__file__).resolve().parents[2] / "firmware_py" / "deploy" / "mosquitto"
EXAMPLE = DEPLOY / "devices.example.toml"

segments = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,20}\Z")


def rules(acl: str) -> dict[str | None, list[tuple[str, str]]]:
    """``{user: [(access, topic)]}`` as Mosquitto's acl_file parser reads ``acl``; patterns
    under the key None."""
    parsed: dict[str | None, list[tuple[str, str]]] = {}
    user: str | None = None
    for line in acl.splitlines():
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        if word == "user":
            user = rest
            parsed.setdefault(user, [])
        elif word == "topic":
            access, _, topic = rest.partition(" ")
            parsed.setdefault(user, []).append((access, topic))
        else:
            parsed.setdefault(None, []).append((word, rest))
    return parsed


def test_the_shipped_acl_is_what_the_example_registry_generates() -> None:
    assert render_acl(load_registry(EXAMPLE)) == (DEPLOY / "roadgate.acl").read_text()


@given(st.dictionaries(segments, segments, min_size=0, max_size=8))
def test_each_device_writes_only_its_own_topics_and_services_only_theirs(
    regions: dict[str, str],
) -> None:
    devices = tuple(
        RegisteredDevice(d, r) for d, r in regions.items() if not d.startswith("roadgate-")
    )
    parsed = rules(render_acl(FleetRegistry("fleet.toml", devices)))
    assert None not in parsed  # no pattern rule, no rule outside a user block
    assert parsed.pop("roadgate-bridge") == [("read", "rg/v1/#")]
    assert parsed.pop("roadgate-commands") == [
        ("write", "rg/v1/+/+/cmd"),
        ("read", "rg/v1/+/+/ack"),
    ]
    assert set(parsed) == {d.device_id for d in devices}
    for device in devices:
        own = f"rg/v1/{device.region}/{device.device_id}"
        assert sorted(parsed[device.device_id]) == sorted(
            [("write", f"{own}/{s.value}") for s in UPLINK_STREAMS] + [("read", f"{own}/cmd")]
        )


def test_a_roadside_unit_also_reads_its_regions_vehicle_states(tmp_path: Path) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text(
        '[[device]]\nid = "rsu-1"\nregion = "r1"\nrole = "roadside_unit"\n'
        '[[device]]\nid = "veh-1"\nregion = "r1"\n'
    )
    parsed = rules(render_acl(load_registry(path)))
    assert ("read", "rg/v1/r1/+/state") in parsed["rsu-1"]
    assert all(access == "write" or topic.endswith("/cmd") for access, topic in parsed["veh-1"])


def test_service_identities_come_from_the_registry(tmp_path: Path) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text(
        '[identities]\nbridge = ["bridge-east", "bridge-west"]\ncommands = []\n'
        '[[device]]\nid = "veh-1"\nregion = "r1"\n'
    )
    parsed = rules(render_acl(load_registry(path)))
    assert set(parsed) == {"bridge-east", "bridge-west", "veh-1"}
    assert parsed["bridge-west"] == [("read", "rg/v1/#")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[device]]\nid = "veh/a"\nregion = "r"\n', "device[0].id = 'veh/a' is invalid"),
        ('[[device]]\nid = "veh-+"\nregion = "r"\n', "device[0].id = 'veh-+' is invalid"),
        ('[[device]]\nid = "veh a"\nregion = "r"\n', "device[0].id = 'veh a' is invalid"),
        ('[[device]]\nid = "veh-a"\nregion = "#"\n', "device[0].region = '#' is invalid"),
        ('[[device]]\nid = "veh-a"\n', "device[0].region is required"),
        ('[[device]]\nid = 7\nregion = "r"\n', "device[0].id = 7 is invalid"),
        (
            '[[device]]\nid = "veh-a"\nregion = "r"\n[[device]]\nid = "veh-a"\nregion = "s"\n',
            "device[1].id = 'veh-a' is invalid: listed twice (also at device[0])",
        ),
        (
            '[[device]]\nid = "roadgate-bridge"\nregion = "r"\n',
            "device[0].id = 'roadgate-bridge' is invalid: is a service identity",
        ),
        ('[[device]]\nid = "veh-a"\nregion = "r"\nrole = "x"\n', "device[0].role"),
        ('[[device]]\nid = "veh-a"\nregion = "r"\nrank = "x"\n', "unknown key 'device[0].rank'"),
        ("[identities]\nbridge = []\n", "identities.bridge = [] is invalid"),
        ('[identities]\nbridge = "b"\n', "identities.bridge = 'b' is invalid"),
        ('[identities]\ncommands = ["a/b"]\n', "identities.commands = ['a/b'] is invalid"),
        ("[devices]\n", "unknown key 'devices'"),
        ("device = 1\n", "device = 1 is invalid"),
        ("[[device\n", "not valid TOML"),
    ],
)
def test_an_invalid_registry_is_refused_with_the_key_and_value(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)) as err:
        load_registry(path)
    assert str(err.value).startswith(f"{path}: ")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)


@given(
    st.dictionaries(
        st.sampled_from(["device", "identities", "other"]),
        st.lists(st.dictionaries(st.sampled_from(["id", "region", "x"]), json_values))
        | json_values,
    )
)
def test_any_registry_content_is_read_or_refused_with_a_config_error(data: dict[str, Any]) -> None:
    outcome: FleetRegistry | ConfigError
    try:
        outcome = parse_registry(Table(data, "", "fuzz.toml"))
    except ConfigError as err:
        outcome = err
    if isinstance(outcome, ConfigError):
        assert str(outcome).startswith("fuzz.toml: ")
    else:
        render_acl(outcome)  # whatever is accepted renders


def test_the_command_prints_the_acl_or_writes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["broker", "acl", "--devices", str(EXAMPLE)]) == 0
    printed = capsys.readouterr().out
    assert printed == render_acl(load_registry(EXAMPLE))
    output = tmp_path / "roadgate.acl"
    output.write_text("old rules\n")
    assert main(["broker", "acl", "--devices", str(EXAMPLE), "-o", str(output)]) == 0
    assert output.read_text() == printed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["roadgate.acl"]  # no partial file left
    assert "3 devices" in capsys.readouterr().err


def test_the_command_fails_with_a_message_and_keeps_the_old_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry, output = tmp_path / "fleet.toml", tmp_path / "roadgate.acl"
    registry.write_text('[[device]]\nid = "veh/a"\nregion = "r"\n')
    output.write_text("old rules\n")
    assert main(["broker", "acl", "--devices", str(registry), "-o", str(output)]) == 2
    assert "device[0].id = 'veh/a' is invalid" in capsys.readouterr().err
    assert output.read_text() == "old rules\n"
    with pytest.raises(FirmwareError, match="cannot write the ACL file"):
        write_acl("rules\n", tmp_path / "missing" / "roadgate.acl")
