"""The queue handler end to end: partial batch responses, dead-lettering with reasons and
visibility backoff, against the moto server and the DeepCall stand-in."""

from __future__ import annotations

import json
from typing import Any

import pytest

from masking_unset.handlers.queue import lambda_handler
from masking_unset_tools.local.deepcall_standin import DeepCallStandIn, Fault
from masking_unset_tools.local.lambda_context import LocalLambdaContext
from masking_unset_tools.local.stack import LocalStack
from tests.conftest import sqs_record


def invoke(records: list[dict[str, Any]], *, timeout: float = 30.0) -> dict[str, Any]:
    context = LocalLambdaContext(timeout_seconds=timeout)
    return lambda_handler({"Records": records}, context)  # type: ignore[arg-type]


def failed_ids(response: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def dead_letters(stack: LocalStack) -> list[dict[str, Any]]:
    sqs = stack.aws.client("sqs")
    messages = sqs.receive_message(
        QueueUrl=stack.dead_letter_queue_url,
        MaxNumberOfMessages=10,
        MessageAttributeNames=["All"],
        WaitTimeSeconds=0,
    ).get("Messages", [])
    return [
        {
            "body": m["Body"],
            **{k: v["StringValue"] for k, v in m.get("MessageAttributes", {}).items()},
        }
        for m in messages
    ]


def test_bad_records_are_dead_lettered_with_reasons_and_the_rest_expire(
    stack: LocalStack, deepcall: DeepCallStandIn
) -> None:
    response = invoke(
        [
            sqs_record({"event_id": "e1", "mask": "+91 80 4000 0001"}, "m-1"),
            sqs_record("not json at all", "m-2", ApproximateReceiveCount="2"),
            sqs_record({"event_id": "e3", "m1": "9876500003", "m2": "9123400003"}, "m-3"),
            sqs_record({"event_id": "e4", "mask": 8040000004}, "m-4"),
            sqs_record({"event_id": "e5"}, "m-5"),
        ]
    )
    assert failed_ids(response) == []
    assert sorted(deepcall.expired) == ["8040000001", "9876500003|9123400003"]
    parked = sorted(dead_letters(stack), key=lambda m: m["SourceMessageId"])
    assert [(m["SourceMessageId"], m["ErrorCode"]) for m in parked] == [
        ("m-2", "malformed_body"),
        ("m-4", "invalid_event"),
        ("m-5", "no_target"),
    ]
    assert parked[0]["body"] == "not json at all"
    assert parked[0]["ReceiveCount"] == "2"
    assert "mask" in parked[1]["ErrorMessage"]


def test_permanent_deepcall_refusal_is_dead_lettered(
    stack: LocalStack, deepcall: DeepCallStandIn
) -> None:
    deepcall.enqueue(Fault.error(1000, "Invalid parameters"))
    response = invoke([sqs_record({"event_id": "e1", "mask": "8040000001"}, "m-1")])
    assert failed_ids(response) == []
    [parked] = dead_letters(stack)
    assert parked["ErrorCode"] == "upstream_rejected"
    assert "1000" in parked["ErrorMessage"]


def test_transient_failure_is_retried_in_place_then_deferred_as_a_new_message(
    stack: LocalStack, deepcall: DeepCallStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEEPCALL_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("DEEPCALL_RETRY_BASE_SECONDS", "0")
    monkeypatch.setenv("MAX_CONCURRENCY", "1")  # faults are served in arrival order
    sqs = stack.aws.client("sqs")
    sqs.send_message(QueueUrl=stack.queue_url, MessageBody=json.dumps({"mask": "8040000001"}))
    [message] = sqs.receive_message(
        QueueUrl=stack.queue_url, AttributeNames=["All"], VisibilityTimeout=30
    )["Messages"]
    record = sqs_record(message["Body"], message["MessageId"], ApproximateReceiveCount="3")
    record["receiptHandle"] = message["ReceiptHandle"]
    deepcall.enqueue(Fault(status=503, body=b"<html>busy</html>"), Fault.html(502))

    response = invoke([record, sqs_record({"mask": "+91 80 4000 0002"}, "m-2")])

    # DeepCall's failure is not the record's: it uses up none of its deliveries. The record is
    # done with (the event source deletes it) and a copy waits in the queue as a new message.
    assert failed_ids(response) == []
    assert list(deepcall.expired) == ["8040000002"]
    assert len(deepcall.unset_calls) == 3  # two attempts for the first, one for the second
    assert dead_letters(stack) == []
    waiting = sqs.get_queue_attributes(
        QueueUrl=stack.queue_url, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )["Attributes"]
    assert waiting["ApproximateNumberOfMessagesDelayed"] == "1"


def test_a_fifo_record_is_handed_back_with_backoff_until_its_last_delivery(
    stack: LocalStack, deepcall: DeepCallStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A deferred copy would go to the back of its message group: a FIFO record keeps its place
    # and is handed back (its visibility pushed out) until its deliveries run out.
    monkeypatch.setenv("DEEPCALL_MAX_ATTEMPTS", "1")
    sqs = stack.aws.client("sqs")
    sqs.send_message(QueueUrl=stack.queue_url, MessageBody=json.dumps({"mask": "8040000001"}))
    [message] = sqs.receive_message(
        QueueUrl=stack.queue_url, AttributeNames=["All"], VisibilityTimeout=0
    )["Messages"]
    record = sqs_record(
        message["Body"], message["MessageId"], ApproximateReceiveCount="3", MessageGroupId="g"
    )
    record["receiptHandle"] = message["ReceiptHandle"]
    deepcall.enqueue(Fault(status=503, body=b"busy"))

    response = invoke([record])

    assert failed_ids(response) == [message["MessageId"]]
    assert dead_letters(stack) == []
    # Visibility was pushed out (receive count 3: between 60 and 120 s), so it is not back yet.
    again = sqs.receive_message(QueueUrl=stack.queue_url, WaitTimeSeconds=0)
    assert again.get("Messages", []) == []


def test_in_function_retry_recovers(stack: LocalStack, deepcall: DeepCallStandIn) -> None:
    deepcall.enqueue(Fault(status=500, body=b"{}"), Fault.retry_after(0))
    response = invoke([sqs_record({"mask": "8040000001"}, "m-1")])
    assert failed_ids(response) == []
    assert len(deepcall.unset_calls) == 3
    assert list(deepcall.expired) == ["8040000001"]


def test_empty_batch(stack: LocalStack) -> None:
    assert invoke([]) == {"batchItemFailures": []}


def test_misconfiguration_fails_every_record_without_raising(
    stack: LocalStack, deepcall: DeepCallStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    from masking_unset.app import reset_app

    monkeypatch.setenv("DEEPCALL_NUMBER_FORMAT", "words")
    reset_app()
    response = invoke([sqs_record({"mask": "8040000001"}, "a"), sqs_record({}, "b")])
    assert failed_ids(response) == ["a", "b"]
    assert deepcall.unset_calls == []


def test_records_are_not_started_when_time_is_short(
    stack: LocalStack, deepcall: DeepCallStandIn
) -> None:
    response = invoke([sqs_record({"mask": "8040000001"}, "a")], timeout=3.0)
    assert failed_ids(response) == ["a"]
    assert deepcall.unset_calls == []


def test_sns_and_eventbridge_envelopes_are_unwrapped(
    stack: LocalStack, deepcall: DeepCallStandIn
) -> None:
    inner = {"event_id": "sns-1", "mask": "8040000001"}
    sns = {"Type": "Notification", "MessageId": "x", "Message": json.dumps(inner)}
    bridge = {
        "version": "0",
        "detail-type": "TicketClosed",
        "source": "crm.tickets",
        "detail": {"event_id": "eb-1", "mask": "8040000002"},
    }
    response = invoke([sqs_record(sns, "a"), sqs_record(bridge, "b")])
    assert failed_ids(response) == []
    assert sorted(deepcall.expired) == ["8040000001", "8040000002"]


def test_duplicate_delivery_calls_deepcall_once(
    stack: LocalStack, deepcall: DeepCallStandIn
) -> None:
    body = {"event_id": "dup-1", "mask": "8040000001"}
    assert failed_ids(invoke([sqs_record(body, "a")])) == []
    assert failed_ids(invoke([sqs_record(body, "b")])) == []
    assert len(deepcall.unset_calls) == 1


def test_fifo_group_stops_at_its_first_failure_and_other_groups_go_on(
    stack: LocalStack, deepcall: DeepCallStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEEPCALL_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("MAX_CONCURRENCY", "1")  # deterministic order of calls at the stand-in
    deepcall.enqueue(Fault(status=503, body=b"busy"))
    records = [
        sqs_record({"mask": "8040000001"}, "g1-a", MessageGroupId="g1"),
        sqs_record({"mask": "8040000002"}, "g1-b", MessageGroupId="g1"),
        sqs_record({"mask": "8040000003"}, "g2-a", MessageGroupId="g2"),
        sqs_record("bad", "g1-c", MessageGroupId="g1"),
        sqs_record({"mask": "8040000004"}, "g2-b", MessageGroupId="g2"),
    ]
    response = invoke(records)
    assert failed_ids(response) == ["g1-a", "g1-b", "g1-c"]
    assert sorted(deepcall.expired) == ["8040000003", "8040000004"]
    assert dead_letters(stack) == []  # g1-c was never started, so never judged
