"""The local run: both handlers, every file in ``events/``, against a moto server and the DeepCall
stand-in, with no AWS account and no Docker."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from masking_unset.local.lambda_context import LocalLambdaContext
from masking_unset.local.stack import (
    DEMO_WEBHOOK_SECRET,
    LocalStack,
    environment,
    local_stack,
    resign_api_event,
)

SIGNING_SECRETS = {"generic": DEMO_WEBHOOK_SECRET}


def shown_request(body: Any) -> str:
    """A DeepCall request body for display: credentials hidden, numbers cut to their last four
    digits with their length kept, so the configured number format stays visible."""
    if not isinstance(body, dict):
        return "<not JSON>"
    shown: dict[str, Any] = {}
    for key, value in body.items():
        if key in {"ssid", "token", "userId"}:
            shown[key] = "<secret>"
        elif key in {"mask", "m1", "m2"} and isinstance(value, str):
            shown[key] = "*" * max(0, len(value) - 4) + value[-4:]
        else:
            shown[key] = value
    return json.dumps(shown)


def tamper_signature(event: dict[str, Any]) -> dict[str, Any]:
    """The same event with its Standard Webhooks signature replaced by a wrong one."""
    headers = {
        key: ("v1," + "A" * 43 + "=" if key.lower() == "webhook-signature" else value)
        for key, value in event["headers"].items()
    }
    return {**event, "headers": headers}


def drain_dead_letters(stack: LocalStack) -> list[dict[str, str]]:
    """Take every message off the dead-letter queue: its source message id and reason."""
    sqs = stack.aws.client("sqs")
    parked: list[dict[str, str]] = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=stack.dead_letter_queue_url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            WaitTimeSeconds=0,
        ).get("Messages", [])
        if not messages:
            return parked
        for message in messages:
            attributes = message.get("MessageAttributes", {})
            parked.append({k: v.get("StringValue", "") for k, v in attributes.items()})
            sqs.delete_message(
                QueueUrl=stack.dead_letter_queue_url, ReceiptHandle=message["ReceiptHandle"]
            )


def check(spec: dict[str, Any], outcome: dict[str, Any], parked: list[dict[str, str]]) -> list[str]:
    """Differences between what the manifest expects and what happened."""
    expect = spec.get("expect", {})
    problems = []
    if spec["function"] == "queue":
        failed = [item["itemIdentifier"] for item in outcome.get("batchItemFailures", [])]
        if sorted(failed) != sorted(expect.get("failed", [])):
            problems.append(f"expected failed records {expect.get('failed')}, got {failed}")
        ids = sorted(p.get("SourceMessageId", "") for p in parked)
        if ids != sorted(expect.get("dead_lettered", [])):
            problems.append(f"expected dead-lettered {expect.get('dead_lettered')}, got {ids}")
        return problems
    body = json.loads(outcome["body"])
    if outcome["statusCode"] != expect.get("statusCode"):
        problems.append(f"expected HTTP {expect.get('statusCode')}, got {outcome['statusCode']}")
    if "status" in expect and body.get("status") != expect["status"]:
        problems.append(f"expected status {expect['status']!r}, got {body.get('status')!r}")
    if "error" in expect and body.get("error", {}).get("code") != expect["error"]:
        problems.append(f"expected error {expect['error']!r}, got {body.get('error')!r}")
    return problems


def replay(
    stack: LocalStack, events_dir: Path, out: Callable[[str], None], only: str | None = None
) -> int:
    """Invoke the handler named by ``events/manifest.json`` for each event; count mismatches."""
    from masking_unset.app import reset_app
    from masking_unset.handlers import queue, webhook

    manifest: dict[str, dict[str, Any]] = json.loads((events_dir / "manifest.json").read_text())
    mismatches = 0
    for name, spec in manifest.items():
        if only and name != only:
            continue
        reset_app()
        event = json.loads((events_dir / name).read_text())
        if (source := spec.get("sign")) in SIGNING_SECRETS:
            event = resign_api_event(event, SIGNING_SECRETS[source])
            if spec.get("tamper"):  # a fresh timestamp, so only the signature itself is wrong
                event = tamper_signature(event)
        before = len(stack.deepcall.unset_calls)
        handler = webhook.lambda_handler if spec["function"] == "webhook" else queue.lambda_handler
        outcome = handler(event, LocalLambdaContext())  # type: ignore[arg-type]
        calls = stack.deepcall.unset_calls[before:]
        out(f"\n== {name}  ->  {spec['function']} handler")
        if spec["function"] == "webhook":
            out(f"   answered HTTP {outcome['statusCode']}: {outcome['body']}")
            if "Retry-After" in outcome["headers"]:
                out(f"   Retry-After: {outcome['headers']['Retry-After']}")
        else:
            out(f"   answered {json.dumps(outcome)}")
        for call in calls:
            out(f"   DeepCall received POST {call.path} {shown_request(call.json)}")
        if not calls:
            out("   DeepCall received nothing")
        parked = drain_dead_letters(stack)
        for message in parked:
            out(
                f"   dead-lettered {message.get('SourceMessageId')}: "
                f"{message.get('ErrorCode')} ({message.get('ErrorMessage')})"
            )
        problems = check(spec, outcome, parked)
        for problem in problems:
            out(f"   !! {problem}")
        mismatches += bool(problems)
    return mismatches


def run(events_dir: Path, *, verbose: bool = False, out: Callable[[str], None] = print) -> int:
    """Run the local stack, replay the events, print what happened; 0 if all went as expected."""
    with local_stack() as stack:
        env = {**stack.env(), "POWERTOOLS_LOG_LEVEL": "INFO" if verbose else "ERROR"}
        with environment(env):
            out(f"local AWS endpoint (moto): {stack.aws.url}")
            out(f"DeepCall stand-in:         {stack.deepcall.base_url}")
            mismatches = replay(stack, events_dir, out)
    out("")
    out("all events behaved as expected" if not mismatches else f"{mismatches} event(s) differed")
    return 1 if mismatches else 0
