"""Building signed webhook events for the handler tests."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from masking_unset.logic.signatures import standard_webhooks_sign
from masking_unset_tools.local.events import http_api_event
from masking_unset_tools.local.stack import DEMO_WEBHOOK_SECRET


def gateway_event(
    body: bytes | str | dict[str, Any],
    *,
    source: str = "generic",
    headers: dict[str, str] | None = None,
    sign: bool = True,
    secret: str = DEMO_WEBHOOK_SECRET,
    msg_id: str = "msg_test",
    timestamp: int | None = None,
    kind: str = "http",
    base64_body: bool = False,
    method: str = "POST",
) -> dict[str, Any]:
    """A webhook as API Gateway delivers it: an HTTP API (``kind="http"``), Function URL
    (``"url"``) or REST API (``"rest"``) event, signed for the generic source unless ``sign`` is
    false."""
    raw = (
        json.dumps(body).encode()
        if isinstance(body, dict)
        else body.encode()
        if isinstance(body, str)
        else body
    )
    all_headers = {"content-type": "application/json", **(headers or {})}
    if sign:
        ts = int(time.time()) if timestamp is None else timestamp
        all_headers.update(
            {
                "webhook-id": msg_id,
                "webhook-timestamp": str(ts),
                "webhook-signature": standard_webhooks_sign(secret, msg_id, ts, raw),
            }
        )
    text = base64.b64encode(raw).decode() if base64_body else raw.decode("utf-8", "replace")
    path = f"/webhooks/{source}"
    if kind == "rest":
        return {
            "resource": "/webhooks/{source}",
            "path": path,
            "httpMethod": method,
            # REST APIs keep the sender's header case.
            "headers": {key.title(): value for key, value in all_headers.items()},
            "pathParameters": {"source": source},
            "queryStringParameters": None,
            "requestContext": {"requestId": "rest-req", "domainName": "api.example.com"},
            "body": text,
            "isBase64Encoded": base64_body,
        }
    event = http_api_event(
        method, path, all_headers.items(), raw, request_id="http-req", domain="api.example.com"
    )
    # The body as given: base64 only when asked, so that tests can send text that is not UTF-8.
    event.update(body=text, isBase64Encoded=base64_body)
    if kind == "http":  # whatever the source is, even one the route would not match
        event["pathParameters"] = {"source": source}
    else:  # a Function URL has no routes, so no path parameters
        event.pop("pathParameters", None)
        event["routeKey"] = event["requestContext"]["routeKey"] = "$default"
    return event


def response_json(response: dict[str, Any]) -> dict[str, Any]:
    """The decoded JSON body of a handler response."""
    body: dict[str, Any] = json.loads(response["body"])
    return body
