"""The fleet as one: DeepCall's circuit breaker shared by every container through the fleet state
table, and records DeepCall cannot take deferred rather than parked (docs/fleet.md).

Several queue containers run at once (threads, each with its own App, clients and caches)
against the moto server and the DeepCall stand-in; times are scaled down (a 1 s open circuit,
2 s deferrals, a backoff schedule of about 2 s) so that an outage several times longer than the
whole backoff schedule takes seconds."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from masking_unset.app import reset_app
from masking_unset.clients.breaker import circuit_name
from masking_unset.handlers.webhook import lambda_handler as webhook_handler
from masking_unset_tools.local.lambda_context import LocalLambdaContext
from masking_unset_tools.local.stack import LocalStack
from tests.integration.helpers import gateway_event, response_json
from tests.support.deepcall import Fault, ScriptedDeepCall
from tests.support.fleet import SCALED_OUTAGE_SETTINGS, run_fleet

OUTAGE = Fault(status=503, body=b'{"message": "Service Unavailable"}')

SCALED = SCALED_OUTAGE_SETTINGS


@pytest.fixture
def fleet_env(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """The stack's environment with the scaled fleet settings, for the handlers and containers."""
    for name, value in SCALED.items():
        monkeypatch.setenv(name, value)
    reset_app()
    yield dict(os.environ)
    reset_app()


def closes(count: int) -> list[dict[str, Any]]:
    return [
        {"event_id": f"evt-{i}", "ticket_id": f"T-{i}", "mask": f"80{i:08d}"} for i in range(count)
    ]


def enqueue(stack: LocalStack, bodies: list[dict[str, Any]]) -> None:
    sqs = stack.aws.client("sqs")
    for start in range(0, len(bodies), 10):
        entries = [
            {"Id": str(i), "MessageBody": json.dumps(body)}
            for i, body in enumerate(bodies[start : start + 10])
        ]
        sqs.send_message_batch(QueueUrl=stack.queue_url, Entries=entries)


