"""API Gateway HTTP API events built locally, as the deployed webhook function receives them.

The one builder of payload 2.0 events: ``masking-unset serve`` turns each HTTP request into one,
the tests and the benchmarks build theirs with it. Standard library only: the benchmarks' memory
worker imports it, and what it imports is counted in the function's memory.
"""

from __future__ import annotations

import base64
import re
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any, Final
from urllib.parse import parse_qsl, unquote, urlsplit

Handler = Callable[[dict[str, Any], Any], Any]
"""A Lambda entry point: ``(event, context) -> answer``."""

ROUTE_KEY: Final = "POST /webhooks/{source}"
_SOURCE_PATH: Final = re.compile(r"^/webhooks/([^/]+)(?:/([^/]+))?/?$")
ACCOUNT_ROUTE_KEY: Final = "POST /webhooks/{source}/{account}"


def http_api_event(
    method: str,
    target: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    *,
    source_ip: str = "127.0.0.1",
    request_id: str | None = None,
    now: float | None = None,
    domain: str | None = None,
) -> dict[str, Any]:
    """The HTTP API payload 2.0 event API Gateway would build for this request.

    ``target`` is the path with its query string. Header names are lower-cased and repeated
    headers comma-joined (cookies go to ``cookies``); the body is text when it is valid UTF-8,
    else base64 with ``isBase64Encoded``. ``domain`` defaults to the ``Host`` header.
    """
    parts = urlsplit(target)
    path = parts.path or "/"
    joined: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    epoch = time.time() if now is None else now
    host = joined.get("host", "") if domain is None else domain
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": parts.query,
        "headers": joined,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "local",
            "domainName": host,
            "domainPrefix": host.split(".")[0].split(":")[0],
            "http": {
                "method": method.upper(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": joined.get("user-agent", ""),
            },
            "requestId": request_id or uuid.uuid4().hex,
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(epoch)),
            "timeEpoch": int(epoch * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if parts.query:
        query: dict[str, str] = {}
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            query[name] = f"{query[name]},{value}" if name in query else value
        event["queryStringParameters"] = query
    if match := _SOURCE_PATH.match(path):
        event["pathParameters"] = {"source": unquote(match.group(1))}
        route = ROUTE_KEY
        if match.group(2) is not None:  # a named DeepCall account's route
            event["pathParameters"]["account"] = unquote(match.group(2))
            route = ACCOUNT_ROUTE_KEY
        if method.upper() == "POST":
            event["routeKey"] = event["requestContext"]["routeKey"] = route
    if body:
        try:
            event["body"] = body.decode("utf-8")
        except UnicodeDecodeError:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
    return event
