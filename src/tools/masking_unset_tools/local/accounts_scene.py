"""The demo's second DeepCall account (docs/deploying.md, "Several DeepCall accounts"): a second
DeepCall stand-in with credentials of the other shape, named ``brand-b`` in
``DEEPCALL_ACCOUNTS``; a webhook and a queue message reach it, the default account's stand-in
sees neither, and an account nobody configured is refused on both channels."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from masking_unset_tools.local.deepcall_standin import DeepCallStandIn
from masking_unset_tools.local.events import http_api_event
from masking_unset_tools.local.lambda_context import LocalLambdaContext
from masking_unset_tools.local.signers import sign_event
from masking_unset_tools.local.stack import LocalStack, environment

ACCOUNT = "brand-b"
# The second account's credentials: the userId + token shape, where the default one has an ssid.
CREDENTIALS = {"userId": "brand-b-demo", "token": "brand-b-demo-token"}
_MASKS = ("+91 80 4000 7701", "+91 80 4000 7702", "+91 80 4000 7703", "+91 80 4000 7704")


def play_accounts(stack: LocalStack, out: Callable[[str], None]) -> int:
    """Play the scene and print each step; returns how many expectations were not met (each also
    printed as ``!!``)."""
    from masking_unset.app import reset_app

    out(f"\n== a second DeepCall account, {ACCOUNT}  ->  webhook and queue handlers")
    problems: list[str] = []
    secret = stack.aws.client("secretsmanager").create_secret(
        Name=f"masking-unset-demo/{ACCOUNT}-{uuid.uuid4().hex[:6]}",
        SecretString=json.dumps(CREDENTIALS),
    )["ARN"]
    default_before = len(stack.deepcall.unset_calls)
    with DeepCallStandIn(credentials=CREDENTIALS) as brand_b:
        accounts = json.dumps({ACCOUNT: {"base_url": brand_b.base_url, "secret_id": secret}})
        out(f"   DEEPCALL_ACCOUNTS={accounts}")
        steps = [
            ("webhook", ACCOUNT, _MASKS[0], "200 unset"),
            ("queue", ACCOUNT, _MASKS[1], "done"),
            ("webhook", "brand-x", _MASKS[2], "404 unknown_account"),
            ("queue", "brand-x", _MASKS[3], "parked unknown_account"),
        ]
        with environment({"DEEPCALL_ACCOUNTS": accounts}):
            try:
                for index, (channel, account, mask, expected) in enumerate(steps):
                    reset_app()
                    # Expired now whatever EXPIRY_GRACE_MINUTES the user's environment sets.
                    body = {
                        "event_id": f"acct-{index}",
                        "ticket_id": f"A-{index}",
                        "mask": mask,
                        "expire_after_minutes": 0,
                    }
                    label, answer = _send(channel, account, body)
                    got = _outcome(answer, stack)
                    out(f"   {label}: {got}")
                    if got != expected:
                        problems.append(f"{label}: expected {expected}, got {got}")
            finally:
                reset_app()
        calls = brand_b.unset_calls
        for call in calls:
            keys = sorted(k for k in ("ssid", "userId", "token") if k in (call.json or {}))
            out(f"   {ACCOUNT}'s DeepCall received {call.path} with {', '.join(keys)} (hidden)")
        if len(calls) != 2 or any("ssid" in (call.json or {}) for call in calls):
            problems.append(f"expected 2 requests at {ACCOUNT}'s DeepCall, with its credentials")
    default_calls = len(stack.deepcall.unset_calls) - default_before
    out(f"   the default account's DeepCall received {default_calls} of them")
    if default_calls:
        problems.append("the default account's DeepCall received another account's events")
    for problem in problems:
        out(f"   !! {problem}")
    return len(problems)


def _send(channel: str, account: str, body: dict[str, Any]) -> tuple[str, Any]:
    """Hand ``body`` to the webhook (on the account's route) or the queue handler (with an
    ``account`` field); the label to print and the handler's answer."""
    from masking_unset.handlers import queue, webhook
    from masking_unset_tools.ops.console import function_stdout

    context: Any = LocalLambdaContext()
    with function_stdout():  # the functions' EMF lines, unless verbose
        if channel == "webhook":
            path = f"/webhooks/generic/{account}"
            raw = json.dumps(body).encode()
            event = http_api_event("POST", path, [("content-type", "application/json")], raw)
            signed = sign_event(event, "generic", now=time.time())
            answer = webhook.lambda_handler(signed, context)
            return f"POST {path}", answer
        record = {
            "messageId": str(uuid.uuid4()),
            "receiptHandle": "demo",
            "body": json.dumps({**body, "account": account}),
            "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {},
            "eventSource": "aws:sqs",
        }
        answer = queue.lambda_handler({"Records": [record]}, context)
        return f'queue message {{"account": "{account}", ...}}', answer


def _outcome(answer: Any, stack: LocalStack) -> str:
    """A one-line summary of a handler's answer."""
    if "statusCode" in answer:
        body = json.loads(answer["body"])
        return f"{answer['statusCode']} {body.get('status') or body.get('error', {}).get('code')}"
    if answer.get("batchItemFailures"):
        return "handed back"
    sqs = stack.aws.client("sqs")
    parked = sqs.receive_message(
        QueueUrl=stack.dead_letter_queue_url, MessageAttributeNames=["All"], WaitTimeSeconds=0
    ).get("Messages", [])
    for message in parked:
        sqs.delete_message(
            QueueUrl=stack.dead_letter_queue_url, ReceiptHandle=message["ReceiptHandle"]
        )
    if parked:
        attributes: dict[str, Any] = dict(parked[0].get("MessageAttributes", {}))
        return f"parked {attributes.get('ErrorCode', {}).get('StringValue')}"
    return "done"
