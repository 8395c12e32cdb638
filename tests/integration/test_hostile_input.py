"""Hostile and sloppy input through the real handlers: never a 500, never a traceback.

Before authentication only 400/401/404/405/413 are possible; after it, unreadable input is a 4xx
with a specific code. On the queue, an unreadable body is dead-lettered at once with its reason,
and the handler answers a valid partial batch response whatever the event.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from masking_unset.handlers.queue import lambda_handler as queue_handler
from masking_unset.handlers.webhook import lambda_handler as webhook_handler
from masking_unset_tools.local.deepcall_standin import DeepCallStandIn, Fault
from masking_unset_tools.local.lambda_context import LocalLambdaContext
from masking_unset_tools.local.signers import sign_event
from masking_unset_tools.local.stack import DEMO_SALESFORCE_ORG_ID, LocalStack
from tests.conftest import sqs_record
from tests.integration.helpers import gateway_event, response_json
from tests.support.logs import captured_logs as support_logs

CLOSE = {"event_id": "evt-h", "ticket_id": "T-7", "mask": "+91 80 4000 1234"}


@pytest.fixture
def logs(capsys: pytest.CaptureFixture[str]) -> Iterator[io.StringIO]:
    """Every log line the functions write; on exit, proof that none of them is a traceback."""
    with support_logs() as stream:
        yield stream
    written = stream.getvalue() + "".join(capsys.readouterr())
    assert "Traceback" not in written
    assert "Logging error" not in written  # a record the logging module could not write
    assert "unexpected" not in written


def invoke(event: Any) -> dict[str, Any]:
    return webhook_handler(event, LocalLambdaContext())  # type: ignore[arg-type]


def error_of(response: dict[str, Any]) -> tuple[int, str]:
    return response["statusCode"], response_json(response)["error"]["code"]


def signed(source: str, body: str | bytes, **kw: Any) -> dict[str, Any]:
    return sign_event(gateway_event(body, source=source, sign=False, **kw), source)


# --- before authentication: header numbers -----------------------------------------------------

HOSTILE_NUMBERS = ["9" * 400, "9" * 5000, "²"]


@pytest.mark.usefixtures("stack", "logs")
@pytest.mark.parametrize("timestamp", HOSTILE_NUMBERS, ids=["400-digits", "5000-nines", "sup2"])
@pytest.mark.parametrize(
    ("source", "headers"),
    [
        ("generic", {"webhook-id": "msg_1", "webhook-signature": "v1,AAAA"}),
        ("hubspot", {"x-hubspot-signature-v3": "AAAA"}),
        ("zendesk", {"x-zendesk-webhook-signature": "AAAA"}),
    ],
)
def test_an_unsigned_hostile_timestamp_is_a_401(
    deepcall: DeepCallStandIn, source: str, headers: dict[str, str], timestamp: str
) -> None:
    name = {
        "generic": "webhook-timestamp",
        "hubspot": "x-hubspot-request-timestamp",
        "zendesk": "x-zendesk-webhook-signature-timestamp",
    }[source]
    event = gateway_event("{}", source=source, sign=False, headers={**headers, name: timestamp})
    assert error_of(invoke(event)) == (401, "invalid_timestamp")
    assert deepcall.unset_calls == []


# --- before authentication: events that are not API Gateway events ----------------------------

V2 = gateway_event(CLOSE, sign=False)
NOT_API_EVENTS = {
    "list": [V2],
    "string": "POST /webhooks/generic",
    "number": 42,
    "null": None,
    "requestContext string": {**V2, "requestContext": "ctx"},
    "requestContext list": {**V2, "requestContext": [1]},
    "http string": {**V2, "requestContext": {"http": "POST"}},
    "headers list": {**V2, "headers": ["webhook-id"]},
    "headers string": {**V2, "headers": "webhook-id: x"},
    "header value object": {**V2, "headers": {"webhook-id": {"a": 1}}},
    "query list": {**V2, "queryStringParameters": ["token"]},
    "pathParameters string": {**V2, "pathParameters": "generic"},
    "rawPath number": {**V2, "rawPath": 5},
    "method number": {**V2, "requestContext": {"http": {"method": 1}}},
    "rest headers number": {"httpMethod": "POST", "path": "/webhooks/generic", "headers": 7},
    "neither": {"Records": []},
}


@pytest.mark.usefixtures("stack", "logs")
@pytest.mark.parametrize("event", NOT_API_EVENTS.values(), ids=NOT_API_EVENTS.keys())
def test_anything_but_an_api_gateway_event_is_400_unsupported_event(
    deepcall: DeepCallStandIn, event: Any
) -> None:
    assert error_of(invoke(event)) == (400, "unsupported_event")
    assert deepcall.unset_calls == []


# --- before authentication: text that is not UTF-8 --------------------------------------------

LONE = "\ud800"
NOT_UTF8 = {
    "header value": {**V2, "headers": {**V2["headers"], "webhook-id": LONE}},
    "header name": {**V2, "headers": {**V2["headers"], f"x-{LONE}": "1"}},
    "query value": {**V2, "queryStringParameters": {"token": LONE}},
    "raw query": {**V2, "rawQueryString": f"token={LONE}"},
    "body": {**V2, "body": '{"mask": "' + LONE + '"}'},
    "path": {**V2, "rawPath": f"/webhooks/{LONE}"},
    "request id": {**V2, "requestContext": {**V2["requestContext"], "requestId": LONE}},
}


@pytest.mark.usefixtures("stack", "logs")
@pytest.mark.parametrize("event", NOT_UTF8.values(), ids=NOT_UTF8.keys())
def test_text_that_cannot_be_utf8_is_400_invalid_encoding(
    deepcall: DeepCallStandIn, event: dict[str, Any]
) -> None:
    assert error_of(invoke(event)) == (400, "invalid_encoding")
    assert deepcall.unset_calls == []


# --- after authentication: unreadable documents -----------------------------------------------

DEEP = "[" * 200_000
DEEP_OBJECT = '{"a":' * 30_000 + "1" + "}" * 30_000
LONE_ESCAPED = '{"ticket_id": "\\ud800", "mask": "8040001234"}'


@pytest.mark.usefixtures("stack", "logs")
@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT, LONE_ESCAPED], ids=["deep", "obj", "lone"])
@pytest.mark.parametrize("source", ["generic", "zendesk", "freshdesk", "hubspot"])
def test_a_signed_unreadable_json_body_is_400(
    deepcall: DeepCallStandIn, source: str, body: str
) -> None:
    assert error_of(invoke(signed(source, body))) == (400, "malformed_body")
    assert deepcall.unset_calls == []


def outbound_message(encoding: str) -> str:
    return (
        f'<?xml version="1.0" encoding="{encoding}"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
        '<soapenv:Body><notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
        f"<OrganizationId>{DEMO_SALESFORCE_ORG_ID}</OrganizationId>"
        "<Notification><Id>n1</Id><sObject><Id>c1</Id><IsClosed>true</IsClosed>"
        "<Mask__c>8040001234</Mask__c></sObject></Notification>"
        "</notifications></soapenv:Body></soapenv:Envelope>"
    )


@pytest.mark.usefixtures("stack", "logs")
@pytest.mark.parametrize("encoding", ["UTF-7", "x-unknown-charset", "UTF-32"])
def test_salesforce_xml_in_an_unreadable_charset_is_400(
    deepcall: DeepCallStandIn, encoding: str
) -> None:
    response = invoke(signed("salesforce", outbound_message(encoding)))
    assert error_of(response) == (400, "malformed_body")
    assert deepcall.unset_calls == []


@pytest.mark.usefixtures("stack", "logs")
def test_salesforce_xml_in_utf8_still_expires(deepcall: DeepCallStandIn) -> None:
    # The control for the test above: only the declared charset differs.
    assert invoke(signed("salesforce", outbound_message("UTF-8")))["statusCode"] == 200
    assert list(deepcall.expired) == ["8040001234"]


# --- DeepCall's Retry-After --------------------------------------------------------------------


@pytest.mark.usefixtures("logs")
@pytest.mark.parametrize("retry_after", ["9" * 400, "9" * 5000, "²"])
def test_a_huge_or_foreign_retry_after_from_deepcall_is_bounded(
    stack: LocalStack,
    deepcall: DeepCallStandIn,
    monkeypatch: pytest.MonkeyPatch,
    retry_after: str,
) -> None:
    monkeypatch.setenv("QUEUE_URL", stack.queue_url + "-missing")  # no fallback: answer 503
    monkeypatch.setenv("DEEPCALL_RETRY_BASE_SECONDS", "0")
    monkeypatch.setenv("RETRY_AFTER_CAP_SECONDS", "0")
    throttled = Fault(
        status=429,
        body=b'{"message": "Too Many Requests"}',
        headers={"Content-Type": "application/json", "Retry-After": retry_after},
    )
    deepcall.enqueue(throttled, throttled, throttled)
    response = invoke(gateway_event(CLOSE))
    assert error_of(response) == (503, "upstream_unavailable")
    expected = "3600" if retry_after.isascii() else "30"  # bounded, or the configured default
    assert response["headers"]["Retry-After"] == expected


# --- the queue ---------------------------------------------------------------------------------


def run_queue(event: Any, *, timeout: float = 30.0) -> dict[str, Any]:
    context = LocalLambdaContext(timeout_seconds=timeout)
    return queue_handler(event, context)  # type: ignore[arg-type]


def failed_ids(response: dict[str, Any]) -> list[str]:
    assert set(response) == {"batchItemFailures"}
    ids = [item["itemIdentifier"] for item in response["batchItemFailures"]]
    assert all(isinstance(i, str) and i for i in ids)  # an empty id fails the whole batch
    return ids


def dead_letters(stack: LocalStack) -> list[dict[str, str]]:
    sqs = stack.aws.client("sqs")
    found: list[dict[str, str]] = []
    while messages := sqs.receive_message(
        QueueUrl=stack.dead_letter_queue_url,
        MaxNumberOfMessages=10,
        MessageAttributeNames=["All"],
        WaitTimeSeconds=0,
    ).get("Messages", []):
        for m in messages:
            attributes = {k: v["StringValue"] for k, v in m["MessageAttributes"].items()}
            found.append({"body": m["Body"], **attributes})
            sqs.delete_message(
                QueueUrl=stack.dead_letter_queue_url, ReceiptHandle=m["ReceiptHandle"]
            )
    return found


@pytest.mark.usefixtures("logs")
@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("[" * 200_000, "nested"),
        (DEEP_OBJECT, "nested"),
        ('{"mask": "\\ud800"}', "Unicode"),
        ('{"event_id": "e", "mask": NaN}', "JSON"),
        (json.dumps({"Type": "Notification", "Message": "[" * 100_000}), "SNS"),
    ],
    ids=["brackets", "objects", "lone-surrogate", "nan", "sns-deep"],
)
def test_an_unreadable_body_is_dead_lettered_at_once(
    stack: LocalStack, deepcall: DeepCallStandIn, body: str, reason: str
) -> None:
    response = run_queue({"Records": [sqs_record(body, "m-bad"), sqs_record(CLOSE, "m-ok")]})
    assert failed_ids(response) == []
    [parked] = dead_letters(stack)
    assert parked["SourceMessageId"] == "m-bad"
    assert parked["ErrorCode"] == "malformed_body"
    assert reason in parked["ErrorMessage"]
    assert parked["body"] == body
    assert list(deepcall.expired) == ["8040001234"]


@pytest.mark.usefixtures("logs")
def test_a_huge_receive_count_hands_back_only_its_own_record_with_a_bounded_backoff(
    stack: LocalStack, deepcall: DeepCallStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEEPCALL_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("MAX_CONCURRENCY", "1")  # faults are served in arrival order
    # A queue allowing that many deliveries: the record is handed back, not parked as last.
    monkeypatch.setenv("QUEUE_MAX_RECEIVES", "1000")
    sqs = stack.aws.client("sqs")
    sqs.send_message(QueueUrl=stack.queue_url, MessageBody=json.dumps({"mask": "8040000001"}))
    [message] = sqs.receive_message(
        QueueUrl=stack.queue_url, AttributeNames=["All"], VisibilityTimeout=0
    )["Messages"]
    record = sqs_record(message["Body"], message["MessageId"], ApproximateReceiveCount="999")
    record["receiptHandle"] = message["ReceiptHandle"]
    # An answer nobody documented is the record's to retry (an outage would defer it instead).
    deepcall.enqueue(Fault(status=400, body=b'{"status": "error", "message": "odd"}'))

    response = run_queue({"Records": [record, sqs_record({"mask": "8040000002"}, "m-2")]})

    # Not the whole batch: m-2 is expired and must not come back for a second call.
    assert failed_ids(response) == [message["MessageId"]]
    assert list(deepcall.expired) == ["8040000002"]
    # Its visibility was pushed out by the capped backoff, so it is not back yet.
    assert sqs.receive_message(QueueUrl=stack.queue_url, WaitTimeSeconds=0).get("Messages") is None


@pytest.mark.usefixtures("stack", "logs")
@pytest.mark.parametrize(
    "event",
    [None, [], [sqs_record(CLOSE, "m-1")], "Records", 7, {}, {"Records": "x"}, {"Records": {}}],
    ids=["none", "list", "list-of-records", "string", "number", "empty", "str-records", "dict"],
)
def test_any_event_gets_a_valid_partial_batch_response(
    deepcall: DeepCallStandIn, event: Any
) -> None:
    assert failed_ids(run_queue(event)) == []
    assert deepcall.unset_calls == []


@pytest.mark.usefixtures("logs")
def test_records_that_cannot_be_reported_are_parked_and_never_named(
    stack: LocalStack, deepcall: DeepCallStandIn
) -> None:
    no_id = sqs_record({"mask": "8040000003"}, "x")
    del no_id["messageId"]
    empty_id = {**sqs_record({"mask": "8040000004"}, "x"), "messageId": ""}
    odd = {**sqs_record({"mask": "8040000005"}, "m-odd"), "attributes": ["not", "a", "map"]}
    odd_group = sqs_record({"mask": "8040000006"}, "m-group", MessageGroupId=["g"])  # type: ignore[arg-type]
    records = [no_id, empty_id, "just text", 12, None, odd, odd_group]

    response = run_queue({"Records": records})

    assert failed_ids(response) == []
    assert sorted(deepcall.expired) == ["8040000005", "8040000006"]
    parked = dead_letters(stack)
    assert [p["ErrorCode"] for p in parked] == ["malformed_record"] * 5
    assert sorted(p["body"] for p in parked) == sorted(
        [no_id["body"], empty_id["body"], "just text", "12", "null"]
    )


@pytest.mark.usefixtures("stack", "logs")
def test_without_configuration_only_reportable_records_are_handed_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from masking_unset.app import reset_app

    monkeypatch.setenv("DEEPCALL_NUMBER_FORMAT", "words")
    reset_app()
    no_id = sqs_record(CLOSE, "x")
    del no_id["messageId"]
    response = run_queue({"Records": [sqs_record(CLOSE, "m-1"), no_id, "text"]})
    assert failed_ids(response) == ["m-1"]


@pytest.mark.usefixtures("logs")
def test_a_body_that_is_not_unicode_text_is_dead_lettered_readably(
    stack: LocalStack, deepcall: DeepCallStandIn
) -> None:
    # Only a hand-built event can hold a raw lone surrogate; SQS itself cannot carry one, so
    # the dead letter holds it escaped.
    response = run_queue({"Records": [sqs_record('{"mask": "\ud800"}', "m-raw")]})
    assert failed_ids(response) == []
    [parked] = dead_letters(stack)
    assert (parked["SourceMessageId"], parked["ErrorCode"]) == ("m-raw", "malformed_body")
    assert parked["body"] == '{"mask": "\\ud800"}'
    assert deepcall.unset_calls == []
