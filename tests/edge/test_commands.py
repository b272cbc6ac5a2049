"""Command verification: each reason a command is refused, the replay guard on disk, and
arbitrary payloads, which are refused with a reason and never crash."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.commands.dispatcher import CommandDispatcher, RestartService, ping
from edge.commands.errors import CommandRejectedError
from edge.commands.nonces import NonceStore
from edge.commands.signing import public_key_from_text, raw_public_key, sign, verify
from edge.commands.verification import CommandTarget, CommandVerifier
from protocols.envelope import seal
from protocols.schema.v1 import roadgate_pb2 as pb
from tests.edge.command_signing import envelope_bytes, signed_command

KEY = Ed25519PrivateKey.generate()
OTHER_KEY = Ed25519PrivateKey.generate()
REASONS = {
    "malformed",
    "not_a_command",
    "wrong_target",
    "unknown_key",
    "bad_signature",
    "no_expiry",
    "expired",
    "lifetime_too_long",
    "bad_nonce",
    "replayed",
}


@pytest.fixture
def nonces() -> Iterator[NonceStore]:
    store = NonceStore(":memory:")
    yield store
    store.close()


def verifier(nonces: NonceStore) -> CommandVerifier:
    return CommandVerifier(
        CommandTarget("test-region", "veh-9"), [KEY.public_key()], nonces, max_lifetime_s=600
    )


def rejection(check: CommandVerifier, payload: bytes) -> CommandRejectedError:
    with pytest.raises(CommandRejectedError) as caught:
        check.verify(payload)
    return caught.value


def test_a_signed_command_is_accepted_once(nonces: NonceStore) -> None:
    check = verifier(nonces)
    command = signed_command(KEY, "set_config", arguments={"patch": "[health]\nperiod_s = 2\n"})
    payload = envelope_bytes(command)
    assert check.verify(payload) == command
    refused = rejection(check, payload)
    assert (refused.reason, refused.command_id) == ("replayed", command.command_id)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: signed_command(OTHER_KEY), "unknown_key"),
        (lambda: signed_command(KEY, target="test-region/veh-10"), "wrong_target"),
        (lambda: signed_command(KEY, expires_in_s=-1), "expired"),
        (lambda: signed_command(KEY, expires_in_s=3600), "lifetime_too_long"),
        (lambda: signed_command(KEY, nonce=b"short"), "bad_nonce"),
    ],
)
def test_refusals_name_their_reason(nonces: NonceStore, make: object, reason: str) -> None:
    assert callable(make)
    command = make()
    refused = rejection(verifier(nonces), envelope_bytes(command))
    assert (refused.reason, refused.command_id) == (reason, command.command_id)


def test_a_changed_field_breaks_the_signature(nonces: NonceStore) -> None:
    command = signed_command(KEY, "restart_service", arguments={"name": "bridge"})
    command.arguments["name"] = "sshd"
    assert rejection(verifier(nonces), envelope_bytes(command)).reason == "bad_signature"
    command = signed_command(KEY)
    command.signature = bytes(64)
    assert rejection(verifier(nonces), envelope_bytes(command)).reason == "bad_signature"


def test_a_command_without_expiry_is_refused(nonces: NonceStore) -> None:
    command = signed_command(KEY)
    command.expires_time_ns = 0
    sign(command, KEY)  # signed without an expiry: never valid
    assert rejection(verifier(nonces), envelope_bytes(command)).reason == "no_expiry"


def test_other_payloads_are_refused(nonces: NonceStore) -> None:
    check = verifier(nonces)
    assert rejection(check, b"\xff\x00garbage").reason == "malformed"
    health = seal(
        pb.DeviceHealth(),
        device_id="veh-9",
        boot_id="b",
        sequence=1,
        capture_time_ns=1,
        publish_time_ns=1,
        clock_source=pb.CLOCK_SOURCE_SYSTEM,
    )
    assert rejection(check, health.SerializeToString()).reason == "not_a_command"


def test_nonces_are_remembered_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "nonces.sqlite3"
    payload = envelope_bytes(signed_command(KEY))
    first = NonceStore(path)
    verifier(first).verify(payload)
    first.close()
    again = NonceStore(path)
    try:
        assert rejection(verifier(again), payload).reason == "replayed"
    finally:
        again.close()


def test_nonces_are_pruned_after_their_expiry_and_grace() -> None:
    store = NonceStore(":memory:", grace_s=10)
    now = time.time_ns()
    assert store.remember("k", b"a" * 16, now - 11 * 10**9, now)
    assert store.remember("k", b"b" * 16, now - 9 * 10**9, now)
    assert store.remember("k", b"c" * 16, now + 10**9, now)
    assert len(store) == 2  # "a" went when "b" came; "b" is within the grace
    assert not store.remember("k", b"b" * 16, now + 10**9, now)
    store.close()


def test_public_keys_read_as_base64_or_pem() -> None:
    public = KEY.public_key()
    raw = raw_public_key(public)
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    assert raw_public_key(public_key_from_text(base64.b64encode(raw).decode())) == raw
    assert raw_public_key(public_key_from_text(pem)) == raw
    command = signed_command(KEY)
    assert verify(command, public_key_from_text(pem))
    for bad in ("", "abc", base64.b64encode(b"x" * 31).decode(), "-----BEGIN PUBLIC KEY-----"):
        with pytest.raises(ValueError, match=r"PEM|base64|bytes"):
            public_key_from_text(bad)


@given(st.text(max_size=200))
def test_any_key_text_is_a_key_or_a_value_error(text: str) -> None:
    with contextlib.suppress(ValueError):  # anything else fails the test
        public_key_from_text(text)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_arbitrary_payloads_are_refused_with_a_reason(payload: bytes) -> None:
    store = NonceStore(":memory:")
    try:
        assert rejection(verifier(store), payload).reason in REASONS
    finally:
        store.close()


commands = st.builds(
    pb.Command,
    command_id=st.text(max_size=20),
    name=st.sampled_from(["ping", "set_config", "", "rm -rf"]),
    arguments=st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3),
    expires_time_ns=st.integers(-(2**63), 2**63 - 1),
    issuer=st.text(max_size=8),
    signature=st.binary(max_size=80),
    key_id=st.sampled_from(["", "0011223344556677"]),
    nonce=st.binary(max_size=80),
    target=st.sampled_from(["", "test-region/veh-9", "x/y"]),
)


@settings(max_examples=200, deadline=None)
@given(commands)
def test_forged_commands_are_refused_with_a_reason(command: pb.Command) -> None:
    store = NonceStore(":memory:")
    try:
        refused = rejection(verifier(store), envelope_bytes(command))
        assert refused.reason in REASONS
        assert refused.command_id == command.command_id or refused.reason == "malformed"
    finally:
        store.close()


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=256))
def test_the_dispatcher_acks_every_payload_once(payload: bytes) -> None:
    store = NonceStore(":memory:")
    acks: list[pb.CommandAck] = []
    dispatcher = CommandDispatcher(
        verifier(store), {"ping": ping, "restart_service": RestartService(None)}, acks.append
    )
    try:
        asyncio.run(dispatcher.receive(payload))
    finally:
        store.close()
    [ack] = acks
    assert ack.result == pb.ACK_RESULT_REJECTED
    assert ack.message.split(":")[0] in REASONS
    assert sum(dispatcher.rejected.values()) == 1
