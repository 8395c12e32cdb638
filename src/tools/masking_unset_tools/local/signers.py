"""Fresh credentials for stored API Gateway events, one small signer per webhook source.

Signed events go stale after five minutes: the demo and the tests sign each ``events/`` file
again right before invoking the handler, with the source's demo secret unless told otherwise.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from masking_unset.sources import freshdesk, hubspot, zendesk
from masking_unset_tools.local.stack import DEMO_SOURCE_SECRETS, resign_api_event

EventSigner = Callable[[dict[str, Any], str, float], dict[str, Any]]


def raw_body(event: Mapping[str, Any]) -> bytes:
    """The body bytes as the sender signed them."""
    body = event.get("body") or ""
    return base64.b64decode(body) if event.get("isBase64Encoded") else str(body).encode()


def with_headers(event: Mapping[str, Any], values: Mapping[str, str]) -> dict[str, Any]:
    """A copy of ``event`` with ``values`` set, replacing headers of any case (REST API events
    keep the sender's case) and keeping ``multiValueHeaders`` in step."""
    headers = dict(event.get("headers") or {})
    for name, value in values.items():
        existing = [key for key in headers if key.lower() == name.lower()]
        for key in existing:
            del headers[key]
        headers[existing[0] if existing else name.lower()] = value
    signed = {**event, "headers": headers}
    if "multiValueHeaders" in event:
        signed["multiValueHeaders"] = {key: [value] for key, value in headers.items()}
    return signed


def with_query(event: Mapping[str, Any], values: Mapping[str, str]) -> dict[str, Any]:
    """A copy of ``event`` with query parameters set, in every place API Gateway puts them."""
    raw = str(event.get("rawQueryString") or "")
    params = {k: v for k, v in parse_qsl(raw, keep_blank_values=True) if k not in values}
    params.update(values)
    signed = {**event, "queryStringParameters": params}
    if event.get("version") == "2.0":
        signed["rawQueryString"] = urlencode(params)
    if "multiValueQueryStringParameters" in event:
        signed["multiValueQueryStringParameters"] = {k: [v] for k, v in params.items()}
    return signed


def event_uri(event: Mapping[str, Any], base_url: str | None = None) -> str:
    """The https URI a sender called to produce this event (``base_url`` replaces everything
    before ``/webhooks/``, like ``PUBLIC_BASE_URL``)."""
    context = event.get("requestContext") or {}
    if event.get("version") == "2.0":
        path, query = str(event.get("rawPath") or ""), str(event.get("rawQueryString") or "")
    else:
        path, query = (
            str(event.get("path") or ""),
            urlencode(event.get("queryStringParameters") or {}),
        )
    if base_url:
        start = path.find("/webhooks/")
        uri = base_url.rstrip("/") + (path[start:] if start >= 0 else path)
    else:
        host = context.get("domainName") or (event.get("headers") or {}).get("host", "")
        uri = f"https://{host}{path}"
    return hubspot.decode_signed_escapes(uri + (f"?{query}" if query else ""))


def sign_generic(event: dict[str, Any], secret: str, now: float) -> dict[str, Any]:
    """Standard Webhooks v1 headers."""
    return resign_api_event(event, secret, now=int(now))


def sign_zendesk(event: dict[str, Any], secret: str, now: float) -> dict[str, Any]:
    """Zendesk's signature over an ISO-8601 timestamp + the body."""
    timestamp = datetime.fromtimestamp(int(now), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    signature = zendesk.zendesk_signature(secret, timestamp, raw_body(event))
    headers = {zendesk.TIMESTAMP_HEADER: timestamp, zendesk.SIGNATURE_HEADER: signature}
    return with_headers(event, headers)


def sign_freshdesk(event: dict[str, Any], secret: str, now: float) -> dict[str, Any]:
    """The shared token header Freshdesk's webhook action is set up to send."""
    return with_headers(event, {freshdesk.TOKEN_HEADER: secret})


def sign_hubspot(
    event: dict[str, Any], secret: str, now: float, *, base_url: str | None = None
) -> dict[str, Any]:
    """HubSpot signature v3 over method + URI + body + timestamp in milliseconds."""
    timestamp = str(int(now * 1000))
    method = str(
        ((event.get("requestContext") or {}).get("http") or {}).get("method")
        or event.get("httpMethod")
        or "POST"
    )
    signature = hubspot.hubspot_signature(
        secret, method.upper(), event_uri(event, base_url), raw_body(event), timestamp
    )
    headers = {hubspot.TIMESTAMP_HEADER: timestamp, hubspot.SIGNATURE_HEADER: signature}
    return with_headers(event, headers)


def sign_salesforce(event: dict[str, Any], secret: str, now: float) -> dict[str, Any]:
    """The ``token`` query parameter of the outbound message's endpoint URL."""
    return with_query(event, {"token": secret})


SIGNERS: dict[str, EventSigner] = {
    "generic": sign_generic,
    "zendesk": sign_zendesk,
    "freshdesk": sign_freshdesk,
    "hubspot": sign_hubspot,
    "salesforce": sign_salesforce,
}


def sign_event(
    event: dict[str, Any], source: str, *, secret: str | None = None, now: float | None = None
) -> dict[str, Any]:
    """``event`` signed for ``source`` now (or at ``now``), with its demo secret by default."""
    return SIGNERS[source](
        event,
        secret if secret is not None else DEMO_SOURCE_SECRETS[source][0],
        time.time() if now is None else now,
    )
