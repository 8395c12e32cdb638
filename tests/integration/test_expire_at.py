"""Absolute expiry times against the local servers: an event's ``expire_at`` on the webhook and
the queue (the DeepCall stand-in receives the whole minutes left, rounded up), a moment already
past, the refusals, a CRM source's field, and ``EXPIRY_GRACE_UNTIL``.

No timed assertions: what was sent is checked against the bounds the moments before and after
the request allow."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from masking_unset.app import reset_app
from masking_unset.handlers import queue, webhook
from masking_unset.models.tickets import iso_ms, ticket_key
from masking_unset_tools.local.lambda_context import LocalLambdaContext
from masking_unset_tools.local.signers import sign_event
from masking_unset_tools.local.stack import LocalStack
from tests.conftest import sqs_record
from tests.integration.helpers import gateway_event, response_json
from tests.support.deepcall import ScriptedDeepCall

TICKET = "T-901"
KOLKATA = timezone(timedelta(hours=5, minutes=30))


def close(event_id: str, **fields: Any) -> dict[str, Any]:
    closed = datetime.now(UTC) - timedelta(minutes=1)
    return {
        "event_id": event_id,
        "ticket_id": TICKET,
        "mask": "+91 80 4000 0901",
        "occurred_at": closed.isoformat(),
        **fields,
    }


def post(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    event = gateway_event(body, msg_id=f"msg_{body['event_id']}")
    response = webhook.lambda_handler(event, LocalLambdaContext())  # type: ignore[arg-type]
    return response["statusCode"], response_json(response)


def queued(*records: dict[str, Any]) -> list[str]:
    answer = queue.lambda_handler({"Records": list(records)}, LocalLambdaContext())
    return [item["itemIdentifier"] for item in answer["batchItemFailures"]]


def parked(stack: LocalStack) -> list[dict[str, str]]:
    sqs = stack.aws.client("sqs")
    messages = sqs.receive_message(
        QueueUrl=stack.dead_letter_queue_url,
        MessageAttributeNames=["All"],
        MaxNumberOfMessages=10,
    ).get("Messages", [])
    return [
        {name: value["StringValue"] for name, value in message["MessageAttributes"].items()}
        for message in messages
    ]


def settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reset_app()


def sent_minutes(deepcall: ScriptedDeepCall) -> list[object]:
    return [call.json["expiry_duration"] for call in deepcall.unset_calls if call.json]


def minutes_left(moment: datetime, at: float) -> int:
    return math.ceil((moment.timestamp() - at) / 60)


def assert_scheduled_for(
    moment: datetime, answer: dict[str, Any], sent: object, before: float, after: float
) -> None:
    """``sent`` is the whole minutes from some instant of the request to ``moment``, rounded
    up; the answer says so, and when the masking expires: never before ``moment``."""
    assert isinstance(sent, int)
    assert minutes_left(moment, after) <= sent <= minutes_left(moment, before)
    assert (answer["status"], answer["expires_in_minutes"]) == ("scheduled", sent)
    expires = datetime.fromisoformat(answer["expires_at"]).timestamp()
    assert math.floor(before) + sent * 60 <= expires <= after + sent * 60
    assert expires >= math.floor(moment.timestamp())


def test_a_future_expire_at_sends_the_minutes_left_rounded_up_and_answers_when(
    stack: LocalStack, deepcall: ScriptedDeepCall, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings(monkeypatch, EXPIRY_GRACE_MINUTES="30")  # the event's moment wins over the setting
    moment = datetime.now(UTC) + timedelta(hours=7, seconds=20)
    before = time.time()
    status, answer = post(close("x-1", expire_at=moment.astimezone(KOLKATA).isoformat()))
    after = time.time()
    assert status == 200
    [sent] = sent_minutes(deepcall)
    assert_scheduled_for(moment, answer, sent, before, after)
    assert deepcall.expired == {}  # scheduled, not expired yet
    # The ledger records the minutes actually sent, the moment answered.
    state = stack.ticket_state(ticket_key("generic", TICKET, None))
    assert state is not None
    [entry] = [value["M"] for name, value in state.items() if name.startswith("ledger#")]
    at, until = int(entry["at"]["N"]), int(entry["until"]["N"])
    assert until - at == sent * 60_000  # type: ignore[operator]
    assert iso_ms(until) == answer["expires_at"]


def test_the_same_body_again_is_a_duplicate_and_another_moment_is_not(
    stack: LocalStack, deepcall: ScriptedDeepCall, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings(monkeypatch)
    moment = datetime.now(UTC) + timedelta(hours=3)
    body = close("d-1", expire_at=moment.isoformat())
    body.pop("occurred_at")  # the same body names no moment of its own: expire_at tells them apart
    assert post(body)[1]["status"] == "scheduled"
    # The same moment written in another offset, under another event id: the same close.
    again = {**body, "event_id": "d-2", "expire_at": moment.astimezone(KOLKATA).isoformat()}
    status, answer = post(again)
    assert (status, answer["status"], answer["first_status"]) == (200, "duplicate", "scheduled")
    later = {**body, "event_id": "d-3", "expire_at": (moment + timedelta(hours=1)).isoformat()}
    assert post(later)[1]["status"] == "scheduled"
    assert len(deepcall.unset_calls) == 2


@pytest.mark.parametrize("ago", [timedelta(seconds=1), timedelta(days=30)])
def test_an_expire_at_already_past_expires_the_masking_now(
    stack: LocalStack, deepcall: ScriptedDeepCall, monkeypatch: pytest.MonkeyPatch, ago: timedelta
) -> None:
    settings(monkeypatch, EXPIRY_GRACE_MINUTES="30")
    past = (datetime.now(UTC) - ago).astimezone(KOLKATA).isoformat()
    status, answer = post(close("p-1", expire_at=past))
    assert (status, answer["status"]) == (200, "unset")
    assert "expires_at" not in answer
    assert "expires_in_minutes" not in answer
    assert sent_minutes(deepcall) == [-1]


REFUSED = [
    ({"expire_at": "2026-12-07T18:00:00"}, "expire_at_without_offset", "expire_at has no offset"),
    ({"expire_at": "2026-12-07"}, "expire_at_without_offset", "expire_at has no offset"),
    ({"expire_at": "end of shift"}, "invalid_expire_at", "expire_at is not an ISO 8601 time"),
    ({"expire_at": "+91 98765 43210"}, "invalid_expire_at", "expire_at is not an ISO 8601 time"),
    ({"expire_at": "2126-12-07T18:00:00+05:30"}, "expire_at_too_far", "expire_at lies more than"),
    (
        {"expire_at": "2026-12-07T18:00:00Z", "expire_after_minutes": 30},
        "expire_at_with_minutes",
        "send expire_at or expire_after_minutes",
    ),
]
REFUSED_IDS = ["no-offset", "date", "words", "a-number", "a-century-ahead", "with-minutes"]


@pytest.mark.parametrize(("fields", "code", "message"), REFUSED, ids=REFUSED_IDS)
def test_an_unusable_expire_at_is_a_422_with_its_own_code_and_changes_nothing(
    stack: LocalStack,
    deepcall: ScriptedDeepCall,
    monkeypatch: pytest.MonkeyPatch,
    fields: dict[str, Any],
    code: str,
    message: str,
) -> None:
    settings(monkeypatch)
    status, answer = post(close("r-1", **fields))
    assert (status, answer["error"]["code"]) == (422, code)
    assert answer["error"]["message"].startswith(message)
    assert "98765" not in answer["error"]["message"]
    assert deepcall.unset_calls == []
    assert stack.ticket_state(ticket_key("generic", TICKET, None)) is None


@pytest.mark.parametrize(("fields", "code", "message"), REFUSED, ids=REFUSED_IDS)
def test_an_unusable_expire_at_is_parked_from_the_queue_with_its_reason(
    stack: LocalStack,
    deepcall: ScriptedDeepCall,
    monkeypatch: pytest.MonkeyPatch,
    fields: dict[str, Any],
    code: str,
    message: str,
) -> None:
    settings(monkeypatch)
    assert queued(sqs_record({**close("q-1", **fields), "source": "generic"}, "m-1")) == []
    [attributes] = parked(stack)
    assert (attributes["SourceMessageId"], attributes["ErrorCode"]) == ("m-1", code)
    assert attributes["ErrorMessage"].startswith(message)
    assert deepcall.unset_calls == []


def test_a_queued_expire_at_is_scheduled_from_the_moment_it_is_sent(
    stack: LocalStack, deepcall: ScriptedDeepCall, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings(monkeypatch)
    moment = datetime.now(UTC) + timedelta(days=365)  # a year ahead is sent, not refused
    before = time.time()
    assert queued(sqs_record({**close("q-2", expire_at=moment.isoformat())}, "m-2")) == []
    after = time.time()
    [sent] = sent_minutes(deepcall)
    assert isinstance(sent, int)
    assert minutes_left(moment, after) <= sent <= minutes_left(moment, before)
    assert sent > 525_000  # far beyond the 30 days of expire_after_minutes
    assert parked(stack) == []


def test_a_crm_sources_expire_at_is_read_like_any_field(
    stack: LocalStack, deepcall: ScriptedDeepCall, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A Zendesk trigger body's own key by default, and wherever SOURCE_FIELDS_ZENDESK points.
    settings(monkeypatch)
    moment = datetime.now(UTC) + timedelta(hours=2)
    for fields, env in (
        ({"expire_at": moment.isoformat()}, {}),
        (
            {"shift_end": moment.isoformat()},
            {"SOURCE_FIELDS_ZENDESK": '{"expire_at": "shift_end"}'},
        ),
    ):
        deepcall.clear()
        settings(monkeypatch, **env)
        ticket = f"516{len(env)}"  # another ticket: the same close again would be a duplicate
        raw = {"ticket_id": ticket, "status": "Solved", "mask": f"804000{ticket}", **fields}
        raw["event_id"] = f"z-{ticket}"
        event = sign_event(gateway_event(raw, source="zendesk", sign=False), "zendesk")
        before = time.time()
        response = webhook.lambda_handler(event, LocalLambdaContext())  # type: ignore[arg-type]
        after = time.time()
        [sent] = sent_minutes(deepcall)
        assert response["statusCode"] == 200
        assert_scheduled_for(moment, response_json(response), sent, before, after)
    refused = {"ticket_id": "5169", "status": "Solved", "mask": "8040005169"}
    refused.update(event_id="z-bad", shift_end="2026-12-07")
    event = sign_event(gateway_event(refused, source="zendesk", sign=False), "zendesk")
    response = webhook.lambda_handler(event, LocalLambdaContext())  # type: ignore[arg-type]
    assert response["statusCode"] == 422
    assert response_json(response)["error"]["code"] == "expire_at_without_offset"


def etc_zone_where_it_is_about_noon(moment: datetime) -> str:
    """An ``Etc/GMT`` zone in which ``moment`` falls between 11:00 and 13:00 local time."""
    offset = (12 - moment.astimezone(UTC).hour) % 24
    offset = offset - 24 if offset > 14 else offset
    # POSIX-style names: Etc/GMT-5 is five hours ahead of UTC.
    return "Etc/GMT" + (f"-{offset}" if offset > 0 else f"+{-offset}" if offset < 0 else "")


def test_grace_until_expires_at_that_time_of_day_or_now_when_later(
    stack: LocalStack, deepcall: ScriptedDeepCall, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed = datetime.now(UTC) - timedelta(minutes=1)
    zone = etc_zone_where_it_is_about_noon(closed)
    local = closed.astimezone(ZoneInfo(zone))
    assert 11 <= local.hour <= 12
    # 15:00 local on the day of the close is still ahead: scheduled until then.
    settings(monkeypatch, EXPIRY_GRACE_UNTIL=f"15:00 {zone}")
    moment = local.replace(hour=15, minute=0, second=0, microsecond=0)
    before = time.time()
    status, answer = post(close("g-1", occurred_at=closed.isoformat()))
    after = time.time()
    assert status == 200
    [sent] = sent_minutes(deepcall)
    assert_scheduled_for(moment, answer, sent, before, after)
    # 09:00 local has passed on that day: now, not tomorrow at 09:00.
    deepcall.clear()
    settings(monkeypatch, EXPIRY_GRACE_UNTIL=f"09:00 {zone}")
    other = {**close("g-2", occurred_at=closed.isoformat()), "ticket_id": "T-902"}
    other["mask"] = "+91 80 4000 0902"
    status, answer = post(other)
    assert (status, answer["status"], sent_minutes(deepcall)) == (200, "unset", [-1])
