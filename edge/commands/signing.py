"""What a command's Ed25519 signature covers, and the keys that make it.

The signed bytes are ``SIGNING_CONTEXT`` followed by the ``Command`` serialized
deterministically with its ``signature`` field empty. The context keeps a signature over a
command from ever being valid for another kind of message; ``Command.target`` binds it to one
device and ``Command.nonce`` to one execution.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from protocols.schema.v1 import roadgate_pb2 as pb

SIGNING_CONTEXT = b"roadgate.v1.Command\n"
PUBLIC_KEY_BYTES = 32


def signed_bytes(command: pb.Command) -> bytes:
    """The bytes ``command``'s signature is over."""
    unsigned = pb.Command()
    unsigned.CopyFrom(command)
    unsigned.ClearField("signature")
    return SIGNING_CONTEXT + unsigned.SerializeToString(deterministic=True)


def raw_public_key(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    """A key's short name in commands: hex of the first 8 bytes of SHA-256 of its raw bytes."""
    return hashlib.sha256(raw_public_key(key)).hexdigest()[:16]


def sign(command: pb.Command, private_key: Ed25519PrivateKey) -> None:
    """Set ``command``'s ``key_id`` and ``signature`` (every other field must be final)."""
    command.key_id = key_id(private_key.public_key())
    command.signature = private_key.sign(signed_bytes(command))


def verify(command: pb.Command, public_key: Ed25519PublicKey) -> bool:
    """Whether ``command``'s signature is ``public_key``'s over its signed bytes."""
    try:
        public_key.verify(command.signature, signed_bytes(command))
    except InvalidSignature:
        return False
    return True


def public_key_from_text(text: str) -> Ed25519PublicKey:
    """An Ed25519 public key from base64 of its 32 raw bytes, or from PEM text.

    Raises ``ValueError`` for anything else (another key type included).
    """
    stripped = text.strip()
    if stripped.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(stripped.encode())
        except (ValueError, TypeError) as err:
            raise ValueError(f"not a PEM public key: {err}") from err
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError(f"not an Ed25519 key but {type(key).__name__}")
        return key
    try:
        raw = base64.b64decode(stripped, validate=True)
    except (binascii.Error, ValueError) as err:
        raise ValueError(f"neither PEM nor base64: {err}") from err
    if len(raw) != PUBLIC_KEY_BYTES:
        raise ValueError(f"{len(raw)} bytes, an Ed25519 public key has {PUBLIC_KEY_BYTES}")
    return Ed25519PublicKey.from_public_bytes(raw)


def private_key_from_pem(data: bytes) -> Ed25519PrivateKey:
    """An unencrypted PKCS#8 PEM Ed25519 private key; raises ``ValueError`` otherwise."""
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as err:
        raise ValueError(f"not an unencrypted PEM private key: {err}") from err
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"not an Ed25519 key but {type(key).__name__}")
    return key
