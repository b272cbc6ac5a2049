"""Is a payload on a box's ``cmd`` topic a command it may carry out?

Checked in this order, the first failure naming the ack's reason: an Envelope holding a
Command (``malformed``, ``not_a_command``); for this device (``wrong_target``); signed by a
trusted key (``unknown_key``, ``bad_signature``); not expired and not valid for longer than
``max_lifetime_s`` (``no_expiry``, ``expired``, ``lifetime_too_long``: that bound is how long
nonces are kept); a nonce of 16 to 64 bytes never seen before (``bad_nonce``, ``replayed``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge.commands.errors import CommandRejectedError
from edge.commands.nonces import NonceStore
from edge.commands.signing import key_id, verify
from protocols.envelope import decode
from protocols.errors import ProtocolError
from protocols.schema.v1 import roadgate_pb2 as pb

MIN_NONCE_BYTES = 16
MAX_NONCE_BYTES = 64


@dataclass(frozen=True)
class CommandTarget:
    """The device commands must name: ``Command.target`` is ``"{region}/{device_id}"``."""

    region: str
    device_id: str

    def __str__(self) -> str:
        return f"{self.region}/{self.device_id}"


class CommandVerifier:
    """Turns payloads into commands this device may carry out, or ``CommandRejectedError``."""

    def __init__(
        self,
        target: CommandTarget,
        trusted_keys: Iterable[Ed25519PublicKey],
        nonces: NonceStore,
        *,
        max_lifetime_s: float = 3600.0,
        now_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self._target = str(target)
        self._keys = {key_id(key): key for key in trusted_keys}
        self._nonces = nonces
        self._max_lifetime_ns = int(max_lifetime_s * 1e9)
        self._now_ns = now_ns

    def verify(self, payload: bytes) -> pb.Command:
        """The command in ``payload``; raises ``CommandRejectedError`` at the first failed
        check."""
        try:
            envelope = decode(payload)
        except ProtocolError as err:
            raise CommandRejectedError("malformed", str(err)) from err
        body = envelope.WhichOneof("body")
        if body != "command":
            raise CommandRejectedError("not_a_command", f"an Envelope of {body}")
        command = envelope.command
        cid = command.command_id
        if command.target != self._target:
            raise CommandRejectedError(
                "wrong_target", f"for {command.target!r}, this is {self._target!r}", cid
            )
        key = self._keys.get(command.key_id)
        if key is None:
            raise CommandRejectedError("unknown_key", f"key {command.key_id!r} is not trusted", cid)
        if not verify(command, key):
            raise CommandRejectedError("bad_signature", f"not signed by key {command.key_id}", cid)
        now = self._now_ns()
        if command.expires_time_ns <= 0:
            raise CommandRejectedError("no_expiry", "the command carries no expiry time", cid)
        if command.expires_time_ns <= now:
            ago = (now - command.expires_time_ns) / 1e9
            raise CommandRejectedError("expired", f"expired {ago:.1f} s ago", cid)
        if command.expires_time_ns - now > self._max_lifetime_ns:
            raise CommandRejectedError(
                "lifetime_too_long",
                f"valid for {(command.expires_time_ns - now) / 1e9:.0f} s, at most "
                f"{self._max_lifetime_ns / 1e9:.0f} s accepted",
                cid,
            )
        if not MIN_NONCE_BYTES <= len(command.nonce) <= MAX_NONCE_BYTES:
            raise CommandRejectedError(
                "bad_nonce", f"{len(command.nonce)} bytes, {MIN_NONCE_BYTES}..64 expected", cid
            )
        try:
            fresh = self._nonces.remember(
                command.key_id, command.nonce, command.expires_time_ns, now
            )
        except CommandRejectedError as err:
            raise CommandRejectedError(err.reason, err.detail, cid) from err
        if not fresh:
            raise CommandRejectedError("replayed", "this nonce was already used", cid)
        return command
