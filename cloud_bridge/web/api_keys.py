"""API keys: random tokens given to a client, kept at rest only as their SHA-256.

A key is 32 random bytes (``secrets.token_urlsafe``), so a plain SHA-256 of it cannot be
reversed or guessed; a slow password hash (bcrypt, scrypt) guards low-entropy secrets and would
only cost time per request here. Hashes are written ``sha256:<64 hex digits>``, so another
algorithm can be added later.

``python -m cloud_bridge.web.api_keys`` prints a new key and the hash to put in the config.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping

_PREFIX = "sha256:"
_HASH = re.compile(r"^sha256:[0-9a-f]{64}$")


def new_key() -> str:
    """A fresh random key (43 URL-safe characters)."""
    return secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The at-rest form of ``key``."""
    return _PREFIX + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def check_key_hash(value: str) -> str:
    """Return ``value`` if it is a key hash as :func:`hash_key` writes it; else ``ValueError``."""
    if not _HASH.match(value):
        raise ValueError(f"{value[:80]!r} is not a key hash: expected sha256:<64 hex digits>")
    return value


class KeyRing:
    """Which regions each key may read, from ``region -> key hashes``."""

    def __init__(self, hashes_by_region: Mapping[str, tuple[str, ...]]) -> None:
        regions: dict[str, set[str]] = {}
        for region, hashes in hashes_by_region.items():
            for key_hash in hashes:
                regions.setdefault(check_key_hash(key_hash), set()).add(region)
        self._regions = {h: frozenset(r) for h, r in regions.items()}

    def regions_of(self, key: str) -> frozenset[str] | None:
        """The regions ``key`` may read, or None for a key that is not configured."""
        presented = hash_key(key)
        found: frozenset[str] | None = None
        # Compare with every hash in constant time: no timing tells how close a guess was.
        for key_hash, regions in self._regions.items():
            if hmac.compare_digest(presented, key_hash):
                found = regions
        return found


def main() -> None:
    """Print a new key and its hash."""
    key = new_key()
    print(f"key:  {key}")
    print(f"hash: {hash_key(key)}")
    print('config: [web.api_keys] <region> = ["<hash>"]   (give the key to the client only)')


if __name__ == "__main__":
    main()
