"""Fresh credentials for stored API Gateway events, from each source's own signing.

Signed events go stale after five minutes: the demo and the tests sign each ``events/`` file
again right before invoking the handler, with the source's demo secret unless told otherwise.
What is added is the source's :meth:`~masking_unset.sources.base.WebhookSource.resign`: the event
is the same delivery, sent again.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

from masking_unset.sources import SOURCES
from masking_unset_tools.local.stack import DEMO_SOURCE_SECRETS


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
    return uri + (f"?{query}" if query else "")


def event_method(event: Mapping[str, Any]) -> str:
    """The HTTP method of the request behind ``event`` (POST if it does not say)."""
    http = (event.get("requestContext") or {}).get("http") or {}
    return str(http.get("method") or event.get("httpMethod") or "POST").upper()


def sign_event(
    event: dict[str, Any],
    source: str,
    *,
    secret: str | None = None,
    now: float | None = None,
    base_url: str | None = None,
) -> dict[str, Any]:
    """``event`` signed again for ``source`` now (or at ``now``), with its demo secret by default.
    ``base_url`` is the ``PUBLIC_BASE_URL`` the function is told, for a source that signs the
    URL. ValueError for a secret the source cannot sign with."""
    headers = event.get("headers") or {}
    signed = SOURCES[source].resign(
        method=event_method(event),
        url=event_uri(event, base_url),
        body=raw_body(event),
        secret=secret if secret is not None else DEMO_SOURCE_SECRETS[source][0],
        now=time.time() if now is None else now,
        headers={str(name): str(value) for name, value in headers.items()},
    )
    resigned = with_headers(event, signed.headers) if signed.headers else dict(event)
    return with_query(resigned, signed.query) if signed.query else resigned
