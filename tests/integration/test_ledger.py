"""The ledger, against the local servers: a repeated close never fails (a sender's retry signed
again, a rule firing twice, close -> close, a queue redelivery), and never spares a live masking
(another ticket, a later close, a reopen in between). The DeepCall stand-in answers 1505 "Masking
number not available" for a target it already expired; ``deepcall.clear()`` makes it active
again."""

from __future__ import annotations

import base64
import json
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from masking_unset.app import reset_app
from masking_unset.handlers import queue, webhook
from masking_unset.models.hashing import HashKeys
from masking_unset_tools.local.deepcall_standin import DeepCallStandIn
from masking_unset_tools.local.lambda_context import LocalLambdaContext
from masking_unset_tools.local.signers import sign_event
from masking_unset_tools.local.stack import DEMO_HASH_KEY, DEMO_SOURCE_SECRETS, LocalStack
from tests.conftest import sqs_record
from tests.integration.helpers import gateway_event, response_json

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
MASK = "+91 80 4000 5150"
PROOF = re.compile(r"^expired by event \S+ at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def invoke(event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = webhook.lambda_handler(event, LocalLambdaContext())  # type: ignore[arg-type]
    return response["statusCode"], response_json(response)


def generic(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return invoke(gateway_event(body, msg_id=f"msg_{body.get('event_id', 'none')}"))


def close(
    event_id: str, ticket: str | None = "L-1", at: datetime | None = None, **fields: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"event_id": event_id, "mask": MASK, **fields}
    if ticket is not None:
        body["ticket_id"] = ticket
    if at is not None:
        body["occurred_at"] = at.isoformat()
    return body


def zendesk(body: dict[str, Any], now: float) -> dict[str, Any]:
    event = gateway_event(json.dumps(body), source="zendesk", sign=False)
    return sign_event(event, "zendesk", now=now)


def queued(*records: dict[str, Any]) -> list[str]:
    context = LocalLambdaContext(timeout_seconds=30)
    response = queue.lambda_handler({"Records": list(records)}, context)  # type: ignore[arg-type]
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def dead_letters(stack: LocalStack) -> list[dict[str, Any]]:
    sqs = stack.aws.client("sqs")
    return sqs.receive_message(
        QueueUrl=stack.dead_letter_queue_url,
        MaxNumberOfMessages=10,
        MessageAttributeNames=["All"],
        WaitTimeSeconds=0,
    ).get("Messages", [])


def settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reset_app()


# -- A repeat never fails --------------------------------------------------------------------


def test_a_zendesk_retry_signed_again_ends_already_expired(
    stack: LocalStack, deepcall: DeepCallStandIn
) -> None:
    # A trigger body without event_id or occurred_at: its event id is its signature's hash,
    # which Zendesk's retry (a new timestamp) changes.
    body = {"ticket_id": "5150", "status": "Solved", "mask": MASK}
    now = time.time()
    first_status, first = invoke(zendesk(body, now - 60))
    status, again = invoke(zendesk(body, now))
    assert (first_status, first["status"]) == (200, "unset")
    assert again["event_id"] != first["event_id"]
    # Sent again (a body names no moment), and DeepCall's 1505 is proven by the ledger.
    assert (status, again["status"]) == (200, "already_expired")
    assert again["reason"].startswith(f"expired by event {first['event_id']} at ")
    assert PROOF.match(again["reason"])
    assert len(deepcall.unset_calls) == 2


def test_a_freshdesk_rule_firing_twice_ends_already_expired(
    stack: LocalStack, deepcall: DeepCallStandIn
) -> None:
    token = DEMO_SOURCE_SECRETS["freshdesk"][0]
    basic = base64.b64encode(f"{token}:X".encode()).decode()

    def fire(minute: int) -> tuple[int, dict[str, Any]]:
        ticket = {"ticket_id": 51, "ticket_status": "Closed", "mask": MASK}
        ticket["occurred_at"] = (T0 + timedelta(minutes=minute)).isoformat()
        headers = {"authorization": f"Basic {basic}"}
        body = {"freshdesk_webhook": ticket}
        return invoke(gateway_event(body, source="freshdesk", sign=False, headers=headers))

    assert fire(0)[1]["status"] == "unset"
    status, again = fire(1)  # the rule fires again a minute later: another close
    assert (status, again["status"]) == (200, "already_expired")
    assert PROOF.match(again["reason"])
    assert len(deepcall.unset_calls) == 2  # at most one more call
    assert dead_letters(stack) == []


@pytest.mark.parametrize("ordered", [True, False], ids=["occurred_at", "no_occurred_at"])
def test_close_then_close_of_the_same_ticket_ends_already_expired(
    stack: LocalStack, deepcall: DeepCallStandIn, ordered: bool
) -> None:
    first = close("c-1", at=T0 if ordered else None)
    second = close("c-2", at=T0 + timedelta(minutes=1) if ordered else None)
    assert generic(first)[1]["status"] == "unset"
    status, body = generic(second)
    assert (status, body["status"]) == (200, "already_expired")
    assert body["reason"].startswith("expired by event c-1 at ")
    assert PROOF.match(body["reason"])
    assert len(deepcall.unset_calls) == 2


def test_the_same_close_signed_again_with_its_occurred_at_is_a_duplicate(
    stack: LocalStack, deepcall: DeepCallStandIn
) -> None:
    # The same ticket, target and occurred_at under another event id: not stale, not called.
    assert generic(close("c-1", at=T0))[1]["status"] == "unset"
    status, body = generic(close("c-1-retry", at=T0))
    assert (status, body["status"], body["first_status"]) == (200, "duplicate", "unset")
    assert body["reason"].startswith("expired by event c-1 at ")
    assert len(deepcall.unset_calls) == 1


def test_a_repeated_scheduled_close_restarts_no_grace_period(
    stack: LocalStack, deepcall: DeepCallStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings(monkeypatch, EXPIRY_GRACE_MINUTES="30")
    assert generic(close("s-1"))[1]["status"] == "scheduled"
    status, body = generic(close("s-1-again"))  # the same body, another event id
    assert (status, body["status"], body["first_status"]) == (200, "duplicate", "scheduled")
    assert body["reason"].startswith("expiry set by event s-1 for ")
    assert len(deepcall.unset_calls) == 1


def test_a_queue_redelivery_ends_duplicate_or_already_expired_never_parked(
    stack: LocalStack, deepcall: DeepCallStandIn
) -> None:
    record = close("q-1", ticket="Q-1")
    assert queued(sqs_record(record, "m-1")) == []
    assert queued(sqs_record(record, "m-2")) == []  # SQS delivers it again: a duplicate
    assert len(deepcall.unset_calls) == 1
    # Another close of the ticket, then the first one again under another id: each is sent
    # once, DeepCall answers 1505, and the ledger proves it: already_expired, deleted.
    assert queued(sqs_record(close("q-2", ticket="Q-1", at=T0), "m-3")) == []
    assert queued(sqs_record(close("q-1-again", ticket="Q-1"), "m-4")) == []
    assert dead_letters(stack) == []
    assert len(deepcall.unset_calls) == 3
    state = stack.ticket_state("queue#ticket#Q-1")
    assert state is not None
    assert any(name.startswith("ledger#") for name in state)


def test_a_repeated_reopen_after_expiry_is_too_late_with_its_proof(
    stack: LocalStack, deepcall: DeepCallStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings(monkeypatch, REOPEN_EXTEND_MINUTES="60")
    assert generic(close("c-1", at=T0))[1]["status"] == "unset"
    reopen = close("r-1", at=T0 + timedelta(minutes=1), action="reopen")
    status, body = generic(reopen)
    assert (status, body["status"]) == (200, "too_late")
    assert body["reason"].startswith("expired by event c-1 at ")


# -- A repeat never spares a live masking ------------------------------------------------------


def test_the_same_mask_closed_by_another_ticket_is_sent_to_deepcall(
    stack: LocalStack, deepcall: DeepCallStandIn
) -> None:
    assert generic(close("a-1", ticket="A"))[1]["status"] == "unset"
    deepcall.clear()  # the pooled number is given to another ticket's masking
    status, body = generic(close("b-1", ticket="B"))
    assert (status, body["status"]) == (200, "unset")
    assert list(deepcall.expired) == ["8040005150"]


def test_a_later_close_of_the_same_ticket_is_sent_to_deepcall(
    stack: LocalStack, deepcall: DeepCallStandIn
) -> None:
    assert generic(close("c-1", at=T0))[1]["status"] == "unset"
    deepcall.clear()  # a new masking for the ticket, after a reopen the product never saw
    status, body = generic(close("c-2", at=T0 + timedelta(minutes=5)))
    assert (status, body["status"]) == (200, "unset")
    assert list(deepcall.expired) == ["8040005150"]


def test_close_reopen_close_calls_deepcall_three_times(
    stack: LocalStack, deepcall: DeepCallStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings(monkeypatch, EXPIRY_GRACE_MINUTES="30", REOPEN_EXTEND_MINUTES="120")
    answers = [
        generic(close("c-1", at=T0))[1]["status"],
        generic(close("r-1", at=T0 + timedelta(minutes=1), action="reopen"))[1]["status"],
        generic(close("c-2", at=T0 + timedelta(minutes=2)))[1]["status"],
    ]
    assert answers == ["scheduled", "extended", "scheduled"]
    assert [c.json["expiry_duration"] for c in deepcall.unset_calls if c.json] == [30, 120, 30]


def test_an_extension_since_the_expiry_removes_the_proof(
    stack: LocalStack, deepcall: DeepCallStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings(monkeypatch, REOPEN_EXTEND_MINUTES="120")
    assert generic(close("c-1", at=T0))[1]["status"] == "unset"
    deepcall.clear()  # live again: the reopen extends it
    reopen = close("r-1", at=T0 + timedelta(minutes=1), action="reopen")
    assert generic(reopen)[1]["status"] == "extended"
    deepcall.active = set()  # DeepCall now says nothing is active for it
    status, body = generic(close("c-2", at=T0 + timedelta(minutes=2)))
    assert (status, body["error"]["code"]) == (502, "upstream_rejected")


def test_1505_without_a_ledger_entry_stays_a_failure(
    stack: LocalStack, deepcall: DeepCallStandIn
) -> None:
    deepcall.active = set()  # DeepCall knows no masking for the target
    status, body = generic(close("c-1", at=T0))
    assert (status, body["error"]["code"]) == (502, "upstream_rejected")
    assert queued(sqs_record(close("q-1", ticket="Q-9"), "m-1")) == []
    [parked] = dead_letters(stack)
    attributes = parked["MessageAttributes"]
    assert attributes["ErrorCode"]["StringValue"] == "upstream_rejected"
    assert "1505" in attributes["ErrorMessage"]["StringValue"]


def test_the_ledger_names_are_keyed_hashes_and_hold_no_number(
    stack: LocalStack, deepcall: DeepCallStandIn
) -> None:
    assert generic(close("c-1", at=T0))[1]["status"] == "unset"
    deepcall.clear()
    assert generic(close("c-2", ticket=None))[1]["status"] == "unset"  # keyed by target
    items = stack.aws.client("dynamodb").scan(TableName=stack.ticket_state_table)["Items"]
    keys = HashKeys(base64.b64decode(DEMO_HASH_KEY))
    name = f"ledger#{keys.digest('ledger', 'mask=8040005150')}"
    assert all(name in item for item in items)
    assert len(items) == 2
    text = json.dumps(items)
    assert "8040005150" not in text
