"""Exactly once when AWS itself fails: the functions' AWS calls pass through a fault-injecting
proxy in front of the moto server (throttling, 5xx, resets before and after the call reaches it).
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from masking_unset.app import reset_app
from masking_unset.handlers.queue import lambda_handler as queue_handler
from masking_unset.handlers.webhook import lambda_handler as webhook_handler
from masking_unset_tools.local.deepcall_standin import Fault
from masking_unset_tools.local.lambda_context import LocalLambdaContext
from masking_unset_tools.local.stack import LocalStack
from tests.conftest import sqs_record
from tests.integration.helpers import gateway_event, response_json
from tests.support.aws_faults import AwsFault, FaultyAwsProxy
from tests.support.deepcall import ScriptedDeepCall

CLOSE = {"event_id": "evt-aws", "ticket_id": "T-9", "mask": "+91 80 4000 9999"}
# The same event as the queue sees it when the webhook's fallback sends it there.
QUEUED_CLOSE = {**CLOSE, "source": "generic"}
TABLE_OPERATIONS = ("PutItem", "UpdateItem", "DeleteItem", "GetItem")


def webhook(event: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
    return webhook_handler(event, LocalLambdaContext(timeout_seconds=timeout))  # type: ignore[arg-type]


def queue(*records: dict[str, Any]) -> list[str]:
    answer = queue_handler({"Records": list(records)}, LocalLambdaContext())  # type: ignore[arg-type]
    return [item["itemIdentifier"] for item in answer["batchItemFailures"]]


def records(stack: LocalStack) -> list[dict[str, Any]]:
    """The idempotency table's items, read straight from the moto server."""
    items = stack.aws.client("dynamodb").scan(TableName=stack.idempotency_table)["Items"]
    return [{name: next(iter(value.values())) for name, value in item.items()} for item in items]


def outlive_in_progress(stack: LocalStack) -> None:
    """Move every in-progress record's invocation deadline into the past (instead of waiting)."""
    dynamodb = stack.aws.client("dynamodb")
    past = str(int((time.time() - 60) * 1000))
    for item in records(stack):
        dynamodb.update_item(
            TableName=stack.idempotency_table,
            Key={"id": {"S": item["id"]}},
            UpdateExpression="SET in_progress_expiration = :past",
            ExpressionAttributeValues={":past": {"N": past}},
        )


def messages(stack: LocalStack, url: str) -> list[dict[str, Any]]:
    found = stack.aws.client("sqs").receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=600
    )
    return list(found.get("Messages", []))


def test_completion_write_failing_after_success_answers_unset_and_never_calls_again(
    stack: LocalStack, deepcall: ScriptedDeepCall, faulty_aws: FaultyAwsProxy
) -> None:
    faulty_aws.always("UpdateItem", AwsFault.throttle())

    first = webhook(gateway_event(CLOSE))

    assert first["statusCode"] == 200
    assert response_json(first)["status"] == "unset"
    assert len(deepcall.unset_calls) == 1
    # Tried more than the SDK's two attempts, within the invocation, then given up.
    assert faulty_aws.calls["UpdateItem"] > 2
    assert messages(stack, stack.queue_url) == []  # done: nothing queued
    [record] = records(stack)
    assert record["status"] == "INPROGRESS"

    # A new container (nothing owed in memory), the table healthy again, and the first
    # invocation long over: every later copy is refused without a call.
    faulty_aws.clear()
    outlive_in_progress(stack)
    reset_app()
    again = webhook(gateway_event(CLOSE))
    assert again["statusCode"] == 409
    assert response_json(again)["error"]["code"] == "outcome_unknown"
    assert "Retry-After" not in again["headers"]
    assert queue(sqs_record(QUEUED_CLOSE, "copy-1")) == []
    [parked] = messages(stack, stack.dead_letter_queue_url)
    assert parked["MessageAttributes"]["ErrorCode"]["StringValue"] == "outcome_unknown"
    assert len(deepcall.unset_calls) == 1
    assert list(deepcall.expired) == ["8040009999"]


def test_a_completion_owed_by_a_container_is_written_by_its_next_invocation(
    stack: LocalStack, deepcall: ScriptedDeepCall, faulty_aws: FaultyAwsProxy
) -> None:
    faulty_aws.always("UpdateItem", AwsFault.server_error(500))
    assert response_json(webhook(gateway_event(CLOSE)))["status"] == "unset"

    faulty_aws.clear()
    outlive_in_progress(stack)
    later = webhook(gateway_event(CLOSE))  # same container: it settles what it owes first

    assert later["statusCode"] == 200
    assert response_json(later)["status"] == "duplicate"
    assert response_json(later)["first_status"] == "unset"
    assert [r["status"] for r in records(stack)] == ["COMPLETED"]
    assert queue(sqs_record(QUEUED_CLOSE, "copy-1")) == []
    assert messages(stack, stack.dead_letter_queue_url) == []
    assert len(deepcall.unset_calls) == 1


