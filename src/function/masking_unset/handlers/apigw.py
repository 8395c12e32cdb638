"""Translation between API Gateway / Function URL events and :class:`WebhookRequest`."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from masking_unset.models.errors import MalformedBody
from masking_unset.models.http import (
    WebhookRequest,
    WebhookResponse,
    account_in_path,
    source_in_path,
)

UNSUPPORTED = "unsupported_event"


def _unsupported(what: str) -> MalformedBody:
    return MalformedBody(f"not an API Gateway or Function URL event: {what}", code=UNSUPPORTED)


def _utf8(text: str, what: str) -> str:
    # A str may hold lone surrogates ("\ud800"), which no byte sequence encodes; refused here,
    # before a signature check, a log line or a JSON answer tries to encode them.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedBody(f"{what} is not valid UTF-8 text", code="invalid_encoding") from None
    return text


def _text(value: object, what: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _unsupported(f"{what} is not text")
    return _utf8(value, what)


def _object(value: object, what: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _unsupported(f"{what} is not an object")
    return value


def _text_map(value: object, what: str) -> dict[str, str]:
    return {
        _text(k, f"a {what} name"): _text(v, f"a {what} value")
        for k, v in _object(value, what).items()
        if v is not None
    }


def to_request(event: object) -> WebhookRequest:
    """Read an HTTP API (payload 2.0), Function URL or REST API (payload 1.0) event.

    Raises :class:`MalformedBody`: ``unsupported_event`` for anything that is none of those (not
    an object, or a part of the wrong type), ``invalid_encoding`` for text that is not valid
    UTF-8, ``malformed_body`` for a body that does not decode.
    """
    if not isinstance(event, Mapping):
        raise _unsupported("not an object")
    context = _object(event.get("requestContext"), "requestContext")
    if event.get("version") == "2.0":  # HTTP API and Function URL share this schema
        method = _text(_object(context.get("http"), "requestContext.http").get("method"), "method")
        path = _text(event.get("rawPath"), "rawPath")
        raw_query = _text(event.get("rawQueryString"), "rawQueryString")
    elif "httpMethod" in event:  # REST API keeps the sender's header case
        method = _text(event.get("httpMethod"), "httpMethod")
        path = _text(event.get("path"), "path")
        raw_query = urlencode(_text_map(event.get("queryStringParameters"), "query parameter"))
    else:
        raise _unsupported("neither payload 2.0 nor a REST API event")
    headers = {k.lower(): v for k, v in _text_map(event.get("headers"), "header").items()}
    path_parameters = _text_map(event.get("pathParameters"), "path parameter")
    source = path_parameters.get("source")
    if source is None:
        source = source_in_path(path)
    account = path_parameters.get("account")
    if account is None and "source" not in path_parameters:
        account = account_in_path(path)
    return WebhookRequest(
        method=method.upper(),
        path=path,
        source=(source or "").lower(),
        headers=headers,
        body=_raw_body(event),
        query=_text_map(event.get("queryStringParameters"), "query parameter"),
        raw_query=raw_query,
        domain=_text(context.get("domainName"), "domainName") or headers.get("host", ""),
        request_id=_text(context.get("requestId"), "requestId"),
        account=account.lower() if account is not None else None,
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
    return _utf8(body, "the body").encode("utf-8")


def to_event(response: WebhookResponse) -> dict[str, Any]:
    """The API Gateway response (the same shape works for all three event kinds)."""
    return {
        "statusCode": response.status,
        "headers": {"Content-Type": response.content_type, **response.headers},
        "body": response.body,
        "isBase64Encoded": False,
    }
