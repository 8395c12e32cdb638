"""The per-deployment key of every stored hash (docs/security.md, "What is stored").

A phone number has about 10^10 values: a plain hash of one is reversed in seconds. Whatever the
product stores or emits about a number is an HMAC-SHA256 under a key read from the secret that
``HASH_KEY_SECRET_ID`` names: ``{"key": "<base64>", "previous_keys": ["<base64>", ...]}``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from masking_unset.models.errors import ConfigurationError

HASH_KEY_VARIABLE = "HASH_KEY_SECRET_ID"
MIN_KEY_BYTES = 32


def keyed_digest(key: bytes, *parts: str) -> str:
    """HMAC-SHA256 of ``parts`` under ``key``, hex. The parts are hashed as a JSON array: no
    text a sender puts in one (a separator, a quote) can make two different lists hash alike."""
    message = json.dumps(list(parts), separators=(",", ":"))  # ASCII: any str encodes
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


class HashKeys:
    """The current key and the previous ones still honoured for lookups, newest first.

    New records are written under :attr:`current` only; a record written under a previous key
    is still found, so rotating the key inside the idempotency window causes no second expiry.
    The key bytes never appear in a repr.
    """

    __slots__ = ("_keys",)

    def __init__(self, current: bytes, *previous: bytes) -> None:
        # A previous key equal to the current one would only cost a second lookup.
        keys = [current]
        keys.extend(key for key in previous if key not in keys)
        self._keys = tuple(keys)

    def __repr__(self) -> str:
        return f"HashKeys(<{len(self._keys)} key(s) hidden>)"

    def digest(self, *parts: str) -> str:
        """The stored stand-in for ``parts`` under the current key."""
        return keyed_digest(self._keys[0], *parts)

    def digests(self, *parts: str) -> tuple[str, ...]:
        """The stand-ins for ``parts`` under every key, the current one first: what a lookup
        matches."""
        return tuple(keyed_digest(key, *parts) for key in self._keys)


def _decode(value: object, what: str) -> bytes:
    # The message says what is wrong with the value, never the value.
    problem = f"the secret named by {HASH_KEY_VARIABLE}: {what}"
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{problem} is missing or not text")
    try:
        key = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError(f"{problem} is not base64") from None
    if len(key) < MIN_KEY_BYTES:
        raise ConfigurationError(f"{problem} is shorter than {MIN_KEY_BYTES} bytes")
    return key


def parse_hash_keys(document: Mapping[str, Any]) -> HashKeys:
    """The keys of the secret's JSON: ``key`` (base64 of at least 32 bytes) and optionally
    ``previous_keys`` (a list of such, newest first). Raises :class:`ConfigurationError`
    naming ``HASH_KEY_SECRET_ID``, never showing a value."""
    current = _decode(document.get("key"), '"key"')
    previous = document.get("previous_keys", [])
    if not isinstance(previous, list):
        raise ConfigurationError(
            f'the secret named by {HASH_KEY_VARIABLE}: "previous_keys" must be a list'
        )
    return HashKeys(
        current,
        *(_decode(value, f'"previous_keys"[{i}]') for i, value in enumerate(previous)),
    )