def queue_is_empty(stack: LocalStack, url: str) -> bool:
    attributes = stack.aws.client("sqs").get_queue_attributes(
        QueueUrl=url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return all(value == "0" for value in attributes.values())


def circuit_item(stack: LocalStack) -> dict[str, Any] | None:
    found = stack.aws.client("dynamodb").get_item(
        TableName=stack.fleet_state_table,
        Key={"id": {"S": circuit_name("default")}},
        ConsistentRead=True,
    )
    item: dict[str, Any] | None = found.get("Item")
    return item


def post_close(event_id: str, mask: str) -> dict[str, Any]:
    body = {"event_id": event_id, "ticket_id": f"T-{event_id}", "mask": mask}
    event = gateway_event(body, msg_id=f"msg-{event_id}")
    response: dict[str, Any] = webhook_handler(event, LocalLambdaContext())
    return response


@pytest.mark.slow
@pytest.mark.parametrize("table", ["shared", "missing"])
def test_an_outage_longer_than_the_backoff_schedule_parks_nothing_and_expires_each_once(
    stack: LocalStack,
    deepcall: ScriptedDeepCall,
    fleet_env: dict[str, str],
    table: str,
) -> None:
    # Given 150 closes on the queue (fifteen receives' worth for three containers, each close
    # received again and again during the outage), three queue containers, and DeepCall
    # answering 503 to everything for 6 s: three times the whole backoff schedule, after which
    # the old code parked every record it had received three times.
    records = 150
    environ = dict(fleet_env)
    if table == "missing":  # the breaker's table failing: fail open, as Powertools does
        environ["FLEET_STATE_TABLE"] = "no-such-table"
    enqueue(stack, closes(records))
    deepcall.set_outage(OUTAGE)
    outage_ends = threading.Event()
    during: list[int] = []
    recovered: list[float] = []

    def scenario(timeout: float) -> bool:
        outage_ends.wait(6.0)  # the outage's length: the scenario, not a synchronisation
        during.append(len(deepcall.unset_calls))
        deepcall.set_outage(None)
        started = time.monotonic()
        done = deepcall.wait_until(lambda expired: len(expired) >= records, timeout)
        recovered.append(time.monotonic() - started)
        # A record handed back (no time left in an invocation, under load) may still wait in
        # the queue for its repeat: let the containers drain it, polling SQS, within the bound.
        ends = time.monotonic() + 30
        while not queue_is_empty(stack, stack.queue_url) and time.monotonic() < ends:
            outage_ends.wait(0.5)  # a polling interval: nothing signals an empty queue
        return done

    # When the fleet works through it.
    fleet = run_fleet(
        environ, stack.aws.client("sqs"), stack.queue_url, containers=3, until=scenario, timeout=90
    )

    # Then every close is expired exactly once, nothing is parked and nothing is left.
    assert [c.errors for c in fleet] == [[], [], []]
    assert deepcall.expired == {f"80{i:08d}": 1 for i in range(records)}
    assert queue_is_empty(stack, stack.dead_letter_queue_url)
    assert queue_is_empty(stack, stack.queue_url)
    if table == "shared":
        # DeepCall heard from the fleet only in the first wave (the requests in flight when it
        # failed) and from one probe per open period: at most max(20, 10 % of the records).
        assert during[0] <= max(20, records // 10), during
        item = circuit_item(stack)
        assert item is not None
        assert item["state"]["S"] == "CLOSED"
    # Recovery: within the scaled bound (open time + longest deferral + the work itself).
    assert recovered[0] < 60, recovered


def test_a_webhook_while_the_circuit_is_open_is_queued_at_once_without_calling_deepcall(
    stack: LocalStack,
    deepcall: ScriptedDeepCall,
    fleet_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BREAKER_FAILURE_THRESHOLD", "1")
    monkeypatch.setenv("BREAKER_OPEN_SECONDS", "600")
    reset_app()
    deepcall.set_outage(OUTAGE)
    first = post_close("first", "8000000001")  # fails, opens the circuit, is queued
    assert first["statusCode"] == 202
    item = circuit_item(stack)
    assert item is not None
    assert item["state"]["S"] == "OPEN"
    sent = len(deepcall.unset_calls)

    deepcall.set_outage(None)  # DeepCall is back, but nobody knows until the probe
    second = post_close("second", "8000000002")

    assert second["statusCode"] == 202
    answer = response_json(second)
    assert answer["status"] == "queued"
    assert "circuit breaker" in answer["reason"]
    assert len(deepcall.unset_calls) == sent  # nothing was sent
    bodies = [
        json.loads(m["Body"])
        for m in stack.aws.client("sqs")
        .receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=10)
        .get("Messages", [])
    ]
    assert {b["event_id"] for b in bodies} == {"first", "second"}


def test_retry_after_keeps_the_circuit_open_at_least_that_long(
    stack: LocalStack,
    deepcall: ScriptedDeepCall,
    fleet_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BREAKER_FAILURE_THRESHOLD", "1")
    monkeypatch.setenv("DEEPCALL_MAX_ATTEMPTS", "1")
    reset_app()  # BREAKER_OPEN_SECONDS is 1
    deepcall.enqueue(Fault.retry_after(120, status=503))
    before = int(time.time())

    assert post_close("busy", "8000000003")["statusCode"] == 202

    item = circuit_item(stack)
    assert item is not None
    assert item["state"]["S"] == "OPEN"
    # opened_at + the open time lies at least Retry-After past the failure.
    assert int(item["opened_at"]["N"]) + 1 >= before + 120
    sent = len(deepcall.unset_calls)
    answer = response_json(post_close("later", "8000000004"))
    assert answer["status"] == "queued"
    assert "circuit breaker" in answer["reason"]
    assert len(deepcall.unset_calls) == sent


@pytest.mark.parametrize(
    "answer",
    [
        Fault.error(1505, "Masking number not available"),
        Fault.error(1000, "Invalid parameters"),
        Fault(status=404, body=b'{"status": "error", "message": "no route"}'),
    ],
    ids=["1505", "1000", "404"],
)
def test_an_answer_about_one_masking_never_opens_the_circuit(
    stack: LocalStack,
    deepcall: ScriptedDeepCall,
    fleet_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    answer: Fault,
) -> None:
    monkeypatch.setenv("BREAKER_FAILURE_THRESHOLD", "1")
    reset_app()
    deepcall.enqueue(answer, answer)

    post_close("one", "8000000005")
    post_close("two", "8000000006")
    assert post_close("three", "8000000007")["statusCode"] == 200

    item = circuit_item(stack)
    assert item is None or item["state"]["S"] == "CLOSED"
    assert deepcall.expired["8000000007"] == 1


def test_a_probe_that_succeeds_closes_the_circuit_for_every_container(
    stack: LocalStack,
    deepcall: ScriptedDeepCall,
    fleet_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BREAKER_FAILURE_THRESHOLD", "1")
    reset_app()
    deepcall.enqueue(OUTAGE)
    post_close("trip", "8000000008")
    item = circuit_item(stack)
    assert item is not None
    assert item["state"]["S"] == "OPEN"
    # The open time (1 s) has passed once the stand-in's clock says so: let the item say it.
    opened = int(item["opened_at"]["N"])
    stack.aws.client("dynamodb").update_item(
        TableName=stack.fleet_state_table,
        Key={"id": {"S": circuit_name("default")}},
        UpdateExpression="SET opened_at = :past",
        ExpressionAttributeValues={":past": {"N": str(opened - 5)}},
    )

    probe = post_close("probe", "8000000009")

    assert probe["statusCode"] == 200
    item = circuit_item(stack)
    assert item is not None
    assert item["state"]["S"] == "CLOSED"
    assert deepcall.expired["8000000009"] == 1
