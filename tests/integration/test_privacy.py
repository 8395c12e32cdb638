"""No raw phone number and no secret in any log line, metric, response or dead-letter reason.

The whole pipeline runs with sentinel numbers and secrets - successes, duplicates, bad input,
DeepCall refusals that echo the number, outages, credential rotation - and everything the
functions wrote is scanned for them.
"""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from masking_unset.handlers.queue import lambda_handler as queue_handler
from masking_unset.handlers.webhook import lambda_handler as webhook_handler
from masking_unset_tools.local.deepcall_standin import Fault
from masking_unset_tools.local.lambda_context import LocalLambdaContext
from masking_unset_tools.local.stack import LocalStack
from tests.conftest import sqs_record
from tests.integration.helpers import gateway_event
from tests.support.aws import put_secret
from tests.support.deepcall import ScriptedDeepCall
from tests.support.logs import captured_logs as support_logs

NUMBERS = ["9876543210", "9123456780", "9988776655", "8040001234"]
SSID = "SENTINEL-SSID-c0ffee"
USER, TOKEN = "SENTINEL-USER-51a7", "SENTINEL-TOKEN-b33f"
WEBHOOK_KEY = b"SENTINEL-WEBHOOK-SIGNING-KEY"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(WEBHOOK_KEY).decode()
SECRETS = [SSID, USER, TOKEN, WEBHOOK_SECRET, WEBHOOK_SECRET.removeprefix("whsec_")]


def number_pattern(national: str) -> re.Pattern[str]:
    """The number with any separators people write between digits, and its first 8 digits."""
    gap = r"[\s\-().+/]{0,3}"
    whole = gap.join(national)
    prefix = gap.join(national[:8])
    return re.compile(f"{whole}|{prefix}")


PATTERNS = [number_pattern(n) for n in NUMBERS]


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """Every log record of the service, formatted exactly as Lambda would ship it."""
    with support_logs("DEBUG") as stream:
        yield stream


def leaks(text: str) -> list[str]:
    found = [p.pattern for p in PATTERNS if p.search(text)]
    found += [s for s in SECRETS if s in text]
    return found


def webhook(body: dict[str, Any] | bytes) -> dict[str, Any]:
    event = gateway_event(body, secret=WEBHOOK_SECRET)
    return webhook_handler(event, LocalLambdaContext())  # type: ignore[arg-type]


def queue(*records: dict[str, Any]) -> dict[str, Any]:
    return queue_handler({"Records": list(records)}, LocalLambdaContext())  # type: ignore[arg-type]


def test_no_number_or_secret_leaves_the_functions(
    stack: LocalStack,
    deepcall: ScriptedDeepCall,
    monkeypatch: pytest.MonkeyPatch,
    captured_logs: io.StringIO,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DEEPCALL_RETRY_BASE_SECONDS", "0")
    monkeypatch.setenv("RETRY_AFTER_CAP_SECONDS", "0")
    put_secret(stack, stack.deepcall_secret_id, {"ssid": SSID})
    put_secret(stack, stack.webhook_secrets_id, {"generic": [WEBHOOK_SECRET]})
    deepcall.set_credentials({"ssid": SSID})
    a, b, c, mask = (f"+91 {n[:5]} {n[5:]}" for n in NUMBERS)
    answers: list[dict[str, Any]] = []

    # Successes, a duplicate, and every kind of bad input.
    answers.append(webhook({"event_id": "p1", "ticket_id": "T1", "mask": mask}))
    answers.append(webhook({"event_id": "p1", "ticket_id": "T1", "mask": mask}))
    answers.append(webhook({"event_id": "p2", "m1": a, "m2": b}))
    answers.append(webhook({"event_id": "p3", "m1": a, "m2": "0" + NUMBERS[0]}))
    answers.append(webhook({"event_id": "p4", "mask": NUMBERS[2][:7]}))
    answers.append(webhook({"event_id": "p5", "mask": int(NUMBERS[2])}))
    answers.append(webhook(f'{{"mask": "{c}", '.encode()))
    # DeepCall refusing with the number in its message; DeepCall down (queue fallback).
    deepcall.enqueue(Fault.error(1000, f"Invalid parameters for {NUMBERS[2]} and {c}"))
    answers.append(webhook({"event_id": "p6", "mask": c}))
    deepcall.enqueue(*[Fault(status=502, body=f"<html>{NUMBERS[1]}</html>".encode())] * 3)
    answers.append(webhook({"event_id": "p7", "m1": b, "m2": c}))
    # Credential rotation with token credentials, then a credential DeepCall keeps refusing.
    put_secret(stack, stack.deepcall_secret_id, {"userId": USER, "token": TOKEN})
    deepcall.set_credentials({"userId": USER, "token": TOKEN})
    answers.append(webhook({"event_id": "p8", "m1": c, "m2": a}))
    deepcall.set_credentials({"ssid": "other"})
    answers.append(webhook({"event_id": "p9", "mask": a}))
    deepcall.set_credentials({"userId": USER, "token": TOKEN})
    # A malformed credential secret, whose values must not be echoed.
    put_secret(stack, stack.deepcall_secret_id, {"ssid": SSID, "token": TOKEN})
    answers.append(webhook({"event_id": "p10", "mask": b}))
    put_secret(stack, stack.deepcall_secret_id, {"userId": USER, "token": TOKEN})

    # The queue: success, bad records to the dead-letter queue, a refusal echoing the number.
    deepcall.enqueue(Fault.error(1502, f"bad expiry for {NUMBERS[0]}"))
    answers.append(
        queue(
            sqs_record({"event_id": "q1", "mask": mask}, "m1"),
            sqs_record({"event_id": "q2", "m1": a, "m2": a}, "m2"),
            sqs_record(f"not json {NUMBERS[0]}", "m3"),
            sqs_record({"event_id": "q4", "mask": NUMBERS[1][:6]}, "m4"),
        )
    )
    sqs = stack.aws.client("sqs")
    parked = sqs.receive_message(
        QueueUrl=stack.dead_letter_queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )["Messages"]
    reasons = json.dumps([m["MessageAttributes"] for m in parked])

    logs = captured_logs.getvalue()
    printed = capsys.readouterr()
    assert logs.count("\n") > 30  # the scan really saw the functions' logs
    assert "MaskingsExpired" in printed.out  # ... and their metrics
    assert len(parked) >= 3
    assert deepcall.expired  # ... and real work happened
    assert leaks(logs) == []
    assert leaks(printed.out) == []
    assert leaks(printed.err) == []
    assert leaks(json.dumps(answers)) == []
    assert leaks(reasons) == []
