"""``[commands]`` of a box's config: who may command it, and how a remote config change is tried.

```toml
[commands]
# Ed25519 public keys whose signed commands the box carries out: base64 of the 32 raw bytes
# (what `roadgate command keygen` prints), or a PEM file (relative to this file's folder).
trusted_keys = ["q8C...=", "keys/operator.pub.pem"]
state_dir = "/var/lib/roadgate"  # the replay guard's nonces; default: the outbox's folder
max_lifetime_s = 3600.0          # a command valid for longer than this is refused
config_deadline_s = 120.0        # set_config: connected within this, or rolled back
```

No ``[commands]`` (or no trusted key): the box does not subscribe to its commands.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from firmware_py.config.reader import Table

MAX_LIFETIME_S = 7 * 24 * 3600.0


@dataclass(frozen=True)
class CommandsConfig:
    """``trusted_keys``: raw 32-byte Ed25519 public keys; ``state_dir`` None: the outbox's
    folder."""

    trusted_keys: tuple[bytes, ...] = ()
    state_dir: Path | None = None
    max_lifetime_s: float = 3600.0
    config_deadline_s: float = 120.0

    @property
    def enabled(self) -> bool:
        return bool(self.trusted_keys)


def parse_commands(t: Table, base_dir: Path) -> CommandsConfig:
    """``[commands]``; raises ``ConfigError`` naming the key for a key that is neither base64
    of an Ed25519 public key nor a readable PEM file of one."""
    keys = tuple(_trusted_key(t, text, base_dir) for text in t.strings("trusted_keys", ()))
    config = CommandsConfig(
        trusted_keys=keys,
        state_dir=t.file_path("state_dir", base_dir=base_dir) if t.has("state_dir") else None,
        max_lifetime_s=t.number("max_lifetime_s", 3600.0, above=0.0, high=MAX_LIFETIME_S),
        config_deadline_s=t.number("config_deadline_s", 120.0, above=0.0, high=3600.0),
    )
    t.reject_unknown()
    return config


def _trusted_key(t: Table, text: str, base_dir: Path) -> bytes:
    # Here, not at the top: cryptography costs a box without trusted keys about 8 MiB.
    from edge.commands.signing import public_key_from_text, raw_public_key

    expected = "base64 of a raw Ed25519 public key, or a PEM file of one"
    try:
        return raw_public_key(public_key_from_text(text))
    except ValueError as not_inline:
        path = Path(text).expanduser()
        path = path if path.is_absolute() else base_dir / path
        try:
            pem = path.read_text()
        except (OSError, UnicodeDecodeError, ValueError):
            raise t.error("trusted_keys", text, f"{expected} ({not_inline})") from not_inline
        try:
            return raw_public_key(public_key_from_text(pem))
        except ValueError as err:
            raise t.error("trusted_keys", text, f"{expected}; {path}: {err}") from err
