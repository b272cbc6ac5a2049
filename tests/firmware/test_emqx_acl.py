"""The EMQX authorization rules grant exactly what the Mosquitto ACL grants, identity by identity.

Both files are read back and evaluated the way each broker does: Mosquitto allows what any of
the user's ``topic read|write`` lines matches; EMQX takes the first rule whose user and action
match and whose topic filter matches, and denies when none does. Probed on every topic of every
device and stream in the registry's regions and beyond, for every identity and an unknown one,
and on the subscription filters RoadGate's clients use.
"""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_py.broker_acl import (
    DEFAULT_BRIDGE_USERS,
    DEFAULT_COMMAND_USERS,
    FleetRegistry,
    RegisteredDevice,
    load_registry,
    render_acl,
)
from firmware_py.deploy.emqx.acl import render_emqx_acl
from protocols.topics import Stream

DEPLOY = Path(__file__).resolve().parents[2] / "firmware_py" / "deploy"
EXAMPLE = DEPLOY / "mosquitto" / "devices.example.toml"

MosquittoRules = dict[str, list[tuple[str, str]]]  # user -> [(read|write|readwrite, pattern)]
EmqxRule = tuple[str, str | None, str, list[str]]  # (permission, user or None: all, action, topics)


def matches(pattern: str, topic: str) -> bool:
    """Whether MQTT filter ``pattern`` covers ``topic`` (a name, or a filter whose wildcards
    must be covered in turn: ``+`` by ``+`` or ``#``, ``#`` by ``#``)."""
    p, t = pattern.split("/"), topic.split("/")
    for i, word in enumerate(p):
        if word == "#":
            return True
        if i >= len(t) or t[i] == "#" or (word != "+" and word != t[i]):
            return False
    return len(p) == len(t)


def parse_mosquitto(text: str) -> MosquittoRules:
    rules: MosquittoRules = {}
    user = None
    for line in text.splitlines():
        if line.startswith("user "):
            user = line.split(" ", 1)[1]
            rules.setdefault(user, [])
        elif line.startswith("topic "):
            assert user is not None
            _, access, pattern = line.split(" ")
            rules[user].append((access, pattern))
        else:
            assert not line.strip() or line.startswith("#"), line  # nothing else: no patterns
    return rules


_RULE = re.compile(
    r'^\{(allow|deny), \{username, "([^"]+)"\}, (publish|subscribe|all), \[(.*)\]\}\.$'
)


def parse_emqx(text: str) -> list[EmqxRule]:
    rules: list[EmqxRule] = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("%%"):
            continue
        if line == "{deny, all}.":
            rules.append(("deny", None, "all", ["#"]))
            continue
        found = _RULE.match(line)
        assert found, line
        topics = re.findall(r'"([^"]+)"', found.group(4))
        rules.append((found.group(1), found.group(2), found.group(3), topics))
    return rules


def mosquitto_allows(rules: MosquittoRules, user: str, action: str, topic: str) -> bool:
    wanted = "write" if action == "publish" else "read"
    return any(
        access in (wanted, "readwrite") and matches(pattern, topic)
        for access, pattern in rules.get(user, [])
    )


def emqx_allows(rules: list[EmqxRule], user: str, action: str, topic: str) -> bool:
    # A shared subscription is authorized as its filter without "$share/<group>/".
    if topic.startswith("$share/"):
        topic = topic.split("/", 2)[2]
    for permission, who, rule_action, topics in rules:
        if who not in (None, user) or rule_action not in (action, "all"):
            continue
        if any(matches(pattern, topic) for pattern in topics):
            return permission == "allow"
    return False  # authorization.no_match = deny


def probes(registry: FleetRegistry) -> list[tuple[str, str]]:
    """(action, topic) pairs: every stream of known and unknown devices and regions, and the
    subscription filters RoadGate's clients use."""
    regions = sorted({d.region for d in registry.devices} | {"elsewhere"})
    devices = sorted({d.device_id for d in registry.devices} | {"veh-stranger"})
    result = []
    for region in regions:
        for device in devices:
            for stream in Stream:
                topic = f"rg/v1/{region}/{device}/{stream.value}"
                result += [("publish", topic), ("subscribe", topic)]
        result += [
            ("subscribe", f"rg/v1/{region}/+/state"),
            ("subscribe", f"rg/v1/{region}/+/+"),
        ]
    for flt in ("rg/v1/+/+/+", "rg/v1/#", "#", "rg/v1/+/+/ack", "$share/ingest/rg/v1/+/+/+"):
        result.append(("subscribe", flt))
    return result


def assert_equivalent(registry: FleetRegistry) -> int:
    mosquitto = parse_mosquitto(render_acl(registry))
    emqx = parse_emqx(render_emqx_acl(registry))
    users = [*mosquitto, "intruder"]
    checked = 0
    for user in users:
        for action, topic in probes(registry):
            # Mosquitto strips "$share/<group>/" too before its ACL check.
            plain = topic.split("/", 2)[2] if topic.startswith("$share/") else topic
            expected = mosquitto_allows(mosquitto, user, action, plain)
            assert emqx_allows(emqx, user, action, topic) == expected, (user, action, topic)
            checked += 1
    return checked


def test_the_shipped_example_is_generated_from_the_example_registry() -> None:
    registry = load_registry(EXAMPLE)
    assert (DEPLOY / "emqx" / "acl.conf").read_text() == render_emqx_acl(registry)


def test_the_example_grants_the_same_as_mosquitto() -> None:
    registry = load_registry(EXAMPLE)
    assert assert_equivalent(registry) > 500
    emqx = parse_emqx(render_emqx_acl(registry))
    # Spot checks that the model itself tells grants apart.
    assert emqx_allows(emqx, "veh-001", "publish", "rg/v1/xian-gaoxin/veh-001/state")
    assert not emqx_allows(emqx, "veh-001", "publish", "rg/v1/xian-gaoxin/veh-002/state")
    assert not emqx_allows(emqx, "veh-001", "subscribe", "rg/v1/xian-gaoxin/+/state")
    assert emqx_allows(emqx, "rsu-001", "subscribe", "rg/v1/xian-gaoxin/+/state")
    assert emqx_allows(emqx, "roadgate-bridge", "subscribe", "$share/ingest/rg/v1/+/+/+")
    assert not emqx_allows(emqx, "roadgate-bridge", "publish", "rg/v1/xian-gaoxin/veh-001/cmd")
    assert not emqx_allows(emqx, "intruder", "subscribe", "rg/v1/#")


_ID = st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True)


@st.composite
def registries(draw: st.DrawFn) -> FleetRegistry:
    ids = draw(st.lists(_ID, unique=True, max_size=6))
    services = set(DEFAULT_BRIDGE_USERS) | set(DEFAULT_COMMAND_USERS)
    regions = draw(st.lists(_ID, min_size=1, max_size=3, unique=True))
    devices = tuple(
        RegisteredDevice(d, draw(st.sampled_from(regions)), draw(st.booleans()))
        for d in ids
        if d not in services
    )
    return FleetRegistry("generated.toml", devices)


@settings(max_examples=40, deadline=None)
@given(registries())
def test_any_registry_grants_the_same_on_both_brokers(registry: FleetRegistry) -> None:
    assert_equivalent(registry)
