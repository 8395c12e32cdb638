"""What real SQS refuses, end to end: every send of the functions passes through the SQS-limits
double (tests/support/sqs_limits.py), which refuses what SQS refuses and moto accepts. Each test
is the regression test of issue 19, items 10 and 11."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import unicodedata
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from masking_unset.app import reset_app
from masking_unset.handlers.queue import lambda_handler as queue_handler
from masking_unset.handlers.webhook import lambda_handler as webhook_handler
from masking_unset_tools.local.deepcall_standin import Fault
from masking_unset_tools.local.lambda_context import LocalLambdaContext
from masking_unset_tools.local.stack import LocalStack, local_stack
from tests.conftest import sqs_record
from tests.integration.helpers import gateway_event, response_json
from tests.support.deepcall import ScriptedDeepCall
from tests.support.sqs_limits import MAX_MESSAGE_BYTES, SqsLimitedEndpoint, refusal

CLOSE = {"event_id": "evt-sqs", "ticket_id": "T-19", "mask": "+91 80 4000 1919"}
DOWN = Fault(status=500, body=b'{"oops": true}')
# Ids the model accepts (any text of 1-256 characters) that SQS refuses as FIFO ids.
HOSTILE_IDS = [
    "T 9",
    "Ticket-é",
    "x" * 200,
    "tab\tand\nnewline",
    "nul\x00",
    "nonchar\uffff",
    "٤٢",
    "🎫",
]


def webhook(event: dict[str, Any]) -> dict[str, Any]:
    return webhook_handler(event, LocalLambdaContext())  # type: ignore[arg-type]


def queue(*records: dict[str, Any]) -> dict[str, Any]:
    return queue_handler({"Records": list(records)}, LocalLambdaContext())  # type: ignore[arg-type]


def received(stack: LocalStack, url: str) -> list[dict[str, Any]]:
    messages: list[Any] = (
        stack.aws.client("sqs")
        .receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            AttributeNames=["All"],
            WaitTimeSeconds=0,
        )
        .get("Messages", [])
    )
    return messages


def parked(stack: LocalStack) -> list[dict[str, Any]]:
    return [
        {"body": m["Body"], **{k: v["StringValue"] for k, v in m["MessageAttributes"].items()}}
        for m in received(stack, stack.dead_letter_queue_url)
    ]


def is_fifo_id(text: str) -> bool:
    return 1 <= len(text) <= 128 and all(33 <= ord(ch) <= 126 for ch in text)


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPCALL_RETRY_BASE_SECONDS", "0")
    monkeypatch.setenv("RETRY_AFTER_CAP_SECONDS", "0")


@pytest.fixture
def fifo_stack(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalStack]:
    """The stack with a FIFO main queue and a FIFO dead-letter queue (no content-based
    deduplication: every send needs its ids)."""
    sqs = stack.aws.client("sqs")
    prefix = f"mu-{uuid.uuid4().hex[:8]}"
    fifo: dict[Any, str] = {"FifoQueue": "true", "VisibilityTimeout": "180"}
    dlq = sqs.create_queue(QueueName=f"{prefix}-dlq.fifo", Attributes=fifo)["QueueUrl"]
    main = sqs.create_queue(QueueName=f"{prefix}-queue.fifo", Attributes=fifo)["QueueUrl"]
    monkeypatch.setenv("QUEUE_URL", main)
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", dlq)
    reset_app()
    yield dataclasses.replace(stack, queue_url=main, dead_letter_queue_url=dlq)
    reset_app()


def test_every_send_of_the_functions_passes_through_the_sqs_limits_double(
    stack: LocalStack, aws: SqsLimitedEndpoint
) -> None:
    assert stack.env()["AWS_ENDPOINT_URL"] == aws.url != aws.moto_url
    assert refusal("SendMessage", {"QueueUrl": "q", "MessageBody": "\x00"}) is not None
    with local_stack() as local:  # the tooling's own (demo, invoke, serve), in this process
        assert isinstance(local.aws, SqsLimitedEndpoint)


# -- item 10: FIFO ids ---------------------------------------------------------------------------


@pytest.mark.usefixtures("fast_retries")
@pytest.mark.parametrize("raw_id", HOSTILE_IDS)
def test_a_fifo_fallback_queues_every_id_the_model_accepts(
    fifo_stack: LocalStack, deepcall: ScriptedDeepCall, aws: SqsLimitedEndpoint, raw_id: str
) -> None:
    event = {**CLOSE, "ticket_id": raw_id, "event_id": f"{raw_id} evt"}
    deepcall.enqueue(DOWN, DOWN, DOWN)
    response = webhook(gateway_event(event))
    assert response["statusCode"] == 202, response["body"]
    assert response_json(response)["status"] == "queued"
    [message] = received(fifo_stack, fifo_stack.queue_url)
    assert json.loads(message["Body"]) == {**event, "source": "generic"}
    group = message["Attributes"]["MessageGroupId"]
    dedup = message["Attributes"]["MessageDeduplicationId"]
    for derived, raw in ((group, raw_id), (dedup, f"{raw_id} evt")):
        assert is_fifo_id(derived)
        # A keyed hash under the deployment's key: never the id, never a plain hash of it.
        assert raw not in derived
        assert derived != hashlib.sha256(raw.encode()).hexdigest()
    assert group != dedup


@pytest.mark.usefixtures("fast_retries")
def test_two_events_of_one_ticket_share_a_fifo_group_and_keep_their_own_deduplication_ids(
    fifo_stack: LocalStack, deepcall: ScriptedDeepCall
) -> None:
    deepcall.enqueue(*[DOWN] * 6)
    for event_id in ("evt one", "evt two"):
        event = {**CLOSE, "ticket_id": "Ticket 19 é", "event_id": event_id}
        assert webhook(gateway_event(event))["statusCode"] == 202
    messages = received(fifo_stack, fifo_stack.queue_url)
    messages += received(fifo_stack, fifo_stack.queue_url)  # FIFO may hold the second back
    attributes = [m["Attributes"] for m in messages]
    assert len({a["MessageGroupId"] for a in attributes}) == 1
    assert len({a["MessageDeduplicationId"] for a in attributes}) == len(messages)


@pytest.mark.usefixtures("fast_retries")
def test_without_a_hash_key_a_fifo_fallback_still_queues_every_id(
    fifo_stack: LocalStack, deepcall: ScriptedDeepCall, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HASH_KEY_SECRET_ID", "IDEMPOTENCY_TABLE", "TICKET_STATE_TABLE", "TRAIL_TABLE"):
        monkeypatch.delenv(name)
    reset_app()
    deepcall.enqueue(DOWN, DOWN, DOWN)
    event = {**CLOSE, "ticket_id": "Ticket é", "event_id": "x" * 200}
    assert webhook(gateway_event(event))["statusCode"] == 202
    [message] = received(fifo_stack, fifo_stack.queue_url)
    # Never a plain hash: one shared group for such ids (order kept), a random deduplication id.
    assert message["Attributes"]["MessageGroupId"] == "unkeyed"
    assert is_fifo_id(message["Attributes"]["MessageDeduplicationId"])


def test_a_hand_built_fifo_record_with_hostile_ids_is_parked_in_the_fifo_dead_letter_queue(
    fifo_stack: LocalStack,
) -> None:
    record = sqs_record({"event_id": "e", "mask": "not a number"}, "m é " + "x" * 130)
    record["attributes"]["MessageGroupId"] = "group with spaces"
    assert queue(record) == {"batchItemFailures": []}
    [letter] = parked(fifo_stack)
    assert letter["ErrorCode"] == "invalid_number"


# -- item 11: what we add to a message must be what SQS takes -------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "NUL \x00 here",
        "ANSI \x1b[31mred\x1b[0m",
        "noncharacter \uffff",
        "bidi \u202eevil",
        "BEL \x07",
    ],
)
def test_deepcall_text_with_control_characters_is_parked_with_its_reason(
    stack: LocalStack, deepcall: ScriptedDeepCall, text: str
) -> None:
    deepcall.enqueue(Fault.error(1000, f"Invalid parameters: {text}"))
    assert queue(sqs_record(CLOSE, "m-control")) == {"batchItemFailures": []}
    [letter] = parked(stack)
    assert letter["ErrorCode"] == "upstream_rejected"
    reason = letter["ErrorMessage"]
    assert "Invalid parameters" in reason
    assert "\x1b" not in reason
    assert "[31m" not in reason
    assert all(unicodedata.category(ch) not in {"Cc", "Cf", "Cs", "Cn"} for ch in reason)


def test_a_record_body_of_almost_256_kib_is_parked_with_its_reason_cut_to_fit(
    stack: LocalStack,
) -> None:
    document = {"event_id": "evt-big", "mask": "not a number", "pad": ""}
    size = len(json.dumps(document))
    body = json.dumps({**document, "pad": "x" * (MAX_MESSAGE_BYTES - 100 - size)})
    assert queue(sqs_record(body, "m-big")) == {"batchItemFailures": []}
    [letter] = parked(stack)
    assert letter["body"] == body  # as received: it can be redriven
    assert letter["ErrorCode"] == "invalid_number"
    assert letter["ErrorMessage"].endswith("…")


def test_a_hand_built_record_body_with_a_nul_is_parked(stack: LocalStack) -> None:
    assert queue(sqs_record("\x00 not json \uffff", "m-nul")) == {"batchItemFailures": []}
    [letter] = parked(stack)
    assert letter["ErrorCode"] == "malformed_body"
    assert letter["body"] == "\\u0000 not json \\uffff"


@pytest.mark.usefixtures("fast_retries")
def test_a_webhook_event_with_a_noncharacter_in_its_id_is_queued(
    stack: LocalStack, deepcall: ScriptedDeepCall
) -> None:
    event = {**CLOSE, "ticket_id": "T-\uffff"}
    deepcall.enqueue(DOWN, DOWN, DOWN)
    response = webhook(gateway_event(event))
    assert response["statusCode"] == 202, response["body"]
    [message] = received(stack, stack.queue_url)
    assert json.loads(message["Body"]) == {**event, "source": "generic"}
