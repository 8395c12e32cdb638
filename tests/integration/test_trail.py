"""The trail (issue 21): each event's steps kept in the trail table and read back by
``masking-unset trail``, against the moto server and the DeepCall stand-in."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from masking_unset.app import get_app, reset_app
from masking_unset.handlers.queue import lambda_handler as queue_handler
from masking_unset.handlers.webhook import lambda_handler as webhook_handler
from masking_unset_tools import cli
from masking_unset_tools.cli import EXIT_FAILED, EXIT_OK, main
from masking_unset_tools.local.deepcall_standin import Fault
from masking_unset_tools.local.lambda_context import LocalLambdaContext
from masking_unset_tools.local.stack import LocalStack
from tests.conftest import sqs_record
from tests.integration.helpers import gateway_event, response_json
from tests.integration.test_cli_dlq import MoveTaskEmulator
from tests.support.deepcall import ScriptedDeepCall

MASK = "+91 80 4000 1234"
T1 = "2026-11-30T12:00:00+00:00"


@pytest.fixture(autouse=True)
def one_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    """One DeepCall attempt per invocation, and a breaker that does not open in these tests."""
    monkeypatch.setenv("DEEPCALL_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("BREAKER_FAILURE_THRESHOLD", "100")
    reset_app()


def webhook(body: dict[str, Any]) -> dict[str, Any]:
    event = gateway_event(body, msg_id=f"msg_{uuid.uuid4().hex}")
    return webhook_handler(event, LocalLambdaContext())  # type: ignore[arg-type]


def queue_batch(records: list[dict[str, Any]]) -> list[str]:
    answer = queue_handler({"Records": records}, LocalLambdaContext())  # type: ignore[arg-type]
    return [failure["itemIdentifier"] for failure in answer["batchItemFailures"]]


def deliver_from(stack: LocalStack, url: str, receive_count: int = 1) -> list[str]:
    """Take every message of the queue at ``url`` and run it through the queue function as the
    event source mapping would; the ids handed back."""
    sqs = stack.aws.client("sqs")
    messages = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", [])
    assert messages, "nothing in the queue"
    records = []
    for message in messages:
        record = sqs_record(
            message["Body"], message["MessageId"], ApproximateReceiveCount=str(receive_count)
        )
        records.append(record)
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return queue_batch(records)


def trail_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["trail", *args, "--json"]) == EXIT_OK
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    return document


@pytest.fixture
def trail_writes(stack: LocalStack) -> Iterator[list[str]]:
    """The operations each function sends to the trail table (on every client of the app)."""
    writes: list[str] = []

    def seen(params: dict[str, Any], model: Any, **_: Any) -> None:
        if params.get("TableName") == stack.trail_table:
            writes.append(model.name)

    get_app().boto3_session.events.register("provide-client-params.dynamodb", seen)
    return writes


def test_one_events_whole_life_reads_back_in_order(
    stack: LocalStack,
    deepcall: ScriptedDeepCall,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    close = {"event_id": "evt-life", "ticket_id": "T-life", "mask": MASK, "occurred_at": T1}
    # The webhook: DeepCall down -> queued.
    deepcall.enqueue(Fault(status=502, body=b"<html>down</html>"))
    assert response_json(webhook(close))["status"] == "queued"
    # The queue: a permanent refusal -> parked with its reason.
    deepcall.enqueue(Fault.error(1000, "Invalid parameters"))
    assert deliver_from(stack, stack.queue_url) == []
    # The operator moves it back (the trail notes it), and the queue expires it.
    monkeypatch.setattr(cli, "_sqs", lambda: MoveTaskEmulator(stack.aws.client("sqs")))
    assert main(["redrive", "--poll-seconds", "0.01"]) == EXIT_OK
    assert "trail: redriven noted for 1 event(s)" in capsys.readouterr().out
    assert deliver_from(stack, stack.queue_url) == []
    assert sum(deepcall.expired.values()) == 1

    document = trail_json(capsys, "--event", "evt-life")
    steps = [(step["fn"], step["step"]) for step in document["steps"]]
    assert steps == [
        ("webhook", "received"),
        ("webhook", "deepcall"),
        ("webhook", "failed"),
        ("webhook", "queued"),
        ("webhook", "answered"),
        ("queue", "received"),
        ("queue", "deepcall"),
        ("queue", "failed"),
        ("queue", "parked"),
        ("cli", "redriven"),
        ("queue", "received"),
        ("queue", "deepcall"),
        ("queue", "outcome"),
        ("queue", "done"),
    ]
    by_step = [step for step in document["steps"]]
    assert by_step[0]["trigger"] == "webhook"
    assert by_step[0]["ticket_id"] == "T-life"
    assert by_step[1]["http_status"] == 502
    assert "latency_ms" in by_step[1]
    assert by_step[5]["trigger"] == "queue"
    assert by_step[5]["receive_count"] == 1
    assert by_step[6]["code"] == "1000"
    assert by_step[8]["code"]
    assert by_step[8]["reason"]
    assert by_step[12]["status"] == "unset"
    assert by_step[12]["target"] == "mask=***1234"
    times = [step["at"] for step in document["steps"]]
    assert times == sorted(times)
    # The same life by ticket and by masking number; and as text, oldest first, in UTC.
    assert trail_json(capsys, "--ticket", "generic:T-life")["steps"] == document["steps"]
    assert trail_json(capsys, "--mask", "08040001234")["steps"] == document["steps"]
    assert main(["trail", "--ticket", "generic:T-life"]) == EXIT_OK
    text = capsys.readouterr().out
    assert text.startswith("trail of ticket generic:T-life: 1 event(s), 14 step(s)")
    assert text.index(" received ") < text.index(" parked ") < text.index(" redriven ")
    assert "4000 1234" not in text
    assert "8040001234" not in text


def test_dlq_list_shows_each_parked_messages_trail(
    stack: LocalStack, deepcall: ScriptedDeepCall, capsys: pytest.CaptureFixture[str]
) -> None:
    deepcall.enqueue(Fault.error(1000, "Invalid parameters"))
    body = {"event_id": "evt-parked", "ticket_id": "T-p", "mask": MASK}
    assert queue_batch([sqs_record(body, "m-parked")]) == []
    capsys.readouterr()

    assert main(["dlq", "list"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "  trail:" in out
    assert "queue received" in out
    assert "queue parked" in out
    assert main(["dlq", "list", "--json"]) == EXIT_OK
    [listed] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert listed["trail_key"] == "queue:id:evt-parked"
    assert [step["step"] for step in listed["trail"]][-1] == "parked"


def test_a_deferred_record_shows_deferred_with_its_reason(
    stack: LocalStack,
    deepcall: ScriptedDeepCall,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BREAKER_FAILURE_THRESHOLD", "1")
    reset_app()
    deepcall.enqueue(Fault(status=503, body=b"busy"))  # opens DeepCall's circuit
    first = {"event_id": "evt-outage", "ticket_id": "T-d", "mask": MASK}
    assert queue_batch([sqs_record(first, "m-outage")]) == []
    later = {"event_id": "evt-later", "ticket_id": "T-d", "mask": MASK}
    assert queue_batch([sqs_record(later, "m-later")]) == []

    outage = trail_json(capsys, "--event", "queue:evt-outage")["steps"]
    [deferred] = [step for step in outage if step["step"] == "deferred"]
    assert deferred["reason"] == "upstream_bad_response"
    document = trail_json(capsys, "--event", "queue:evt-later")
    [deferred] = [step for step in document["steps"] if step["step"] == "deferred"]
    assert deferred["reason"] == "circuit_open"
    assert deferred["delay_seconds"] >= 1
    assert deferred["deferrals"] == 1
    assert [step["step"] for step in document["steps"]][-1] == "deferred"


def test_at_most_two_trail_writes_per_event_on_the_happy_path(
    stack: LocalStack, deepcall: ScriptedDeepCall, trail_writes: list[str]
) -> None:
    close = {"event_id": "evt-happy", "ticket_id": "T-h", "mask": MASK, "occurred_at": T1}
    assert response_json(webhook(close))["status"] == "unset"
    assert 1 <= len(trail_writes) <= 2
    assert set(trail_writes) <= {"UpdateItem", "PutItem"}

    trail_writes.clear()
    body = {"event_id": "evt-happy-q", "ticket_id": "T-q", "mask": "+91 80 4000 5678"}
    assert queue_batch([sqs_record(body, "m-happy")]) == []
    assert 1 <= len(trail_writes) <= 2


def test_a_failing_trail_table_never_fails_an_expiry(
    stack: LocalStack,
    deepcall: ScriptedDeepCall,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TRAIL_TABLE", f"{stack.trail_table}-missing")
    reset_app()
    close = {"event_id": "evt-no-trail", "ticket_id": "T-n", "mask": MASK}
    assert response_json(webhook(close))["status"] == "unset"
    body = {"event_id": "evt-no-trail-q", "mask": "+91 80 4000 5678"}
    assert queue_batch([sqs_record(body, "m-no-trail")]) == []
    assert sum(deepcall.expired.values()) == 2
    assert capsys.readouterr().out.count('"TrailUnavailable"') >= 2

    assert main(["trail", "--event", "evt-no-trail"]) == EXIT_FAILED
    assert "error: GetItem failed: ResourceNotFoundException" in capsys.readouterr().err
    assert main(["trail", "--event", "evt-no-trail", "--table", stack.trail_table]) == EXIT_FAILED
    assert "error: no trail kept for event evt-no-trail" in capsys.readouterr().err


def test_without_a_table_name_trail_is_a_usage_error(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("TRAIL_TABLE")
    assert main(["trail", "--ticket", "generic:T-1"]) == 2
    assert "TRAIL_TABLE is not set" in capsys.readouterr().err