@pytest.mark.parametrize(
    "fault",
    [AwsFault.throttle(), AwsFault.server_error(500), AwsFault.reset()],
    ids=["throttle", "500", "reset"],
)
def test_completion_write_retried_within_the_invocation(
    stack: LocalStack, deepcall: ScriptedDeepCall, faulty_aws: FaultyAwsProxy, fault: AwsFault
) -> None:
    # Both SDK attempts of the first write fail, and the first of the second.
    faulty_aws.inject("UpdateItem", fault, times=3)

    assert response_json(webhook(gateway_event(CLOSE)))["status"] == "unset"

    # Four of the completion write, then the event's one trail write (TRAIL_TABLE).
    assert faulty_aws.calls["UpdateItem"] == 4 + 1
    assert [r["status"] for r in records(stack)] == ["COMPLETED"]
    outlive_in_progress(stack)
    reset_app()
    assert response_json(webhook(gateway_event(CLOSE)))["status"] == "duplicate"
    assert len(deepcall.unset_calls) == 1


def test_a_lost_put_reply_is_recognised_as_our_own_record(
    stack: LocalStack, deepcall: ScriptedDeepCall, faulty_aws: FaultyAwsProxy
) -> None:
    # The record is written, the reply lost; the SDK tries again and finds the record.
    faulty_aws.inject("PutItem", AwsFault.lost_reply())

    answer = webhook(gateway_event(CLOSE))

    assert faulty_aws.injected["PutItem:lost_reply"] == 1
    assert faulty_aws.calls["PutItem"] == 2
    assert answer["statusCode"] == 200
    assert response_json(answer)["status"] == "unset"
    assert list(deepcall.expired) == ["8040009999"]


def test_a_lost_put_reply_on_the_queue_expires_the_record(
    stack: LocalStack, deepcall: ScriptedDeepCall, faulty_aws: FaultyAwsProxy
) -> None:
    faulty_aws.inject("PutItem", AwsFault.lost_reply())

    assert queue(sqs_record(QUEUED_CLOSE, "m-1")) == []

    assert faulty_aws.calls["PutItem"] == 2
    assert list(deepcall.expired) == ["8040009999"]
    assert [r["status"] for r in records(stack)] == ["COMPLETED"]


def test_a_concurrent_duplicate_still_gets_409_through_the_proxy(
    stack: LocalStack, deepcall: ScriptedDeepCall, faulty_aws: FaultyAwsProxy
) -> None:
    deepcall.latency = 2.0
    answers: list[dict[str, Any]] = []
    first = threading.Thread(target=lambda: answers.append(webhook(gateway_event(CLOSE))))
    first.start()
    assert deepcall.wait_for_unset_calls(1, timeout=10)
    concurrent = webhook(gateway_event(CLOSE))
    first.join(timeout=30)

    assert concurrent["statusCode"] == 409
    assert response_json(concurrent)["error"]["code"] == "in_progress"
    assert response_json(answers[0])["status"] == "unset"
    assert len(deepcall.unset_calls) == 1


def test_a_put_failing_for_good_queues_the_event_and_leaves_no_record(
    stack: LocalStack, deepcall: ScriptedDeepCall, faulty_aws: FaultyAwsProxy
) -> None:
    # The first attempt writes the record and loses the reply; the retry is throttled. The
    # function releases the record it may have written before handing the event on.
    faulty_aws.inject("PutItem", AwsFault.lost_reply())
    faulty_aws.inject("PutItem", AwsFault.throttle())

    answer = webhook(gateway_event(CLOSE))

    assert answer["statusCode"] == 202
    assert response_json(answer)["status"] == "queued"
    assert records(stack) == []
    assert deepcall.unset_calls == []
    [queued] = messages(stack, stack.queue_url)
    assert queue(sqs_record(json.loads(queued["Body"]), "m-1")) == []
    assert list(deepcall.expired) == ["8040009999"]


def test_a_table_throttled_on_every_call_answers_before_the_timeout(
    stack: LocalStack, deepcall: ScriptedDeepCall, faulty_aws: FaultyAwsProxy
) -> None:
    for operation in TABLE_OPERATIONS:
        faulty_aws.always(operation, AwsFault.throttle())
    context = LocalLambdaContext(timeout_seconds=25.0)  # the webhook function's timeout

    answer = webhook_handler(gateway_event(CLOSE), context)  # type: ignore[arg-type]

    assert context.get_remaining_time_in_millis() > 0
    assert answer["statusCode"] == 202
    assert (
        "idempotency store unavailable (ProvisionedThroughputExceededException)"
        in (response_json(answer)["reason"])
    )
    assert deepcall.unset_calls == []
    assert len(messages(stack, stack.queue_url)) == 1


