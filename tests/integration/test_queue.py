"""The queue handler end to end: partial batch responses against the DeepCall stand-in."""

from __future__ import annotations

from typing import Any

from masking_unset.handlers.queue import lambda_handler
from masking_unset.local.deepcall_standin import DeepCallStandIn, Fault
from masking_unset.local.lambda_context import LocalLambdaContext
from masking_unset.local.stack import LocalStack
from tests.conftest import sqs_record


def invoke(records: list[dict[str, Any]]) -> dict[str, Any]:
    return lambda_handler({"Records": records}, LocalLambdaContext())  # type: ignore[arg-type]


def failed_ids(response: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def test_batch_with_a_bad_record_fails_only_that_record(
    stack: LocalStack, deepcall: DeepCallStandIn
) -> None:
    response = invoke(
        [
            sqs_record({"event_id": "e1", "mask": "+91 80 4000 0001"}, "m-1"),
            sqs_record("not json at all", "m-2"),
            sqs_record({"event_id": "e3", "m1": "9876500003", "m2": "9123400003"}, "m-3"),
            sqs_record({"event_id": "e4", "mask": 8040000004}, "m-4"),
            sqs_record({"event_id": "e5"}, "m-5"),
        ]
    )
    assert failed_ids(response) == ["m-2", "m-4", "m-5"]
    assert sorted(deepcall.expired) == ["8040000001", "9876500003|9123400003"]


def test_upstream_failure_fails_the_record(stack: LocalStack, deepcall: DeepCallStandIn) -> None:
    deepcall.enqueue(Fault(status=503, body=b"<html>busy</html>"))
    response = invoke(
        [
            sqs_record({"mask": "+91 80 4000 0001"}, "m-1"),
            sqs_record({"mask": "+91 80 4000 0002"}, "m-2"),
        ]
    )
    assert failed_ids(response) == ["m-1"]
    assert list(deepcall.expired) == ["8040000002"]


def test_empty_batch(stack: LocalStack) -> None:
    assert invoke([]) == {"batchItemFailures": []}


def test_misconfiguration_fails_every_record_without_raising(
    stack: LocalStack, deepcall: DeepCallStandIn, monkeypatch: Any
) -> None:
    from masking_unset.app import reset_app

    monkeypatch.setenv("DEEPCALL_NUMBER_FORMAT", "words")
    reset_app()
    response = invoke([sqs_record({"mask": "8040000001"}, "a"), sqs_record({}, "b")])
    assert failed_ids(response) == ["a", "b"]
    assert deepcall.unset_calls == []
