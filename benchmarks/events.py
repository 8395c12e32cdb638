"""Events for the benchmarks: every one distinct (event id and masked number), so idempotency
never turns a measured invocation into a duplicate and the stand-in always expires something.

Only the standard library, the signing helper and the event builder (standard library only) are
imported: the memory worker imports this module, and what it imports is counted in the function's
memory.
"""

from __future__ import annotations

import json
import time
from typing import Any

from masking_unset.logic.signatures import standard_webhooks_sign
from masking_unset_tools.local.events import http_api_event

_NUMBERS = 10_000_000  # 7 free digits after "+91 80 4": ten million distinct Bengaluru numbers


def mask_number(index: int) -> str:
    """A possible Indian number, distinct for each ``index`` below ten million."""
    digits = f"{index % _NUMBERS:07d}"
    return f"+91 80 4{digits[:3]} {digits[3:]}"


def national(index: int) -> str:
    """:func:`mask_number` as DeepCall receives it (the default ``national`` format)."""
    return f"804{index % _NUMBERS:07d}"


def close_body(run: str, index: int, *, occurred_at: str | None = None) -> dict[str, str]:
    """The canonical close event of ticket ``index`` of ``run`` (``occurred_at``: an ordered
    close, which TICKET_STATE_TABLE records)."""
    body = {
        "event_id": f"bench-{run}-{index}",
        "ticket_id": f"T-{index}",
        "mask": mask_number(index),
    }
    if occurred_at is not None:
        body["occurred_at"] = occurred_at
    return body


def webhook_event(
    run: str, index: int, secret: str, *, now: int | None = None, occurred_at: str | None = None
) -> dict[str, Any]:
    """A signed ``generic`` close event as an HTTP API (payload 2.0) delivers it."""
    raw = json.dumps(close_body(run, index, occurred_at=occurred_at))
    msg_id = f"msg_{run}_{index}"
    timestamp = int(time.time()) if now is None else now
    headers = {
        "content-type": "application/json",
        "host": "bench.execute-api.ap-south-1.amazonaws.com",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": standard_webhooks_sign(secret, msg_id, timestamp, raw.encode()),
    }
    return http_api_event(
        "POST", "/webhooks/generic", headers.items(), raw.encode(), request_id=f"req-{run}-{index}"
    )


def sqs_event(
    run: str, first: int, count: int, *, occurred_at: str | None = None
) -> dict[str, Any]:
    """An SQS batch of ``count`` close events (standard queue: no message groups)."""
    return {
        "Records": [
            {
                "messageId": f"{run}-{index}",
                "receiptHandle": f"rh-{run}-{index}",
                "body": json.dumps(close_body(run, index, occurred_at=occurred_at)),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:masking-unset-queue",
                "awsRegion": "us-east-1",
            }
            for index in range(first, first + count)
        ]
    }


def unset_body(ssid: str, index: int) -> dict[str, object]:
    """The request the function sends for :func:`close_body` ``index``, for the bare floor."""
    return {"ssid": ssid, "mask": national(index), "expiry_duration": -1}
