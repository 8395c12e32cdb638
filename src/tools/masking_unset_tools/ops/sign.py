"""``sign``: the headers of a correctly signed webhook request, and a curl line that sends it.

One small signer per source in :data:`SIGNERS`; adding a source is one function and one entry.
A value that *is* the secret (a shared token) is never printed: the curl line reads it from the
secret file at run time instead.
"""

from __future__ import annotations

import json
import shlex
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final
from urllib.parse import urlencode, urlsplit

from masking_unset_tools.ops.console import Out
from masking_unset_tools.ops.errors import UsageError

DEFAULT_BASE_URL = "http://127.0.0.1:8080"


@dataclass(frozen=True)
class SignInput:
    """What a signer needs: the raw body exactly as it will be sent, and where it goes."""

    source: str
    secret: str = field(repr=False)
    body: bytes
    url: str
    method: str = "POST"
    now: float = field(default_factory=time.time)
    delivery_id: str = field(default_factory=lambda: f"msg_{uuid.uuid4().hex}")


@dataclass(frozen=True)
class SignedRequest:
    """The request to send. ``secret_headers`` name headers whose value is the secret itself;
    ``secret_query`` names a query parameter that is (already added to ``url``)."""

    method: str
    url: str = field(repr=False)
    headers: dict[str, str] = field(repr=False)
    secret_headers: frozenset[str] = frozenset()
    secret_query: str | None = None
    base_url: str = ""  # ``url`` without the secret query parameter


Signer = Callable[[SignInput], SignedRequest]


def sign_generic(request: SignInput) -> SignedRequest:
    """Standard Webhooks v1: ``webhook-id``, ``webhook-timestamp``, ``webhook-signature``."""
    from masking_unset.logic.signatures import standard_webhooks_key, standard_webhooks_sign

    try:
        standard_webhooks_key(request.secret)
    except ValueError:
        raise UsageError("the generic source needs a whsec_ (base64) signing secret") from None
    timestamp = int(request.now)
    return SignedRequest(
        request.method,
        request.url,
        {
            "content-type": "application/json",
            "webhook-id": request.delivery_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": standard_webhooks_sign(
                request.secret, request.delivery_id, timestamp, request.body
            ),
        },
        base_url=request.url,
    )


def sign_zendesk(request: SignInput) -> SignedRequest:
    """Zendesk: base64 HMAC-SHA256 over the ISO-8601 timestamp followed by the body."""
    from masking_unset.sources import zendesk

    timestamp = datetime.fromtimestamp(int(request.now), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return SignedRequest(
        request.method,
        request.url,
        {
            "content-type": "application/json",
            zendesk.INVOCATION_HEADER: request.delivery_id,
            zendesk.TIMESTAMP_HEADER: timestamp,
            zendesk.SIGNATURE_HEADER: zendesk.zendesk_signature(
                request.secret, timestamp, request.body
            ),
        },
        base_url=request.url,
    )


def sign_hubspot(request: SignInput) -> SignedRequest:
    """HubSpot v3: method + the URL HubSpot calls + body + timestamp (milliseconds)."""
    from masking_unset.sources import hubspot

    timestamp = str(int(request.now * 1000))
    uri = hubspot.decode_signed_escapes(request.url)
    signature = hubspot.hubspot_signature(
        request.secret, request.method, uri, request.body, timestamp
    )
    return SignedRequest(
        request.method,
        request.url,
        {
            "content-type": "application/json",
            hubspot.TIMESTAMP_HEADER: timestamp,
            hubspot.SIGNATURE_HEADER: signature,
        },
        base_url=request.url,
    )


def sign_freshdesk(request: SignInput) -> SignedRequest:
    """Freshdesk is not signed: the shared token travels in a header."""
    from masking_unset.sources.freshdesk import TOKEN_HEADER

    return SignedRequest(
        request.method,
        request.url,
        {"content-type": "application/json", TOKEN_HEADER: request.secret},
        secret_headers=frozenset({TOKEN_HEADER}),
        base_url=request.url,
    )


def sign_salesforce(request: SignInput) -> SignedRequest:
    """Salesforce outbound messages are not signed: the shared token is a query parameter."""
    separator = "&" if urlsplit(request.url).query else "?"
    return SignedRequest(
        request.method,
        f"{request.url}{separator}{urlencode({'token': request.secret})}",
        {"content-type": "text/xml; charset=utf-8", "SOAPAction": '""'},
        secret_query="token",  # noqa: S106 - the parameter name, not its value
        base_url=request.url,
    )


SIGNERS: dict[str, Signer] = {
    "generic": sign_generic,
    "zendesk": sign_zendesk,
    "hubspot": sign_hubspot,
    "freshdesk": sign_freshdesk,
    "salesforce": sign_salesforce,
}
"""Source name -> signer. A source that is not here cannot be signed by this command."""

NEEDS_URL: Final = frozenset({"hubspot"})
"""Sources whose signature covers the URL: ``--url`` must be the one the sender calls."""


def read_secret(path: Path, source: str) -> str:
    """The signing secret in ``path``: the bare secret, or the ``WEBHOOK_SECRETS_ID`` JSON document
    (``{"generic": ["whsec_..."]}``), whose first secret for ``source`` is used."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot be read ({type(exc).__name__})") from None
    if text.startswith("{"):
        try:
            document = json.loads(text)
        except ValueError:
            raise UsageError(f"{path}: starts with {{ but is not JSON") from None
        entry = document.get(source) if isinstance(document, dict) else None
        if isinstance(entry, list):
            entry = entry[0] if entry else None
        if not isinstance(entry, str) or not entry:
            raise UsageError(f"{path}: has no secret for the source {source!r}")
        return entry
    if not text:
        raise UsageError(f"{path}: is empty")
    return text


def read_body(path: Path) -> bytes:
    """The body file's bytes, exactly as curl's ``--data-binary @FILE`` will send them."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot be read ({type(exc).__name__})") from None


