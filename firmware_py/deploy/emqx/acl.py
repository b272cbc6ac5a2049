"""The fleet registry as EMQX 5 authorization rules, equivalent to the Mosquitto ACL.

``render_emqx_acl`` writes EMQX's file source (``acl.conf``, Erlang terms) from the same
``FleetRegistry`` that :func:`firmware_py.broker_acl.render_acl` turns into Mosquitto's ACL, with
the same grants: the bridge identities read ``rg/v1/#``; the command identities write every
``cmd`` topic and read every ``ack``; each device writes its own uplink streams in its own
region and reads its own ``cmd`` (a roadside unit also its region's ``state``). Every rule
names one user exactly (``{username, "..."}``, never a regular expression), and the file ends with
``{deny, all}.``: an identity the registry does not name gets nothing, as with Mosquitto.

EMQX authorizes a shared subscription (``$share/<group>/rg/v1/...``) as its topic filter without
the prefix, so the bridge's rule covers its workers' shared subscriptions too. EMQX checks a
subscription's filter against the rules (Mosquitto 2 checks each message delivered): both allow
the filters RoadGate's clients subscribe to (``rg/v1/+/+/+`` or a region's, a device's ``cmd``,
a region's ``+/state``).

A file is fine for thousands of devices; for a city's 1.5 million, load the same rules into
EMQX's built-in database or a PostgreSQL authorization source (:func:`acl_rows` gives them as
(user, permission, action, topic) rows) and keep this file as the last, closing source.
"""

from __future__ import annotations

from pathlib import Path

from firmware_py.broker_acl import UPLINK_STREAMS, FleetRegistry
from protocols.topics import TOPIC_ROOT, Stream, Topic

Row = tuple[str, str, str, str]
"""(user, permission, action, topic): ``allow``; ``publish`` or ``subscribe``."""


def acl_rows(registry: FleetRegistry) -> list[Row]:
    """Every grant of ``registry``: services first, then devices by region and id."""
    rows: list[Row] = []
    for user in registry.bridge_users:
        rows.append((user, "allow", "subscribe", f"{TOPIC_ROOT}/#"))
    for user in registry.command_users:
        rows.append((user, "allow", "publish", f"{TOPIC_ROOT}/+/+/{Stream.CMD.value}"))
        rows.append((user, "allow", "subscribe", f"{TOPIC_ROOT}/+/+/{Stream.ACK.value}"))
    for device in sorted(registry.devices, key=lambda d: (d.region, d.device_id)):
        user = device.device_id
        for stream in UPLINK_STREAMS:
            rows.append((user, "allow", "publish", str(Topic(device.region, user, stream))))
        rows.append((user, "allow", "subscribe", str(Topic(device.region, user, Stream.CMD))))
        if device.reads_states:
            rows.append(
                (user, "allow", "subscribe", f"{TOPIC_ROOT}/{device.region}/+/{Stream.STATE.value}")
            )
    return rows


def render_emqx_acl(registry: FleetRegistry) -> str:
    """EMQX's ``acl.conf`` for ``registry``: one rule per user and action, then deny all."""
    name = Path(registry.source).name
    lines = [
        f"%% RoadGate authorization for EMQX 5 (file source), generated from {name}.",
        "%% The same grants as the Mosquitto ACL `roadgate broker acl` writes from that registry.",
        "%% Rules match top to bottom, the first match decides; each names one user exactly",
        "%% (the CN of its client certificate: peer_cert_as_username = cn in emqx.conf).",
        "%% Do not edit: change the registry and regenerate.",
        "",
    ]
    grouped: dict[tuple[str, str], list[str]] = {}
    for user, _, action, topic in acl_rows(registry):
        grouped.setdefault((user, action), []).append(topic)
    for (user, action), topics in grouped.items():
        quoted = ", ".join(f'"{topic}"' for topic in topics)
        lines.append(f'{{allow, {{username, "{user}"}}, {action}, [{quoted}]}}.')
    lines += ["", "%% Anyone and anything else: denied.", "{deny, all}.", ""]
    return "\n".join(lines)
