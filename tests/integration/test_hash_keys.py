"""Nothing stored can be turned back into a number: against the local servers, every table item,
queue message, log line and metric the functions leave is scanned for a plain SHA-256 of any
form of the numbers; the key is the deployment's, rotates without a second expiry, and without
it nothing runs."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from masking_unset.app import reset_app
from masking_unset.clients.idempotency import DynamoDBIdempotency
from masking_unset.handlers.queue import lambda_handler as queue_handler
from masking_unset.handlers.webhook import lambda_handler as webhook_handler
from masking_unset.models.hashing import HashKeys
from masking_unset_tools.local.deepcall_standin import Fault
from masking_unset_tools.local.lambda_context import LocalLambdaContext
from masking_unset_tools.local.stack import DEMO_HASH_KEY, LocalStack
from tests.conftest import sqs_record
from tests.integration.helpers import gateway_event, response_json
from tests.support.aws import put_secret
from tests.support.deepcall import ScriptedDeepCall
from tests.support.logs import captured_logs as support_logs

NUMBERS = ["9876543210", "9123456780", "9988776655", "8040001234"]
T1, T2 = "2026-11-30T12:00:00+00:00", "2026-11-30T13:00:00+00:00"
OTHER_KEY = base64.b64encode(b"another deployment's hash key!!!").decode()


def forms(national: str) -> list[str]:
    """The number as the tests wrote it and as DeepCall may be sent it."""
    return [
        national,
        "91" + national,
        "+91" + national,
        f"+91 {national[:5]} {national[5:]}",
        "0" + national,
    ]


def encodings(text: str) -> set[str]:
    digest = hashlib.sha256(text.encode())
    return {digest.hexdigest(), digest.hexdigest()[:40], base64.b64encode(digest.digest()).decode()}


def plain_hashes(events: list[dict[str, Any]]) -> set[str]:
    """Every plain SHA-256 that could stand for a number of ``events``: of each form alone, as
    a target field, and the idempotency and ticket state keys the product stored before its
    hashes were keyed (with the record ids Powertools makes of them)."""
    found: set[str] = set()
    for number in NUMBERS:
        for form in forms(number):
            for text in (form, f"mask={form}", f"m1={form}", f"m2={form}"):
                found |= encodings(text)
    store = DynamoDBIdempotency(None, "unused", window_seconds=60).store  # type: ignore[arg-type]
    for event in events:
        fields = {k: event[k] for k in ("mask", "m1", "m2") if k in event}
        for fmt in range(len(forms(NUMBERS[0]))):
            written = {
                k: forms(v.replace(" ", "").removeprefix("+91"))[fmt] for k, v in fields.items()
            }
            target = [f"{k}={v}" for k, v in sorted(written.items())]
            old_key = "\x1f".join(
                ["queue", event.get("ticket_id", ""), *target, event.get("occurred_at", "")]
            )
            old = hashlib.sha256(old_key.encode()).hexdigest()
            found |= {old, store.record_id(f"queue:hash:{old}").split("#", 1)[1]}
            found |= encodings("\x1f".join(target))
    return found


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """Every log record of the service, formatted as Lambda ships it."""
    with support_logs("DEBUG") as stream:
        yield stream


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPCALL_RETRY_BASE_SECONDS", "0")
    monkeypatch.setenv("RETRY_AFTER_CAP_SECONDS", "0")


def queue(*bodies: dict[str, Any] | str) -> list[str]:
    """One SQS batch through the queue function: the ids handed back."""
    records = [sqs_record(body, f"m-{i}") for i, body in enumerate(bodies)]
    answer = queue_handler({"Records": records}, LocalLambdaContext())  # type: ignore[arg-type]
    return [failure["itemIdentifier"] for failure in answer["batchItemFailures"]]


def table_items(stack: LocalStack, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = stack.aws.client("dynamodb").scan(TableName=table)["Items"]
    return items


def messages(stack: LocalStack, url: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (
        stack.aws.client("sqs")
        .receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            AttributeNames=["All"],
            VisibilityTimeout=0,
        )
        .get("Messages", [])
    )
    return found


def rotate(stack: LocalStack, document: dict[str, Any]) -> None:
    """A new secret value, seen by a new container."""
    put_secret(stack, stack.hash_key_secret_id, document)
    reset_app()


def state_ids(stack: LocalStack) -> set[str]:
    return {item["id"]["S"] for item in table_items(stack, stack.ticket_state_table)}


def idempotency_ids(stack: LocalStack) -> set[str]:
    return {item["id"]["S"] for item in table_items(stack, stack.idempotency_table)}


@pytest.mark.usefixtures("fast_retries")
def test_no_plain_hash_of_a_number_is_stored_logged_or_emitted(
    stack: LocalStack,
    deepcall: ScriptedDeepCall,
    captured_logs: io.StringIO,
    capsys: pytest.CaptureFixture[str],
) -> None:
    a, b, c, d = (f"+91 {n[:5]} {n[5:]}" for n in NUMBERS)
    with_ticket = {"ticket_id": "H-1", "mask": a, "occurred_at": T1}
    without_ticket = {"m1": b, "m2": c, "occurred_at": T1}
    bare = {"mask": d}
    events = [with_ticket, without_ticket, bare, {"ticket_id": "H-2", "mask": c}]
    assert queue(with_ticket, without_ticket, bare) == []
    assert queue(with_ticket, without_ticket) == []  # duplicates
    deepcall.enqueue(Fault.error(1000, f"Invalid parameters for {NUMBERS[2]}"))
    assert queue({"ticket_id": "H-2", "mask": c}) == []  # parked with its reason
    assert queue(f"not json {NUMBERS[0]}") == []  # parked as malformed
    deepcall.enqueue(*[Fault(status=502, body=b"<html>down</html>")] * 3)
    answer = webhook_handler(
        gateway_event({"ticket_id": "H-3", "mask": d, "occurred_at": T2}),
        LocalLambdaContext(),  # type: ignore[arg-type]
    )
    assert response_json(answer)["status"] == "queued"

    states = table_items(stack, stack.ticket_state_table)
    trail = json.dumps(table_items(stack, stack.trail_table))
    parked = messages(stack, stack.dead_letter_queue_url)
    queued = messages(stack, stack.queue_url)
    stored = [
        json.dumps(table_items(stack, stack.idempotency_table)),
        json.dumps(states),
        trail,
        json.dumps(parked),
        json.dumps(queued),
    ]
    logs, printed = captured_logs.getvalue(), capsys.readouterr()
    everything = "\n".join([*stored, logs, printed.out, printed.err, json.dumps(answer)])

    # The scan saw real work: keyed records of both kinds, parked and queued events, logs, metrics.
    assert sum(deepcall.expired.values()) == 3
    assert any("#target#" in item["id"]["S"] for item in states)
    assert any(":hash:" in item.get("event_key", {}).get("S", "") for item in states)
    assert (len(parked), len(queued)) == (2, 1)
    assert "MaskingsExpired" in printed.out
    assert logs.count("\n") > 10
    # ... and the keys are HMACs under the deployment's key.
    keys = HashKeys(base64.b64decode(DEMO_HASH_KEY))
    assert f"queue#target#{keys.digest('m1=9123456780', 'm2=9988776655')}" in state_ids(stack)
    leaked = sorted(h for h in plain_hashes(events) if h in everything)
    assert leaked == []
    # The ledger: each entry named by a keyed hash of its target, holding no number in any form.
    ledger = {name: value for item in states for name, value in item.items() if "ledger#" in name}
    assert f"ledger#{keys.digest('ledger', 'mask=9876543210')}" in ledger
    assert f"ledger#{keys.digest('ledger', 'm1=9123456780', 'm2=9988776655')}" in ledger
    shown = json.dumps(ledger)
    assert [form for n in NUMBERS for form in forms(n) if form in shown] == []
    # The trail kept every event's steps, each number only as its last four digits, and the
    # masking numbers as keyed hashes under the deployment's key.
    assert '"step": {"S": "parked"}' in trail
    assert '"step": {"S": "queued"}' in trail
    assert "mask_hash" in trail
    assert f'"S": "{keys.digest("trail-mask", "+91" + NUMBERS[0])}"' in trail
    assert not [form for n in NUMBERS for form in forms(n) if form in trail]


def test_the_same_event_under_two_keys_is_stored_under_two_keys(
    stack: LocalStack, deepcall: ScriptedDeepCall, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The second call finds the masking gone (1505): done, so its record is kept too.
    monkeypatch.setenv("DEEPCALL_ALREADY_DONE_CODES", "1505")
    event = {"m1": NUMBERS[0], "m2": NUMBERS[1], "occurred_at": T1}
    assert queue(event) == []
    first = (idempotency_ids(stack), state_ids(stack))
    rotate(stack, {"key": OTHER_KEY})  # no previous key: the old records are not found
    assert queue(event) == []
    second = (idempotency_ids(stack), state_ids(stack))
    assert len(first[0]) == len(first[1]) == 1
    assert len(second[0] - first[0]) == len(second[1] - first[1]) == 1
    assert len(deepcall.unset_calls) == 2


def test_a_rotation_keeping_the_previous_key_expires_nothing_twice(
    stack: LocalStack, deepcall: ScriptedDeepCall
) -> None:
    with_ticket = {"ticket_id": "R-1", "mask": NUMBERS[0], "occurred_at": T1}
    without_ticket = {"m1": NUMBERS[1], "m2": NUMBERS[2], "occurred_at": T1}
    bare = {"mask": NUMBERS[3]}
    assert queue(with_ticket, without_ticket, bare) == []
    assert len(deepcall.unset_calls) == 3
    rotate(stack, {"key": OTHER_KEY, "previous_keys": [DEMO_HASH_KEY]})
    assert queue(with_ticket, without_ticket, bare) == []
    assert len(deepcall.unset_calls) == 3  # all three found under the previous key
    # A newer event for the target-keyed ticket is let through, and written under the new key.
    assert queue({**without_ticket, "occurred_at": T2}) == []
    assert len(deepcall.unset_calls) == 4
    new = HashKeys(base64.b64decode(OTHER_KEY))
    assert f"queue#target#{new.digest('m1=9123456780', 'm2=9988776655')}" in state_ids(stack)


@pytest.mark.usefixtures("fast_retries")
def test_after_a_rotation_a_retry_of_a_failed_event_is_let_through(
    stack: LocalStack, deepcall: ScriptedDeepCall
) -> None:
    event = {"ticket_id": "R-2", "mask": NUMBERS[0], "occurred_at": T1}
    deepcall.enqueue(*[Fault(status=502, body=b"<html>down</html>")] * 3)
    assert queue(event) == []  # deferred (a copy waits); its ticket state claim stays, lease ended
    rotate(stack, {"key": OTHER_KEY, "previous_keys": [DEMO_HASH_KEY]})
    assert queue(event) == []
    assert sum(deepcall.expired.values()) == 1
    state = stack.ticket_state("queue#ticket#R-2")
    assert state is not None
    assert state["applied"] == {"BOOL": True}


def test_a_missing_hash_key_variable_stops_both_functions(
    stack: LocalStack,
    deepcall: ScriptedDeepCall,
    monkeypatch: pytest.MonkeyPatch,
    captured_logs: io.StringIO,
) -> None:
    monkeypatch.delenv("HASH_KEY_SECRET_ID")
    reset_app()
    answer = webhook_handler(
        gateway_event({"event_id": "x-1", "mask": NUMBERS[0]}),
        LocalLambdaContext(),  # type: ignore[arg-type]
    )
    assert answer["statusCode"] == 503
    error = response_json(answer)["error"]
    assert error["code"] == "configuration_error"
    assert "HASH_KEY_SECRET_ID" in error["message"]
    assert queue({"mask": NUMBERS[0]}) == ["m-0"]  # handed back until an operator fixes it
    assert "HASH_KEY_SECRET_ID" in captured_logs.getvalue()
    assert deepcall.unset_calls == []


@pytest.mark.parametrize(
    "document",
    [
        {"secret": "aaaa"},
        {"key": "this is not base64, not at all"},
        {"key": base64.b64encode(b"sixteen bytes!!!").decode()},
    ],
)
def test_an_unusable_hash_key_is_a_configuration_error_that_shows_no_value(
    stack: LocalStack,
    deepcall: ScriptedDeepCall,
    captured_logs: io.StringIO,
    capsys: pytest.CaptureFixture[str],
    document: dict[str, str],
) -> None:
    rotate(stack, document)
    answer = webhook_handler(
        gateway_event({"mask": NUMBERS[0], "occurred_at": T1}),
        LocalLambdaContext(),  # type: ignore[arg-type]
    )
    # As for an unreadable DeepCall secret: kept for the queue, the reason names the variable.
    assert answer["statusCode"] == 202
    assert "HASH_KEY_SECRET_ID" in response_json(answer)["reason"]
    assert queue({"mask": NUMBERS[0]}) == ["m-0"]
    assert deepcall.unset_calls == []
    value = next(iter(document.values()))
    shown = "\n".join([answer["body"], captured_logs.getvalue(), capsys.readouterr().out])
    assert "HASH_KEY_SECRET_ID" in captured_logs.getvalue()
    assert value not in shown


def test_the_local_stack_holds_a_demo_key(stack: LocalStack) -> None:
    secret = stack.aws.client("secretsmanager").get_secret_value(SecretId=stack.hash_key_secret_id)
    assert json.loads(secret["SecretString"]) == {"key": DEMO_HASH_KEY}
    assert len(base64.b64decode(DEMO_HASH_KEY, validate=True)) >= 32
    assert stack.env()["HASH_KEY_SECRET_ID"] == stack.hash_key_secret_id


@pytest.mark.parametrize(
    ("ends_in", "handed_back", "parked"),
    [(600, ["m-0"], 0), (-600, [], 1)],
    ids=["still-running", "ended-without-outcome"],
)
def test_an_attempt_in_progress_under_the_previous_key_is_not_run_again(
    stack: LocalStack, deepcall: ScriptedDeepCall, ends_in: int, handed_back: list[str], parked: int
) -> None:
    # The record an attempt under the old key left behind: still running (the event comes back
    # later), or its invocation over without an outcome (parked as outcome_unknown).
    event = {"ticket_id": "R-3", "mask": NUMBERS[0]}
    assert queue(event) == []
    [record_id] = idempotency_ids(stack)
    stack.aws.client("dynamodb").update_item(
        TableName=stack.idempotency_table,
        Key={"id": {"S": record_id}},
        UpdateExpression="SET #s = :s, in_progress_expiration = :ends REMOVE #d",
        ExpressionAttributeNames={"#s": "status", "#d": "data"},
        ExpressionAttributeValues={
            ":s": {"S": "INPROGRESS"},
            ":ends": {"N": str(int((time.time() + ends_in) * 1000))},
        },
    )
    rotate(stack, {"key": OTHER_KEY, "previous_keys": [DEMO_HASH_KEY]})
    assert queue(event) == handed_back
    assert len(deepcall.unset_calls) == 1
    assert len(messages(stack, stack.dead_letter_queue_url)) == parked
