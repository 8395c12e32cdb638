"""Webhook signature schemes, verified over the raw request bytes before anything is parsed."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime

from standardwebhooks import Webhook

from masking_unset.models.errors import AuthenticationFailed

TOLERANCE_SECONDS = 5 * 60
# The shortest Standard Webhooks key accepted (the spec's own secrets are 24 to 64 bytes).
MIN_STANDARD_WEBHOOKS_KEY_BYTES = 24
# Unix milliseconds have 13 digits until the year 2286; anything longer is not a time.
MAX_TIMESTAMP_DIGITS = 16
MAX_ISO_TIMESTAMP_LENGTH = 64
# ASCII only: str.isdigit() also accepts "²" and other digits int() refuses or reads otherwise.
_UNIX_TIME = re.compile(rf"[0-9]{{1,{MAX_TIMESTAMP_DIGITS}}}", re.ASCII)


def hmac_sha256_b64(key: bytes, content: bytes) -> str:
    """Base64 HMAC-SHA256, the encoding every supported sender uses."""
    return base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode("ascii")


def any_matches(expected: Iterable[str], offered: Iterable[str]) -> bool:
    """Whether any expected value equals any offered one. Every pair is compared in constant
    time, so the time taken tells nothing about which secret or entry matched."""
    candidates = [value.encode() for value in offered]
    results = [hmac.compare_digest(e.encode(), c) for e in expected for c in candidates]
    return any(results)


def parse_unix_time(text: str, *, header: str, milliseconds: bool = False) -> float:
    """Unix seconds from a timestamp header of ASCII digits (unix milliseconds when
    ``milliseconds``). Raises :class:`AuthenticationFailed` (``invalid_timestamp``) for anything
    else: signs, blanks, other digits, or more than :data:`MAX_TIMESTAMP_DIGITS` of them."""
    if not _UNIX_TIME.fullmatch(text):
        unit = "milliseconds" if milliseconds else "seconds"
        raise AuthenticationFailed(f"{header} must be unix {unit}", code="invalid_timestamp")
    value = int(text)
    return value / 1000 if milliseconds else float(value)


def parse_iso_time(text: str, *, header: str) -> float:
    """Unix seconds from an ISO-8601 timestamp header (UTC when it names no offset). Raises
    :class:`AuthenticationFailed` (``invalid_timestamp``) for anything else."""
    text = text.strip()
    try:
        if len(text) > MAX_ISO_TIMESTAMP_LENGTH or not text.isascii():
            raise ValueError
        when = datetime.fromisoformat(text)
        return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()
    except (ValueError, OverflowError):
        raise AuthenticationFailed(
            f"{header} must be an ISO-8601 time", code="invalid_timestamp"
        ) from None


def check_timestamp_window(
    timestamp: float, now: float, tolerance: float = TOLERANCE_SECONDS
) -> None:
    """Reject a timestamp more than ``tolerance`` seconds in the past or in the future."""
    if not math.isfinite(timestamp) or abs(now - timestamp) > tolerance:
        raise AuthenticationFailed(
            "signature timestamp is outside the 5-minute window", code="stale_signature"
        )


def standard_webhooks_key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret: ``whsec_`` removed, then base64-decoded."""
    try:
        return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not a base64 Standard Webhooks secret") from None


def standard_webhooks_v1(key: bytes, msg_id: str, timestamp: str, body: bytes) -> str:
    """The base64 ``v1`` signature of ``{msg_id}.{timestamp}.{body}``, computed by the spec
    authors' library (``standardwebhooks``) wherever it can be."""
    try:
        text = body.decode("utf-8")
        when = datetime.fromtimestamp(int(timestamp), tz=UTC)
        canonical = str(int(timestamp)) == timestamp
    except (ValueError, OverflowError, OSError):
        text, canonical = None, False
    if text is None or not canonical or not key:
        # The library signs str data (it encodes it again) and renders the timestamp from a
        # datetime: a body that is not UTF-8, a timestamp with leading zeros or past year 9999
        # would be signed over other bytes than the sender's, or not at all. The spec signs the
        # raw bytes, so do that here. (An empty key, which the library refuses, only signs in tests
        # that prove verification ignores keys under MIN_STANDARD_WEBHOOKS_KEY_BYTES.)
        return hmac_sha256_b64(key, f"{msg_id}.{timestamp}.".encode() + body)
    return Webhook(key).sign(msg_id, when, text).split(",", 1)[1]


def standard_webhooks_sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value (``v1,<base64>``) for one secret."""
    return "v1," + standard_webhooks_v1(standard_webhooks_key(secret), msg_id, str(timestamp), body)


def verify_standard_webhooks(
    *,
    secrets: Iterable[str],
    msg_id: str | None,
    timestamp: str | None,
    signature_header: str | None,
    body: bytes,
    now: float,
) -> None:
    """Verify a Standard Webhooks v1 signature; raise :class:`AuthenticationFailed` if it fails.

    Passes when any ``v1`` entry of the header matches any of ``secrets`` (several of either are
    how senders and receivers rotate secrets). Unknown versions are ignored.

    The signature itself comes from ``standardwebhooks`` (:func:`standard_webhooks_v1`); its
    ``Webhook.verify`` is not used because it reads ``datetime.now`` itself (no injectable clock,
    and it accepts fractional and signed timestamps), takes one secret only, decodes the body
    strictly, and raises ``ValueError``/``binascii.Error`` (a 500) on an entry without exactly one
    comma or with bad base64, where a sender's odd entry must only be skipped.
    """
    if not msg_id or not timestamp or not signature_header:
        raise AuthenticationFailed(
            "webhook-id, webhook-timestamp and webhook-signature headers are required",
            code="missing_signature",
        )
    check_timestamp_window(parse_unix_time(timestamp, header="webhook-timestamp"), now)
    offered = [
        entry.split(",", 1)[1]
        for entry in signature_header.split()
        if entry.startswith("v1,") and len(entry) > 3
    ]
    if not offered:
        raise AuthenticationFailed("webhook-signature has no v1 entry")
    keys = []
    for secret in secrets:
        try:
            key = standard_webhooks_key(secret)
        except ValueError:
            continue  # a malformed secret can't match; the others still may
        if len(key) >= MIN_STANDARD_WEBHOOKS_KEY_BYTES:  # an empty key would sign for anyone
            keys.append(key)
    expected = (standard_webhooks_v1(key, msg_id, timestamp, body) for key in keys)
    if not any_matches(expected, offered):
        raise AuthenticationFailed("signature does not match")