def default_url(source: str) -> str:
    """Where ``masking-unset serve`` listens by default."""
    return f"{DEFAULT_BASE_URL}/webhooks/{source}"


def signer_for(source: str, *, url_given: bool) -> Signer:
    """The signer of ``source``; :class:`UsageError` for an unknown source, or a missing
    ``--url`` where the signature covers it."""
    signer = SIGNERS.get(source)
    if signer is None:
        known = ", ".join(sorted(SIGNERS))
        raise UsageError(f"cannot sign for the source {source!r} (known: {known})")
    if source in NEEDS_URL and not url_given:
        raise UsageError(f"{source} signs the URL it calls: pass --url")
    return signer


def sign(request: SignInput) -> SignedRequest:
    """Sign ``request`` with its source's signer; :class:`UsageError` for an unknown source."""
    signer = signer_for(request.source, url_given=True)
    parts = urlsplit(request.url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise UsageError("--url must be an http:// or https:// URL")
    return signer(request)


def carries_secret(signed: SignedRequest) -> bool:
    """Whether the request carries the secret itself (a token), not just a signature."""
    return bool(signed.secret_headers or signed.secret_query)


def shown_url(signed: SignedRequest) -> str:
    """The URL for display: a secret query parameter shown as ``<secret>``."""
    if not signed.secret_query:
        return signed.url
    separator = "&" if urlsplit(signed.base_url).query else "?"
    return f"{signed.base_url}{separator}{signed.secret_query}=<secret>"


def curl_line(signed: SignedRequest, body_file: str, secret_file: str | None) -> str:
    """A shell command that sends the signed request; a secret value is read from its file."""
    if carries_secret(signed) and secret_file is None:
        raise UsageError(
            "this source's token is the secret itself and is never printed: "
            "pass --secret-file (the curl line reads it from there)"
        )
    read_secret_cmd = f"$(cat {shlex.quote(secret_file or '')})"
    url = shlex.quote(signed.url)
    if signed.secret_query:
        separator = "&" if urlsplit(signed.base_url).query else "?"
        url = shlex.quote(f"{signed.base_url}{separator}{signed.secret_query}=")
        url += f'"{read_secret_cmd}"'
    words = ["curl", "-sS", "-i", "-X", signed.method, url]
    for name, value in signed.headers.items():
        words.append("-H")
        if name in signed.secret_headers:
            words.append(f'"{name}: {read_secret_cmd}"')
        else:
            words.append(shlex.quote(f"{name}: {value}"))
    words += ["--data-binary", shlex.quote(f"@{body_file}")]
    return " ".join(words)


def print_signed(
    signed: SignedRequest, out: Out, *, body_file: str, secret_file: str | None
) -> None:
    """The request line, the headers (a secret value hidden), and the curl line."""
    curl = curl_line(signed, body_file, secret_file)  # first: it refuses before anything prints
    out(f"{signed.method} {shown_url(signed)}")
    for name, value in signed.headers.items():
        shown = "<secret from the secret file>" if name in signed.secret_headers else value
        out(f"{name}: {shown}")
    out("")
    out(curl)
