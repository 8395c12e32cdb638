"""Building signed webhook events for the handler tests."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from masking_unset.logic.signatures import standard_webhooks_sign
from masking_unset_tools.local.stack import DEMO_WEBHOOK_SECRET


def http_api_event(
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
    """An HTTP API (``kind="http"``), Function URL (``"url"``) or REST API (``"rest"``) event."""
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
    event: dict[str, Any] = {
        "version": "2.0",
        "rawPath": path,
        "rawQueryString": "",
        "headers": all_headers,
        "requestContext": {
            "requestId": "http-req",
            "domainName": "api.example.com",
            "http": {"method": method, "path": path},
        },
        "body": text,
        "isBase64Encoded": base64_body,
    }
    if kind == "http":
        event["pathParameters"] = {"source": source}
    return event


def response_json(response: dict[str, Any]) -> dict[str, Any]:
    """The decoded JSON body of a handler response."""
    body: dict[str, Any] = json.loads(response["body"])
    return body
