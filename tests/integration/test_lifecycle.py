"""The masking follows the ticket, against the local servers: grace periods, reopens, the newest
event wins (webhook and queue), and the lag measured."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from masking_unset.app import reset_app
from masking_unset.clients.ticket_state import TicketStateTable
from masking_unset.handlers import queue, webhook
from masking_unset.models.events import Action
from masking_unset.models.tickets import TicketState, epoch_ms, ticket_key
from masking_unset_tools.local.deepcall_standin import DeepCallStandIn
from masking_unset_tools.local.lambda_context import LocalLambdaContext
from masking_unset_tools.local.stack import DEMO_SSID, LocalStack
from tests.conftest import sqs_record
from tests.integration.helpers import gateway_event, response_json
from tests.support.deepcall import ScriptedDeepCall

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
TICKET = "T-77"
STATE_KEY = ticket_key("generic", TICKET, None)


def close(event_id: str, at: datetime, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "ticket_id": TICKET,
        "mask": "+91 80 4000 7777",
        "occurred_at": at.isoformat(),
        **fields,
    }


def reopen(event_id: str, at: datetime, **fields: Any) -> dict[str, Any]:
    return close(event_id, at, action="reopen", **fields)


def post(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    event = gateway_event(body, msg_id=f"msg_{body['event_id']}")
    response = webhook.lambda_handler(event, LocalLambdaContext())  # type: ignore[arg-type]
    return response["statusCode"], response_json(response)


def settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reset_app()


def durations(deepcall: DeepCallStandIn) -> list[object]:
    return [call.json["expiry_duration"] for call in deepcall.unset_calls]


def test_a_grace_period_sends_the_positive_duration(
    stack: LocalStack, deepcall: DeepCallStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings(monkeypatch, EXPIRY_GRACE_MINUTES="30")
    status, body = post(close("c-1", T0))
    assert (status, body["status"], body["expires_in_minutes"]) == (200, "scheduled", 30)
    [call] = deepcall.unset_calls
    assert call.json == {"ssid": DEMO_SSID, "mask": "8040007777", "expiry_duration": 30}
    assert deepcall.expired == {}  # scheduled, not expired yet


def test_the_event_overrides_the_grace_period(
    stack: LocalStack, deepcall: DeepCallStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings(monkeypatch, EXPIRY_GRACE_MINUTES="30")
    status, body = post(close("c-1", T0, expire_after_minutes=0))
    assert (status, body["status"]) == (200, "unset")
    assert durations(deepcall) == [-1]


def test_a_reopen_extends_the_masking(
    stack: LocalStack, deepcall: DeepCallStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings(monkeypatch, EXPIRY_GRACE_MINUTES="30", REOPEN_EXTEND_MINUTES="120")
    assert post(close("c-1", T0))[1]["status"] == "scheduled"
    status, body = post(reopen("r-1", T0 + timedelta(minutes=5)))  # proven by the table
    assert (status, body["status"], body["expires_in_minutes"]) == (200, "extended", 120)
    assert durations(deepcall) == [30, 120]
    state = stack.ticket_state(STATE_KEY)
    assert state is not None
    assert (state["action"]["S"], state["applied"]["BOOL"]) == ("reopen", True)


@pytest.mark.parametrize(
    ("env", "fields", "reason"),
    [
        ({"REOPEN_EXTEND_MINUTES": "0"}, {"previously_closed": True}, "REOPEN_EXTEND_MINUTES"),
        ({"REOPEN_EXTEND_MINUTES": "60"}, {}, "closed before"),
        ({"REOPEN_EXTEND_MINUTES": "60"}, {"previously_closed": False}, "closed before"),
    ],
)
def test_a_reopen_disabled_or_unprovable_is_ignored(
    stack: LocalStack,
    deepcall: DeepCallStandIn,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    fields: dict[str, Any],
    reason: str,
) -> None:
    settings(monkeypatch, **env)
    status, body = post(reopen("r-1", T0, **fields))
    assert (status, body["status"]) == (200, "ignored")
    assert reason in body["reason"]
    assert deepcall.unset_calls == []
    assert stack.ticket_state(STATE_KEY) is None


def test_a_reopen_after_expiry_is_too_late(
    stack: LocalStack, deepcall: DeepCallStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The stand-in answers 1505 for a masking it already expired; what counts as "nothing
    # active" on a close (the failure table plus this operator setting) is too late on a reopen.
    settings(monkeypatch, REOPEN_EXTEND_MINUTES="60", DEEPCALL_ALREADY_DONE_CODES="1505")
    assert post(close("c-1", T0))[1]["status"] == "unset"
    status, body = post(reopen("r-1", T0 + timedelta(minutes=1)))
    assert (status, body) == (
        200,
        {
            "status": "too_late",
            "event_id": "r-1",
            "ticket_id": TICKET,
            "target": {"mask": "***7777"},
        },
    )
    assert durations(deepcall) == [-1, 60]


def test_a_close_older_than_a_recorded_reopen_is_stale_on_the_webhook(
    stack: LocalStack, deepcall: DeepCallStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings(monkeypatch, REOPEN_EXTEND_MINUTES="60")
    assert post(reopen("r-1", T0 + timedelta(minutes=5), previously_closed=True))[1]["status"] == (
        "extended"
    )
    status, body = post(close("c-old", T0))
    assert (status, body["status"]) == (200, "stale")
    assert "reopen" in body["reason"]
    assert durations(deepcall) == [60]


def test_a_close_older_than_a_recorded_reopen_is_stale_on_the_queue(
    stack: LocalStack, deepcall: DeepCallStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings(monkeypatch, REOPEN_EXTEND_MINUTES="60")
    records = [
        sqs_record(
            {
                **reopen("r-1", T0 + timedelta(minutes=5), previously_closed=True),
                "source": "generic",
            },
            "m-1",
            MessageGroupId=TICKET,
        ),
        sqs_record({**close("c-old", T0), "source": "generic"}, "m-2", MessageGroupId=TICKET),
    ]
    answer = queue.lambda_handler({"Records": records}, LocalLambdaContext())  # type: ignore[arg-type]
    assert answer == {"batchItemFailures": []}  # stale is a success: deleted, never parked
    assert durations(deepcall) == [60]
    dlq = stack.aws.client("sqs").receive_message(QueueUrl=stack.dead_letter_queue_url)
    assert dlq.get("Messages", []) == []
    state = stack.ticket_state(STATE_KEY)
    assert state is not None
    assert state["action"]["S"] == "reopen"


FAR_AHEAD = [datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC), "400 days"]


def far_ahead(when: datetime | str) -> datetime:
    return datetime.now(UTC) + timedelta(days=400) if isinstance(when, str) else when


@pytest.mark.parametrize("when", FAR_AHEAD, ids=["year-9999", "400-days"])
def test_a_close_dated_far_ahead_is_refused_on_the_webhook_and_locks_nothing(
    stack: LocalStack, deepcall: DeepCallStandIn, monkeypatch: pytest.MonkeyPatch, when: Any
) -> None:
    settings(monkeypatch)
    status, body = post(close("c-future", far_ahead(when)))
    assert (status, body["error"]["code"]) == (422, "future_occurred_at")
    assert "OCCURRED_AT_MAX_SKEW_SECONDS" in body["error"]["message"]
    assert deepcall.unset_calls == []
    assert stack.ticket_state(STATE_KEY) is None
    # A real close afterwards is expired, not stale.
    status, body = post(close("c-real", T0))
    assert (status, body["status"]) == (200, "unset")
    assert durations(deepcall) == [-1]


@pytest.mark.parametrize("when", FAR_AHEAD, ids=["year-9999", "400-days"])
def test_a_close_dated_far_ahead_is_parked_from_the_queue_and_locks_nothing(
    stack: LocalStack, deepcall: DeepCallStandIn, monkeypatch: pytest.MonkeyPatch, when: Any
) -> None:
    settings(monkeypatch)
    future = sqs_record({**close("c-future", far_ahead(when)), "source": "generic"}, "m-1")
    answer = queue.lambda_handler({"Records": [future]}, LocalLambdaContext())  # type: ignore[arg-type]
    assert answer == {"batchItemFailures": []}
    sqs = stack.aws.client("sqs")
    [parked] = sqs.receive_message(
        QueueUrl=stack.dead_letter_queue_url, MessageAttributeNames=["All"]
    )["Messages"]
    attributes = {k: v["StringValue"] for k, v in parked["MessageAttributes"].items()}
    assert (attributes["SourceMessageId"], attributes["ErrorCode"]) == ("m-1", "future_occurred_at")
    assert deepcall.unset_calls == []
    assert stack.ticket_state(STATE_KEY) is None
    real = sqs_record({**close("c-real", T0), "source": "generic"}, "m-2")
    answer = queue.lambda_handler({"Records": [real]}, LocalLambdaContext())  # type: ignore[arg-type]
    assert answer == {"batchItemFailures": []}
    assert durations(deepcall) == [-1]
    state = stack.ticket_state(STATE_KEY)
    assert state is not None
    assert int(state["occurred_at"]["N"]) == epoch_ms(T0)


def test_a_clock_a_little_ahead_is_within_the_skew_and_the_skew_is_a_setting(
    stack: LocalStack, deepcall: DeepCallStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings(monkeypatch)
    ahead = datetime.now(UTC) + timedelta(seconds=120)  # within the default 300 s
    assert post(close("c-1", ahead))[1]["status"] == "unset"
    settings(monkeypatch, OCCURRED_AT_MAX_SKEW_SECONDS="30")
    status, body = post(close("c-2", datetime.now(UTC) + timedelta(seconds=120)))
    assert (status, body["error"]["code"]) == (422, "future_occurred_at")
    assert "30 s" in body["error"]["message"]


# Two handler calls at once share the module's Metrics object (Lambda never does that in one
# container): whichever flushes second may find nothing left and warns.
@pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")
def test_two_concurrent_events_leave_the_newer_one_applied(
    stack: LocalStack, deepcall: DeepCallStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings(monkeypatch)
    older = close("c-old", T0, expire_after_minutes=30)
    newer = close("c-new", T0 + timedelta(seconds=1), expire_after_minutes=90)
    answers: dict[str, list[tuple[int, dict[str, Any]]]] = {"c-old": [], "c-new": []}
    start = threading.Barrier(2)

    def deliver(body: dict[str, Any]) -> None:
        start.wait()
        # A 409 (the other event still holds the ticket) is what a sender retries.
        for _ in range(50):
            status, answer = post(body)
            answers[body["event_id"]].append((status, answer))
            if status != 409:
                return

    threads = [threading.Thread(target=deliver, args=(body,)) for body in (older, newer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers["c-new"][-1][1]["status"] == "scheduled"
    assert answers["c-old"][-1][1]["status"] in {"scheduled", "stale"}
    # Whatever the interleaving, the last call DeepCall received is the newer event's.
    assert durations(deepcall)[-1] == 90
    state = stack.ticket_state(STATE_KEY)
    assert state is not None
    assert int(state["occurred_at"]["N"]) == epoch_ms(T0 + timedelta(seconds=1))


@pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")
@pytest.mark.parametrize(
    ("first", "closed_before"),
    [("close", False), ("close", True), ("reopen", True)],
    ids=["close-first", "close-first-after-an-earlier-close", "reopen-first"],
)
def test_an_older_close_and_a_newer_reopen_at_once_leave_the_reopen_applied(
    stack: LocalStack,
    deepcall: ScriptedDeepCall,
    monkeypatch: pytest.MonkeyPatch,
    first: str,
    closed_before: bool,
) -> None:
    # The stand-in holds the first event's call (its claim written) while the other event is
    # processed in full on this thread: the interleaving that lost the reopen, every time.
    settings(
        monkeypatch,
        EXPIRY_GRACE_MINUTES="30",
        REOPEN_EXTEND_MINUTES="120",
        DEEPCALL_TIMEOUT_SECONDS="10",
    )
    if closed_before:
        assert post(close("c-0", T0 - timedelta(minutes=5)))[1]["status"] == "scheduled"
    older = close("c-old", T0, expire_after_minutes=45)
    newer = reopen("r-new", T0 + timedelta(minutes=1))  # proven by the table alone
    held_body, other = (older, newer) if first == "close" else (newer, older)
    held_duration = held_body.get("expire_after_minutes") or 120
    held = deepcall.hold(lambda body: body.get("expiry_duration") == held_duration)
    answers: list[tuple[int, dict[str, Any]]] = []
    thread = threading.Thread(target=lambda: answers.append(post(held_body)))
    thread.start()
    try:
        assert held.arrived.wait(30), "the first event's call never reached DeepCall"
        status, body = post(other)
    finally:
        held.release()
        thread.join(60)
    assert not thread.is_alive()
    [(held_status, held_answer)] = answers
    if first == "close":
        # The reopen waits for the close in flight, as any newer event: the sender retries.
        assert (status, body.get("error", {}).get("code", body.get("status"))) == (
            409,
            "in_progress",
        )
        assert (held_status, held_answer["status"]) == (200, "scheduled")
        status, body = post(newer)
        assert (status, body["status"], body["expires_in_minutes"]) == (200, "extended", 120)
    else:
        assert (status, body["status"]) == (200, "stale")
        assert (held_status, held_answer["status"]) == (200, "extended")
    assert durations(deepcall)[-1] == 120  # the last word DeepCall heard is the reopen's
    state = stack.ticket_state(STATE_KEY)
    assert state is not None
    assert (state["action"]["S"], state["applied"]["BOOL"]) == ("reopen", True)
    assert int(state["occurred_at"]["N"]) == epoch_ms(T0 + timedelta(minutes=1))


def test_the_lag_metric_is_emitted_with_a_sane_value(
    stack: LocalStack, deepcall: DeepCallStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    before = datetime.now(UTC)
    closed_at = before - timedelta(seconds=3)
    assert post(close("c-1", closed_at))[1]["status"] == "unset"
    after = datetime.now(UTC)
    lags = [
        value
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("{") and "ExpiryLag" in line
        for value in json.loads(line)["ExpiryLag"]
    ]
    [lag] = lags
    assert 3000 <= lag <= (after - closed_at).total_seconds() * 1000


def test_a_reopens_proof_is_decided_by_the_conditional_write_itself(stack: LocalStack) -> None:
    table = TicketStateTable(stack.aws.client("dynamodb"), stack.ticket_state_table)
    now = datetime.now(UTC).timestamp()
    at = epoch_ms(T0)
    reopen_state = TicketState(at + 60_000, Action.REOPEN, "r", lease_until=now + 900)
    # Nothing recorded proves nothing, unless a previous hash key's state did.
    assert table.claim("k-1", reopen_state, now=now, needs_close=True).written is False
    assert stack.ticket_state("k-1") is None
    proven = table.claim("k-1", reopen_state, now=now, needs_close=True, closed_elsewhere=True)
    assert proven.written
    # A close in flight is no proof yet: the reopen is refused with the close it must wait for.
    busy = TicketState(at, Action.CLOSE, "c", lease_until=now + 900)
    assert table.claim("k-2", busy, now=now).written
    answer = table.claim("k-2", reopen_state, now=now, needs_close=True)
    assert (answer.written, answer.recorded) == (False, busy)
    # Once applied, the same write is the proof; a retry of the reopen passes again.
    table.settle("k-2", "c", applied=True)
    assert table.claim("k-2", reopen_state, now=now, needs_close=True).written
    assert table.claim("k-2", reopen_state, now=now, needs_close=True).written
    # An applied reopen is no close: the next reopen is refused.
    table.settle("k-2", "r", applied=True)
    later = TicketState(at + 120_000, Action.REOPEN, "r2", lease_until=now + 900)
    answer = table.claim("k-2", later, now=now, needs_close=True)
    assert answer.written is False
    assert answer.recorded is not None
    assert answer.recorded.event_key == "r"
