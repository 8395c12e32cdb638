"""Trust under hostile input, end to end: "done" means expired, no key is empty, DeepCall's text
is untrusted, the number sent is the number given, and one request's work, answer and logs are
bounded. Each test is the regression test of an example found by an outside review."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from masking_unset.app import reset_app
from masking_unset.handlers.queue import lambda_handler as queue_handler
from masking_unset.handlers.webhook import lambda_handler as webhook_handler
from masking_unset_tools.local.deepcall_standin import Fault
from masking_unset_tools.local.lambda_context import LocalLambdaContext
from masking_unset_tools.local.signers import sign_event
from masking_unset_tools.local.stack import DEMO_SOURCE_SECRETS, DEMO_SSID, LocalStack
from tests.conftest import sqs_record
from tests.integration.helpers import gateway_event, response_json
from tests.support.aws import put_secret
from tests.support.deepcall import ScriptedDeepCall
from tests.support.logs import captured_logs as support_logs

CLOSE = {"event_id": "evt-trust", "ticket_id": "T-9", "mask": "+91 80 4000 9999"}
LAMBDA_RESPONSE_LIMIT = 6 * 1024 * 1024


def webhook(event: dict[str, Any]) -> dict[str, Any]:
    return webhook_handler(event, LocalLambdaContext())  # type: ignore[arg-type]


def queue(*records: dict[str, Any]) -> dict[str, Any]:
    return queue_handler({"Records": list(records)}, LocalLambdaContext())  # type: ignore[arg-type]


def signed(source: str, body: Any, **kw: Any) -> dict[str, Any]:
    """A native payload as API Gateway delivers it, signed as ``source`` signs it."""
    raw = body if isinstance(body, bytes | str) else json.dumps(body)
    headers = kw.pop("headers", None)
    event = gateway_event(raw, source=source, sign=False, headers=headers)
    return sign_event(event, source, **kw)


def dead_letters(stack: LocalStack) -> list[dict[str, Any]]:
    messages = (
        stack.aws.client("sqs")
        .receive_message(
            QueueUrl=stack.dead_letter_queue_url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            WaitTimeSeconds=0,
        )
        .get("Messages", [])
    )
    return [
        {"body": m["Body"], **{k: v["StringValue"] for k, v in m["MessageAttributes"].items()}}
        for m in messages
    ]


def hubspot_change(ticket: int, event_id: int, **extra: Any) -> dict[str, Any]:
    return {
        "eventId": event_id,
        "portalId": 62515,
        "occurredAt": 1795688400000 + event_id,
        "subscriptionType": "ticket.propertyChange",
        "objectId": ticket,
        "propertyName": "hs_pipeline_stage",
        "propertyValue": "4",
        **extra,
    }


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """Every log record of the service, formatted as Lambda would ship it."""
    with support_logs() as stream:
        yield stream


@pytest.fixture
def no_retry_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPCALL_RETRY_BASE_SECONDS", "0")
    monkeypatch.setenv("RETRY_AFTER_CAP_SECONDS", "0")


# -- 1. "Done" must mean expired -------------------------------------------------------------


def not_found(status: int, message: str) -> Fault:
    return Fault(
        status=status,
        body=json.dumps({"status": "error", "message": message}).encode(),
        headers={"Content-Type": "application/json"},
    )


@pytest.mark.parametrize(("status", "message"), [(401, "User not found"), (404, "Route not found")])
def test_a_not_found_about_the_account_or_route_is_not_already_expired(
    stack: LocalStack, deepcall: ScriptedDeepCall, status: int, message: str
) -> None:
    deepcall.enqueue(not_found(status, message))
    response = webhook(gateway_event(CLOSE))
    # Not done: kept for a later attempt on the queue, never reported expired.
    assert response["statusCode"] == 202
    body = response_json(response)
    assert body["status"] == "queued"
    assert message in body["reason"]
    assert "already_expired" not in response["body"]
    assert len(deepcall.unset_calls) == 1  # an unrecognised answer is not retried at once
    assert deepcall.expired == {}


@pytest.mark.parametrize(("status", "message"), [(401, "User not found"), (404, "Route not found")])
def test_a_not_found_without_a_queue_asks_the_sender_to_retry(
    stack: LocalStack,
    deepcall: ScriptedDeepCall,
    monkeypatch: pytest.MonkeyPatch,
    status: int,
    message: str,
) -> None:
    monkeypatch.delenv("QUEUE_URL")
    reset_app()
    deepcall.enqueue(not_found(status, message))
    response = webhook(gateway_event(CLOSE))
    assert response["statusCode"] == 503
    assert response_json(response)["error"]["code"] == "upstream_rejected"
    assert "already_expired" not in response["body"]


@pytest.mark.parametrize(("status", "message"), [(401, "User not found"), (404, "Route not found")])
def test_a_queued_event_refused_with_not_found_is_retried_then_dead_lettered_with_its_reason(
    stack: LocalStack, deepcall: ScriptedDeepCall, status: int, message: str
) -> None:
    # An early delivery is handed back for a later attempt...
    deepcall.enqueue(not_found(status, message))
    answer = queue(sqs_record(CLOSE, "m-404"))
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-404"}]}
    assert dead_letters(stack) == []
    # ... and the last one the queue allows (QUEUE_MAX_RECEIVES) is parked with its reason.
    deepcall.enqueue(not_found(status, message))
    answer = queue(sqs_record(CLOSE, "m-404", ApproximateReceiveCount="5"))
    assert answer == {"batchItemFailures": []}
    [parked] = dead_letters(stack)
    assert parked["SourceMessageId"] == "m-404"
    assert parked["ErrorCode"] == "upstream_rejected"
    assert parked["ErrorMessage"].startswith("gave up after 5 deliveries: ")
    assert message in parked["ErrorMessage"]
    assert parked["ReceiveCount"] == "5"
    assert deepcall.expired == {}


def test_a_hubspot_close_with_a_garbage_time_is_a_failed_close(
    stack: LocalStack, deepcall: ScriptedDeepCall
) -> None:
    stack.put_mapping("hubspot#71", {"mask": "+91 80 4000 0071"})
    stack.put_mapping("hubspot#72", {"mask": "+91 80 4000 0072"})
    events = [
        hubspot_change(71, 1, occurredAt="yesterday-ish"),
        hubspot_change(72, 2),
        hubspot_change(73, 3, propertyName="hs_ticket_priority", occurredAt="garbage"),
    ]
    response = webhook(signed("hubspot", events))
    assert response["statusCode"] == 200
    failed, done, ignored = response_json(response)["results"]
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "invalid_event"
    assert "occurred_at" in failed["error"]["message"]
    assert done["status"] == "unset"
    assert ignored["status"] == "ignored"  # not a close: unreadable, still only ignored
    assert list(deepcall.expired) == ["8040000072"]


def test_a_single_unreadable_hubspot_close_answers_400(
    stack: LocalStack, deepcall: ScriptedDeepCall
) -> None:
    stack.put_mapping("hubspot#74", {"mask": "+91 80 4000 0074"})
    response = webhook(signed("hubspot", [hubspot_change(74, 4, occurredAt="not a time")]))
    assert response["statusCode"] == 400
    assert response_json(response)["error"]["code"] == "invalid_event"
    assert deepcall.unset_calls == []


# -- 2. Nobody signs with an empty key -------------------------------------------------------


def test_an_empty_standard_webhooks_key_verifies_nothing(
    stack: LocalStack, deepcall: ScriptedDeepCall, captured_logs: io.StringIO
) -> None:
    put_secret(stack, stack.webhook_secrets_id, {"generic": ["whsec_"]})
    response = webhook(gateway_event(CLOSE, secret="whsec_"))
    assert response["statusCode"] == 503
    assert response_json(response)["error"]["code"] == "configuration_error"
    assert "generic" in response_json(response)["error"]["message"]
    assert deepcall.unset_calls == []
    refused = [
        json.loads(line)
        for line in captured_logs.getvalue().splitlines()
        if '"webhook secret refused"' in line
    ]
    assert [entry["source"] for entry in refused] == ["generic"]


@pytest.mark.parametrize(
    ("source", "unfit"),
    [
        ("generic", "whsec_" + "c2hvcnQta2V5"),  # "short-key": 9 bytes
        ("generic", "not base64 at all"),
        ("zendesk", ""),
        ("zendesk", "                    "),
        ("freshdesk", "short-token"),
        ("hubspot", "\t\n"),
        ("salesforce", "fifteen-chars!!"),
    ],
)
def test_an_unfit_secret_makes_its_source_a_configuration_error(
    stack: LocalStack,
    deepcall: ScriptedDeepCall,
    captured_logs: io.StringIO,
    source: str,
    unfit: str,
) -> None:
    put_secret(stack, stack.webhook_secrets_id, {**DEMO_SOURCE_SECRETS, source: [unfit]})
    body: Any = {"event_id": "e", "mask": "8040001234"}
    # A secret unfit for Standard Webhooks cannot sign: any signature will do then.
    signing = None if source == "generic" else unfit
    response = webhook(signed(source, body, secret=signing))
    assert response["statusCode"] == 503
    assert response_json(response)["error"]["code"] == "configuration_error"
    assert source in response_json(response)["error"]["message"]
    assert deepcall.unset_calls == []
    logs = captured_logs.getvalue()
    assert f'"source":"{source}"' in logs
    if unfit.strip():
        assert unfit not in logs
        assert unfit not in response["body"]


def test_one_unfit_secret_in_a_rotation_list_disables_the_source(
    stack: LocalStack, deepcall: ScriptedDeepCall
) -> None:
    good = DEMO_SOURCE_SECRETS["zendesk"][0]
    put_secret(stack, stack.webhook_secrets_id, {"zendesk": [good, ""]})
    response = webhook(signed("zendesk", {"ticket_id": "1", "mask": "8040001234"}))
    assert response["statusCode"] == 503
    assert "secret 2" in response_json(response)["error"]["message"]
    assert deepcall.unset_calls == []


# -- 4. Text from DeepCall is untrusted ------------------------------------------------------

USER, TOKEN = "echo-user-7f3a", "echo-token-c41d9e"


@pytest.mark.parametrize(
    ("credentials", "echo"),
    [
        ({"ssid": DEMO_SSID}, f"Invalid parameters: ssid {DEMO_SSID}"),
        ({"userId": USER, "token": TOKEN}, f"Invalid parameters: userId {USER} token {TOKEN}"),
    ],
)
def test_deepcall_echoing_the_credential_reaches_no_answer_log_or_dead_letter(
    stack: LocalStack,
    deepcall: ScriptedDeepCall,
    captured_logs: io.StringIO,
    capsys: pytest.CaptureFixture[str],
    credentials: dict[str, str],
    echo: str,
) -> None:
    put_secret(stack, stack.deepcall_secret_id, credentials)
    deepcall.set_credentials(credentials)
    sent = list(credentials.values())
    echo += " for ९८७६५ ४३२१० and 98765/43210"  # numbers in another script, another separator

    deepcall.enqueue(Fault.error(1000, echo))
    answer = webhook(gateway_event(CLOSE))
    deepcall.enqueue(Fault.error(1000, echo))
    assert queue(sqs_record({**CLOSE, "event_id": "evt-q"}, "m-echo")) == {"batchItemFailures": []}
    [parked] = dead_letters(stack)

    assert answer["statusCode"] == 502
    assert "Invalid parameters" in response_json(answer)["error"]["message"]
    assert "Invalid parameters" in parked["ErrorMessage"]
    outputs = {
        "502 body": answer["body"],
        "ErrorMessage": parked["ErrorMessage"],
        "logs": captured_logs.getvalue(),
        "stdout": capsys.readouterr().out,
    }
    assert "Invalid parameters" in outputs["logs"]
    for where, text in outputs.items():
        for secret in sent:
            assert secret not in text, where
        assert "43210" not in text, where
        assert "४३२१०" not in text, where


def test_a_long_deepcall_message_is_bounded(stack: LocalStack, deepcall: ScriptedDeepCall) -> None:
    deepcall.enqueue(Fault.error(1000, "x" * 100_000))
    answer = webhook(gateway_event(CLOSE))
    assert answer["statusCode"] == 502
    assert len(response_json(answer)["error"]["message"]) < 300


# -- 5. The number sent is the number given --------------------------------------------------


@pytest.mark.parametrize(
    "number", ["98765 4321O", "9876CALLME", "{{ticket.ticket_field_360011112222}}"]
)
def test_a_number_with_letters_or_a_placeholder_is_refused_before_any_call(
    stack: LocalStack, deepcall: ScriptedDeepCall, number: str
) -> None:
    response = webhook(gateway_event({**CLOSE, "mask": number}))
    assert response["statusCode"] == 422
    assert response_json(response)["error"]["code"] == "invalid_number"
    assert deepcall.unset_calls == []


def test_an_unrendered_zendesk_placeholder_is_refused(
    stack: LocalStack, deepcall: ScriptedDeepCall
) -> None:
    body = {"ticket_id": "5", "status": "Solved", "mask": "{{ticket.ticket_field_360011112222}}"}
    response = webhook(signed("zendesk", body))
    assert response["statusCode"] == 422
    assert response_json(response)["error"]["code"] == "invalid_number"
    assert deepcall.unset_calls == []


def test_a_foreign_number_in_national_format_is_refused(
    stack: LocalStack, deepcall: ScriptedDeepCall
) -> None:
    body = {"event_id": "e-1", "m1": "+1 987-654-3210", "m2": "+91 98765 43210"}
    response = webhook(gateway_event(body))
    assert response["statusCode"] == 422
    error = response_json(response)["error"]
    assert error["code"] == "foreign_number"
    assert "987-654" not in error["message"]
    assert deepcall.unset_calls == []


def test_numbers_in_another_script_are_sent_as_ascii_digits(
    stack: LocalStack, deepcall: ScriptedDeepCall
) -> None:
    response = webhook(gateway_event({**CLOSE, "mask": "+९१ ८० ४००० ९९९९"}))
    assert response["statusCode"] == 200
    [call] = deepcall.unset_calls
    assert call.json is not None
    assert call.json["mask"] == "8040009999"


# -- 6. Bounded in, bounded out --------------------------------------------------------------


def test_a_256_kib_hubspot_array_of_131000_items_is_refused_small_and_quietly(
    stack: LocalStack, deepcall: ScriptedDeepCall, captured_logs: io.StringIO
) -> None:
    body = "[" + ",".join(["0"] * 131_000) + "]"
    assert len(body) <= 256 * 1024
    response = webhook(signed("hubspot", body))
    assert response["statusCode"] == 413
    assert response_json(response)["error"]["code"] == "too_many_events"
    assert len(response["body"]) < 500
    assert deepcall.unset_calls == []
    assert len(captured_logs.getvalue()) < 5_000


def test_a_full_delivery_answers_within_the_response_limit_with_few_log_lines(
    stack: LocalStack, deepcall: ScriptedDeepCall, captured_logs: io.StringIO
) -> None:
    # 100 events, the most HubSpot sends, each with the longest ids an event may carry.
    long_id = "\U0001f600" * 256  # escaped in JSON as 12 bytes a character
    events = [
        hubspot_change(index, index, propertyValue="2", eventId=long_id + str(index))
        for index in range(100)
    ]
    response = webhook(signed("hubspot", json.dumps(events, ensure_ascii=False)))
    assert response["statusCode"] == 200
    assert len(response_json(response)["results"]) == 100
    assert len(json.dumps(response)) < LAMBDA_RESPONSE_LIMIT // 4
    assert captured_logs.getvalue().count("event ignored") <= 3
    assert '"more events ignored"' in captured_logs.getvalue()
    assert deepcall.unset_calls == []


def test_one_event_more_than_a_delivery_may_carry_is_refused(
    stack: LocalStack, deepcall: ScriptedDeepCall
) -> None:
    stack.put_mapping("hubspot#1", {"mask": "+91 80 4000 0001"})
    events = [hubspot_change(1, index) for index in range(101)]
    response = webhook(signed("hubspot", events))
    assert response["statusCode"] == 413
    assert response_json(response)["error"]["code"] == "too_many_events"
    assert deepcall.unset_calls == []
