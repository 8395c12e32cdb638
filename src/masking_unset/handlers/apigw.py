"""Translation between API Gateway / Function URL events and :class:`WebhookRequest`."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any

from masking_unset.models.errors import MalformedBody
from masking_unset.models.http import WebhookRequest, WebhookResponse

_SOURCE_IN_PATH = re.compile(r"/webhooks/([^/]+)/?$")


def _text_map(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): str(v) for k, v in value.items() if v is not None}


def to_request(event: Mapping[str, Any]) -> WebhookRequest:
    """Read an HTTP API (payload 2.0), Function URL or REST API (payload 1.0) event.

    Raises :class:`MalformedBody` for an event that is none of those or whose body does not decode.
    """
    context = event.get("requestContext") or {}
    if event.get("version") == "2.0":  # HTTP API and Function URL share this schema
        method = str((context.get("http") or {}).get("method", ""))
        path = str(event.get("rawPath") or "")
        raw_query = str(event.get("rawQueryString") or "")
    elif "httpMethod" in event:  # REST API keeps the sender's header case
        method = str(event.get("httpMethod") or "")
        path = str(event.get("path") or "")
        query = _text_map(event.get("queryStringParameters"))
        from urllib.parse import urlencode

        raw_query = urlencode(query)
    else:
        raise MalformedBody("not an API Gateway or Function URL event", code="unsupported_event")
    headers = {k.lower(): v for k, v in _text_map(event.get("headers")).items()}
    path_parameters = _text_map(event.get("pathParameters"))
    source = path_parameters.get("source")
    if source is None and (match := _SOURCE_IN_PATH.search(path)):
        source = match.group(1)
    return WebhookRequest(
        method=method.upper(),
        path=path,
        source=(source or "").lower(),
        headers=headers,
        body=_raw_body(event),
        query=_text_map(event.get("queryStringParameters")),
        raw_query=raw_query,
        domain=str(context.get("domainName") or headers.get("host") or ""),
        request_id=str(context.get("requestId") or ""),
    )


def _raw_body(event: Mapping[str, Any]) -> bytes:
    body = event.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise MalformedBody("the event body is not text")
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedBody("the body is marked base64 but does not decode") from None
    return body.encode("utf-8")


def to_event(response: WebhookResponse) -> dict[str, Any]:
    """The API Gateway response (the same shape works for all three event kinds)."""
    return {
        "statusCode": response.status,
        "headers": {"Content-Type": response.content_type, **response.headers},
        "body": response.body,
        "isBase64Encoded": False,
    }
