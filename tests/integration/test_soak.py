"""Soak: close events through the queue handler with a third of DeepCall's answers failing,
SQS redelivery driven against the moto server until the queue drains; then more with AWS failing
as well (the function's calls through the fault proxy).

Every masking must be expired exactly once at the stand-in (or, when AWS failed, its event parked
with the reason it was not), every permanent failure parked in the dead-letter queue with its
reason, and nothing else left anywhere.

``make test`` runs both at a quarter of their full size (250 and 100 events: every kind of fault
and of permanent failure still occurs, many times); ``SOAK_SCALE=1`` runs them at full size
(1,000 and 300 events): ``SOAK_SCALE=1 .venv/bin/pytest -m soak`` (docs/testing.md).
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from typing import Any

import pytest

from masking_unset.handlers.queue import lambda_handler
from masking_unset_tools.local.deepcall_standin import Fault
from masking_unset_tools.local.event_source import lambda_records
from masking_unset_tools.local.lambda_context import LocalLambdaContext
from masking_unset_tools.local.stack import LocalStack
from tests.support.aws_faults import AwsFault, FaultyAwsProxy
from tests.support.deepcall import ScriptedDeepCall

# The share of the full size to run (1: full size); never fewer events than PERMANENT_KINDS_EVENTS.
SOAK_SCALE = float(os.environ.get("SOAK_SCALE", "0.25"))
PERMANENT_EVERY = 25  # one event in 25 can never succeed, its kind cycling through four
PERMANENT_KINDS_EVENTS = 100  # enough events for each of the four kinds to occur


def scaled(full: int) -> int:
    """``full`` events at SOAK_SCALE, and at least one permanent failure of each kind."""
    return max(PERMANENT_KINDS_EVENTS, round(full * SOAK_SCALE))


EVENTS = scaled(1_000)
DUPLICATE_SHARE = 0.05
FAULT_RATE = 0.35
MAX_RECEIVES = 3 * EVENTS  # bounded: the loop ends even if something is wrong

# Answers that never reached DeepCall's logic (so a retry is the right thing)...
UNPROCESSED_FAULTS = [
    Fault(status=503, body=b'{"message": "Service Unavailable"}'),
    Fault.html(status=502),
    Fault(reset=True),
    Fault.retry_after(0),
    Fault.error(1010, "Error in DB connect"),
]
# ...and one that did: the masking is expired but the answer is cut off on the way back.
LOST_ANSWER = Fault(truncate=True)


def build_events(
    rng: random.Random, events: int = EVENTS
) -> tuple[list[dict[str, Any]], set[str], int]:
    """Close events (some repeated) plus a few that can never succeed."""
    bodies: list[dict[str, Any]] = []
    good: set[str] = set()
    for index in range(events):
        if index % PERMANENT_EVERY == 0:  # 4% permanent failures of different kinds
            bad = [
                {"event_id": f"bad-{index}", "m1": "9876543210", "m2": "09876543210"},
                {"event_id": f"bad-{index}", "mask": "12"},
                {"event_id": f"bad-{index}", "mask": 8040000000},
                {"event_id": f"bad-{index}"},
            ]
            bodies.append(bad[(index // PERMANENT_EVERY) % len(bad)])
            continue
        national = f"80{index:08d}"
        good.add(national)
        bodies.append({"event_id": f"evt-{index}", "ticket_id": f"T-{index}", "mask": national})
    duplicates = [body for body in bodies if rng.random() < DUPLICATE_SHARE]
    bodies.extend(duplicates)
    rng.shuffle(bodies)
    permanent = sum(1 for body in bodies if str(body.get("event_id", "")).startswith("bad-"))
    return bodies, good, permanent


def send_all(stack: LocalStack, bodies: list[dict[str, Any]]) -> None:
    sqs = stack.aws.client("sqs")
    for start in range(0, len(bodies), 10):
        entries = [
            {"Id": str(i), "MessageBody": json.dumps(body)}
            for i, body in enumerate(bodies[start : start + 10])
        ]
        sqs.send_message_batch(QueueUrl=stack.queue_url, Entries=entries)


def drain(stack: LocalStack) -> Counter[str]:
    """Play the Lambda event source mapping: receive, invoke, delete what succeeded.

    A record handed back whose visibility the function could not change stays invisible for the
    queue's visibility timeout; when nothing else is left, the loop ends that wait at once.
    """
    sqs = stack.aws.client("sqs")
    counts: Counter[str] = Counter()
    waiting: dict[str, str] = {}  # message id -> receipt handle of records handed back
    for _ in range(MAX_RECEIVES):
        messages = sqs.receive_message(
            QueueUrl=stack.queue_url,
            MaxNumberOfMessages=10,
            AttributeNames=["ApproximateReceiveCount"],
            MessageAttributeNames=["All"],
            # Deferred copies wait out their delay (at most QUEUE_DEFER_MAX_SECONDS): long
            # polling waits for them on SQS's side.
            WaitTimeSeconds=1,
        ).get("Messages", [])
        if not messages:
            attributes = sqs.get_queue_attributes(
                QueueUrl=stack.queue_url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed",
                ],
            )["Attributes"]
            if all(value == "0" for value in attributes.values()):
                return counts
            if attributes["ApproximateNumberOfMessagesDelayed"] != "0":
                continue
            for handle in waiting.values():
                sqs.change_message_visibility(
                    QueueUrl=stack.queue_url, ReceiptHandle=handle, VisibilityTimeout=0
                )
            waiting.clear()
            continue
        records = lambda_records(messages)
        counts["deferred_copies"] += sum(
            "Deferrals" in m.get("MessageAttributes", {}) for m in messages
        )
        answer = lambda_handler({"Records": records}, LocalLambdaContext())  # type: ignore[arg-type]
        failed = {item["itemIdentifier"] for item in answer["batchItemFailures"]}
        counts["invocations"] += 1
        counts["records"] += len(records)
        counts["handed_back"] += len(failed)
        for m in messages:
            if m["MessageId"] in failed:
                waiting[m["MessageId"]] = m["ReceiptHandle"]
            else:
                waiting.pop(m["MessageId"], None)
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            sqs.delete_message_batch(
                QueueUrl=stack.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)
                ],
            )
    pytest.fail(f"the queue did not drain within {MAX_RECEIVES} receives")


def read_dead_letters(stack: LocalStack) -> list[dict[str, str]]:
    sqs = stack.aws.client("sqs")
    parked: list[dict[str, str]] = []
    while messages := sqs.receive_message(
        QueueUrl=stack.dead_letter_queue_url,
        MaxNumberOfMessages=10,
        MessageAttributeNames=["All"],
        VisibilityTimeout=600,
    ).get("Messages", []):
        for message in messages:
            attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
            parked.append({"body": message["Body"], **attributes})
    return parked


@pytest.mark.soak
def test_soak_every_masking_expired_exactly_once(
    stack: LocalStack,
    deepcall: ScriptedDeepCall,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DEEPCALL_RETRY_BASE_SECONDS", "0")
    monkeypatch.setenv("RETRY_AFTER_CAP_SECONDS", "0")
    monkeypatch.setenv("QUEUE_BACKOFF_BASE_SECONDS", "0")  # redeliver at once: the test drives time
    monkeypatch.setenv("QUEUE_DEFER_MAX_SECONDS", "1")  # deferred copies come back within 1 s
    monkeypatch.setenv("DEEPCALL_ALREADY_DONE_CODES", "1505")  # the stand-in's "nothing active"
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "ERROR")
    rng = random.Random(20261126)
    bodies, good, permanent = build_events(rng)
    deepcall.set_fault_rate(FAULT_RATE, [*UNPROCESSED_FAULTS, LOST_ANSWER], seed=7)

    send_all(stack, bodies)
    counts = drain(stack)

    # Exactly once: every good masking expired one time, nothing else expired.
    assert set(deepcall.expired) == good
    assert set(deepcall.expired.values()) == {1}
    # Permanent failures parked with their reasons; nothing else parked.
    parked = read_dead_letters(stack)
    assert len(parked) == permanent
    assert {p["ErrorCode"] for p in parked} == {
        "same_numbers",
        "invalid_number",
        "invalid_event",
        "no_target",
    }
    assert all(json.loads(p["body"])["event_id"].startswith("bad-") for p in parked)
    assert all(p["ErrorMessage"] and p["SourceMessageId"] for p in parked)
    # The faults really did send records round again (deferred: DeepCall's fault, not theirs).
    assert counts["deferred_copies"] + counts["handed_back"] > 0
    calls = len(deepcall.unset_calls)
    with capsys.disabled():
        print(
            f"\nsoak: messages={len(bodies)} maskings={len(good)}"
            f" expired_once={len(deepcall.expired)}"
            f" dead_lettered={len(parked)} deepcall_calls={calls}"
            f" invocations={counts['invocations']} records_delivered={counts['records']}"
            f" handed_back={counts['handed_back']} deferred={counts['deferred_copies']}"
        )


AWS_SOAK_EVENTS = scaled(300)
AWS_FAULT_RATE = 0.2
AWS_FAULTS = [
    AwsFault.throttle(),
    AwsFault.server_error(500),
    AwsFault.server_error(503, "ServiceUnavailable"),
    AwsFault.reset(),
    AwsFault.lost_reply(),
]
# The function's own calls; the test's receives and deletes (the event source mapping) go
# straight to the moto server.
FUNCTION_OPERATIONS = [
    "GetSecretValue",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "GetItem",
    "SendMessage",
    "ChangeMessageVisibility",
]


@pytest.mark.soak
def test_soak_with_aws_failing_too(
    stack: LocalStack,
    deepcall: ScriptedDeepCall,
    faulty_aws: FaultyAwsProxy,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DEEPCALL_RETRY_BASE_SECONDS", "0")
    monkeypatch.setenv("RETRY_AFTER_CAP_SECONDS", "0")
    monkeypatch.setenv("QUEUE_BACKOFF_BASE_SECONDS", "0")
    monkeypatch.setenv("QUEUE_DEFER_MAX_SECONDS", "1")
    monkeypatch.setenv("DEEPCALL_ALREADY_DONE_CODES", "1505")
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "CRITICAL")
    rng = random.Random(20261201)
    bodies, good, permanent = build_events(rng, AWS_SOAK_EVENTS)
    deepcall.set_fault_rate(0.25, [*UNPROCESSED_FAULTS, LOST_ANSWER], seed=11)
    faulty_aws.set_fault_rate(AWS_FAULT_RATE, AWS_FAULTS, seed=13, operations=FUNCTION_OPERATIONS)

    send_all(stack, bodies)
    counts = drain(stack)

    # Parked at least once each; a send whose reply was lost can park a message twice.
    parked = read_dead_letters(stack)
    unique = {p["SourceMessageId"]: p for p in parked}
    reasons = Counter(p["ErrorCode"] for p in unique.values())
    unknown = {
        "80" + json.loads(p["body"])["event_id"].removeprefix("evt-").zfill(8)
        for p in unique.values()
        if p["ErrorCode"] == "outcome_unknown"
    }
    # Never twice; every masking expired, or its event parked saying why it was not called.
    assert set(deepcall.expired.values()) == {1}
    assert set(deepcall.expired) <= good
    assert set(deepcall.expired) | unknown == good
    # Every permanent failure parked with its reason, and nothing else.
    assert sum(n for code, n in reasons.items() if code != "outcome_unknown") == permanent
    assert set(reasons) - {"outcome_unknown"} == {
        "same_numbers",
        "invalid_number",
        "invalid_event",
        "no_target",
    }
    assert all(p["ErrorMessage"] and p["SourceMessageId"] for p in parked)
    assert sum(faulty_aws.injected.values()) > 0  # AWS really did fail
    assert counts["deferred_copies"] + counts["handed_back"] > 0
    injected: Counter[str] = Counter()
    for name, n in faulty_aws.injected.items():
        injected[name.split(":")[1]] += n
    with capsys.disabled():
        print(
            f"\naws soak: messages={len(bodies)} maskings={len(good)}"
            f" expired_once={len(deepcall.expired)} outcome_unknown={len(unknown)}"
            f" dead_lettered={len(unique)} parked_twice={len(parked) - len(unique)}"
            f" deepcall_calls={len(deepcall.unset_calls)} invocations={counts['invocations']}"
            f" records_delivered={counts['records']} handed_back={counts['handed_back']}"
            f" aws_calls={sum(faulty_aws.calls[op] for op in FUNCTION_OPERATIONS)}"
            f" aws_faults={sum(injected.values())}"
            f" ({', '.join(f'{k}={v}' for k, v in sorted(injected.items()))})"
        )