def test_a_release_failing_after_a_deepcall_failure_loses_nothing(
    stack: LocalStack,
    deepcall: ScriptedDeepCall,
    faulty_aws: FaultyAwsProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DEEPCALL_MAX_ATTEMPTS", "1")
    deepcall.enqueue(Fault(status=503, body=b"busy"))
    faulty_aws.always("DeleteItem", AwsFault.server_error(503, "ServiceUnavailable"))

    answer = webhook(gateway_event(CLOSE))

    assert answer["statusCode"] == 202  # DeepCall's failure, handed to the queue as before
    assert [r["status"] for r in records(stack)] == ["INPROGRESS"]  # not released
    faulty_aws.clear()
    [queued] = messages(stack, stack.queue_url)
    # The container's next invocation releases the record first, so the copy goes through.
    assert queue(sqs_record(json.loads(queued["Body"]), "m-1")) == []
    assert list(deepcall.expired) == ["8040009999"]
    assert [r["status"] for r in records(stack)] == ["COMPLETED"]


def test_secrets_failing_defer_the_record_and_answer_503(
    stack: LocalStack, deepcall: ScriptedDeepCall, faulty_aws: FaultyAwsProxy
) -> None:
    faulty_aws.always("GetSecretValue", AwsFault.throttle())

    answer = webhook(gateway_event(CLOSE))
    failed = queue(sqs_record(QUEUED_CLOSE, "m-1"))

    assert answer["statusCode"] == 503
    assert int(answer["headers"]["Retry-After"]) >= 1
    assert response_json(answer)["error"] == {
        "code": "secrets_unavailable",
        "message": "the secret named by WEBHOOK_SECRETS_ID could not be read (ThrottlingException)",
    }
    # Not the record's fault: deferred (a copy waits in the queue), never parked for it.
    assert failed == []
    assert messages(stack, stack.dead_letter_queue_url) == []
    waiting = stack.aws.client("sqs").get_queue_attributes(
        QueueUrl=stack.queue_url, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )["Attributes"]
    assert waiting["ApproximateNumberOfMessagesDelayed"] == "1"
    assert records(stack) == []  # released: the redelivery goes through
    faulty_aws.clear()
    assert queue(sqs_record(QUEUED_CLOSE, "m-1")) == []
    assert list(deepcall.expired) == ["8040009999"]


def test_a_missing_secret_names_the_aws_error(
    stack: LocalStack, deepcall: ScriptedDeepCall, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBHOOK_SECRETS_ID", "no-such-secret")

    answer = webhook(gateway_event(CLOSE))

    assert answer["statusCode"] == 503
    assert response_json(answer)["error"] == {
        "code": "configuration_error",
        "message": (
            "the secret named by WEBHOOK_SECRETS_ID could not be read (ResourceNotFoundException)"
        ),
    }


def test_a_missing_deepcall_secret_hands_the_record_back_naming_the_aws_error(
    stack: LocalStack, deepcall: ScriptedDeepCall, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEEPCALL_SECRET_ID", "no-such-secret")
    monkeypatch.setenv("QUEUE_URL", "")

    answer = webhook(gateway_event(CLOSE))

    assert answer["statusCode"] == 503
    assert response_json(answer)["error"]["message"] == (
        "the secret named by DEEPCALL_SECRET_ID could not be read (ResourceNotFoundException)"
    )
    assert queue(sqs_record(QUEUED_CLOSE, "m-1")) == ["m-1"]
    assert deepcall.unset_calls == []


def test_dead_letter_send_failing_hands_the_record_back(
    stack: LocalStack, deepcall: ScriptedDeepCall, faulty_aws: FaultyAwsProxy
) -> None:
    faulty_aws.always("SendMessage", AwsFault.server_error(500, "InternalError"))
    bad = sqs_record({"event_id": "bad-1", "mask": "12"}, "m-bad")

    assert queue(bad) == ["m-bad"]  # not parked, not lost: SQS delivers it again
    assert messages(stack, stack.dead_letter_queue_url) == []

    faulty_aws.clear()
    assert queue(bad) == []
    [parked] = messages(stack, stack.dead_letter_queue_url)
    assert parked["MessageAttributes"]["ErrorCode"]["StringValue"] == "invalid_number"


def test_fallback_send_failing_answers_503_and_the_retry_goes_through(
    stack: LocalStack,
    deepcall: ScriptedDeepCall,
    faulty_aws: FaultyAwsProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DEEPCALL_MAX_ATTEMPTS", "1")
    deepcall.enqueue(Fault(status=503, body=b"busy"))
    faulty_aws.always("SendMessage", AwsFault.reset())

    answer = webhook(gateway_event(CLOSE))

    assert answer["statusCode"] == 503  # the sender keeps the event and retries
    assert response_json(answer)["error"]["code"].startswith("upstream_")
    assert messages(stack, stack.queue_url) == []
    faulty_aws.clear()
    retried = webhook(gateway_event(CLOSE))
    assert response_json(retried)["status"] == "unset"
    assert list(deepcall.expired) == ["8040009999"]
