"""The same close event, delivered again and again, at once or later: one DeepCall call."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from masking_unset.handlers.queue import lambda_handler as queue_handler
from masking_unset.handlers.webhook import lambda_handler as webhook_handler
from masking_unset_tools.local.lambda_context import LocalLambdaContext
from masking_unset_tools.local.stack import LocalStack
from tests.conftest import sqs_record
from tests.integration.helpers import gateway_event, response_json
from tests.support.deepcall import ScriptedDeepCall

CLOSE = {"event_id": "evt-once", "ticket_id": "T-7", "mask": "+91 80 4000 7777"}


def webhook(event: dict[str, Any]) -> dict[str, Any]:
    return webhook_handler(event, LocalLambdaContext())  # type: ignore[arg-type]


def test_three_deliveries_two_concurrent_make_one_call(
    stack: LocalStack, deepcall: ScriptedDeepCall
) -> None:
    deepcall.latency = 2.0  # keeps the first delivery in flight while the second arrives
    answers: list[dict[str, Any]] = []
    first = threading.Thread(target=lambda: answers.append(webhook(gateway_event(CLOSE))))
    first.start()
    assert deepcall.wait_for_unset_calls(1, timeout=10)

    concurrent = webhook(gateway_event(CLOSE))
    first.join(timeout=30)
    deepcall.latency = 0.0
    later = webhook(gateway_event(CLOSE))

    assert [a["statusCode"] for a in answers] == [200]
    assert response_json(answers[0])["status"] == "unset"
    assert concurrent["statusCode"] == 409
    assert int(concurrent["headers"]["Retry-After"]) >= 1
    assert response_json(concurrent)["error"]["code"] == "in_progress"
    assert later["statusCode"] == 200
    assert response_json(later) == {
        "status": "duplicate",
        "first_status": "unset",
        "event_id": "evt-once",
        "ticket_id": "T-7",
        "target": {"mask": "***7777"},
    }
    assert len(deepcall.unset_calls) == 1


def test_same_event_twice_in_one_batch_is_called_once(
    stack: LocalStack, deepcall: ScriptedDeepCall
) -> None:
    deepcall.latency = 1.5  # long enough that both records overlap even on a busy machine
    records = [sqs_record(CLOSE, "a"), sqs_record(CLOSE, "b")]
    answer = queue_handler({"Records": records}, LocalLambdaContext())  # type: ignore[arg-type]
    deepcall.latency = 0.0
    failed = [item["itemIdentifier"] for item in answer["batchItemFailures"]]
    # One ran; the other found it in flight and comes back later, as a duplicate.
    assert len(failed) == 1
    assert len(deepcall.unset_calls) == 1
    again = queue_handler(
        {"Records": [sqs_record(CLOSE, failed[0])]},
        LocalLambdaContext(),  # type: ignore[arg-type]
    )
    assert again == {"batchItemFailures": []}
    assert len(deepcall.unset_calls) == 1


def test_a_failed_attempt_is_not_remembered(
    stack: LocalStack, deepcall: ScriptedDeepCall, monkeypatch: pytest.MonkeyPatch
) -> None:
    from masking_unset_tools.local.deepcall_standin import Fault

    monkeypatch.setenv("QUEUE_URL", "")
    monkeypatch.setenv("DEEPCALL_MAX_ATTEMPTS", "1")
    deepcall.enqueue(Fault(status=503, body=b"busy"))
    assert webhook(gateway_event(CLOSE))["statusCode"] == 503
    retried = webhook(gateway_event(CLOSE))
    assert retried["statusCode"] == 200
    assert response_json(retried)["status"] == "unset"
    assert list(deepcall.expired) == ["8040007777"]


def test_events_without_ids_are_keyed_on_ticket_target_and_time(
    stack: LocalStack, deepcall: ScriptedDeepCall
) -> None:
    base = {"ticket_id": "T-8", "mask": "+91 80 4000 8888", "occurred_at": "2026-11-26T10:00:00Z"}
    same_in_other_notation = {**base, "mask": "08040008888"}
    later_close = {**base, "occurred_at": "2026-11-27T10:00:00Z"}
    deepcall.active = None
    for index, body in enumerate([base, same_in_other_notation, later_close]):
        record = sqs_record(body, f"m-{index}")
        queue_handler({"Records": [record]}, LocalLambdaContext())  # type: ignore[arg-type]
    # The re-notated duplicate made no call; the later close of a re-opened ticket did.
    assert len(deepcall.unset_calls) == 2


def test_a_replayed_zendesk_trigger_delivery_calls_once_whatever_its_invocation_id(
    stack: LocalStack, deepcall: ScriptedDeepCall
) -> None:
    from masking_unset_tools.local.signers import sign_event, with_headers

    # A trigger body without an event id, signed once by Zendesk.
    body = {"ticket_id": "5159", "status": "Solved", "mask": "+91 80 4000 5159"}
    delivery = sign_event(gateway_event(body, source="zendesk", sign=False), "zendesk")
    invocation = "X-Zendesk-Webhook-Invocation-Id"
    # Replayed as captured, with other invocation ids (unsigned), and with none.
    replays = [
        with_headers(delivery, {invocation: "8350205590"}),
        with_headers(delivery, {invocation: "1111111111"}),
        with_headers(delivery, {invocation: "2222222222"}),
        delivery,
    ]
    answers = [webhook(event) for event in replays]

    assert [a["statusCode"] for a in answers] == [200, 200, 200, 200]
    assert [response_json(a)["status"] for a in answers] == [
        "unset",
        "duplicate",
        "duplicate",
        "duplicate",
    ]
    assert len({response_json(a)["event_id"] for a in answers}) == 1
    assert len(deepcall.unset_calls) == 1


def test_a_zendesk_trigger_signed_again_later_is_another_delivery(
    stack: LocalStack, deepcall: ScriptedDeepCall, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    monkeypatch.setenv("DEEPCALL_ALREADY_DONE_CODES", "1505")  # the stand-in's "nothing active"
    from masking_unset_tools.local.signers import sign_event

    # The same ticket solved again (after a reopen): Zendesk signs it at another time.
    body = {"ticket_id": "5160", "status": "Solved", "mask": "+91 80 4000 5160"}
    unsigned = gateway_event(body, source="zendesk", sign=False)
    now = time.time()
    first = webhook(sign_event(unsigned, "zendesk", now=now - 60))
    second = webhook(sign_event(unsigned, "zendesk", now=now))
    assert response_json(first)["status"] == "unset"
    assert response_json(second)["status"] == "already_expired"  # called, not a duplicate
    assert len(deepcall.unset_calls) == 2
