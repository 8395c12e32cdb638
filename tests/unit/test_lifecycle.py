"""The ticket's lifecycle (logic/expiry.py): grace periods, reopens, and the newest event wins,
against in-memory fakes of the ports."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from masking_unset.models.deepcall import DeepCallReply
from masking_unset.models.errors import ConfigurationError, FutureEvent, InFlight, UpstreamRejected
from masking_unset.models.events import Action, CloseEvent, Outcome
from masking_unset.models.tickets import TicketState, epoch_ms, ticket_key
from tests.unit.fakes import FakeDeepCall, FakeGuard, FakeTicketStates, expirer, settings

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
KEY = ticket_key("generic", "T-1", None)
GONE = UpstreamRejected("x", http_status=200, upstream_message="masking not found")
# An answer nobody documented: retried later, never at once.
ODD = UpstreamRejected("x", deepcall_code=4242, http_status=200)


def event(**fields: object) -> CloseEvent:
    base: dict[str, object] = {
        "ticket_id": "T-1",
        "mask": "+91 80 4000 1234",
        "source": "generic",
        "occurred_at": T0,
    }
    return CloseEvent.model_validate({**base, **fields})


def reopen(**fields: object) -> CloseEvent:
    return event(action="reopen", **fields)


def test_given_no_grace_when_closed_then_it_expires_now() -> None:
    deepcall = FakeDeepCall()
    result = expirer(deepcall).expire(event())
    assert (result.status, result.expires_in_minutes, deepcall.durations) == (
        Outcome.UNSET,
        None,
        [-1],
    )


def test_given_a_grace_period_when_closed_then_the_expiry_is_scheduled() -> None:
    deepcall = FakeDeepCall()
    result = expirer(deepcall, config=settings(EXPIRY_GRACE_MINUTES="15")).expire(event())
    assert (result.status, result.expires_in_minutes, deepcall.durations) == (
        Outcome.SCHEDULED,
        15,
        [15],
    )
    assert result.body()["expires_in_minutes"] == 15


@pytest.mark.parametrize(
    ("override", "duration", "status"), [(0, -1, "unset"), (5, 5, "scheduled")]
)
def test_given_the_event_sets_its_grace_then_it_overrides_the_setting(
    override: int, duration: int, status: str
) -> None:
    deepcall = FakeDeepCall()
    config = settings(EXPIRY_GRACE_MINUTES="15")
    result = expirer(deepcall, config=config).expire(event(expire_after_minutes=override))
    assert (result.status.value, deepcall.durations) == (status, [duration])


def test_given_reopens_disabled_when_reopened_then_nothing_is_called() -> None:
    deepcall = FakeDeepCall()
    result = expirer(deepcall).expire(reopen(previously_closed=True))
    assert result.status is Outcome.IGNORED
    assert "REOPEN_EXTEND_MINUTES" in (result.reason or "")
    assert deepcall.calls == []


@pytest.mark.parametrize(
    ("previously_closed", "reason"),
    [
        (True, "reopen ignored: REOPEN_EXTEND_MINUTES is 0"),
        (None, "not a close (the ticket is open); reopens are off: REOPEN_EXTEND_MINUTES is 0"),
        (False, "not a close (the ticket is open); reopens are off: REOPEN_EXTEND_MINUTES is 0"),
    ],
)
def test_given_reopens_disabled_the_reason_claims_a_reopen_only_when_one_is_shown(
    previously_closed: bool | None, reason: str
) -> None:
    # Nothing shows a reopen unless the payload says the ticket was closed before.
    result = expirer(FakeDeepCall()).expire(reopen(previously_closed=previously_closed))
    assert (result.status, result.reason) == (Outcome.IGNORED, reason)


def test_given_a_proven_reopen_when_enabled_then_the_masking_is_extended() -> None:
    deepcall = FakeDeepCall()
    config = settings(REOPEN_EXTEND_MINUTES="120")
    result = expirer(deepcall, config=config).expire(reopen(previously_closed=True))
    assert (result.status, result.expires_in_minutes, deepcall.durations) == (
        Outcome.EXTENDED,
        120,
        [120],
    )


@pytest.mark.parametrize("said", [None, False])
def test_given_an_unprovable_reopen_then_it_is_ignored_without_a_call(said: bool | None) -> None:
    deepcall, states = FakeDeepCall(), FakeTicketStates()
    config = settings(REOPEN_EXTEND_MINUTES="120")
    result = expirer(deepcall, config=config, states=states).expire(reopen(previously_closed=said))
    assert result.status is Outcome.IGNORED
    assert "closed before" in (result.reason or "")
    assert deepcall.calls == []
    assert states.states == {}


def test_given_a_recorded_close_when_reopened_then_the_table_is_the_proof() -> None:
    deepcall, states = FakeDeepCall(), FakeTicketStates()
    run = expirer(deepcall, config=settings(REOPEN_EXTEND_MINUTES="60"), states=states)
    assert run.expire(event()).status is Outcome.UNSET
    later = reopen(occurred_at=T0 + timedelta(minutes=1))
    assert run.expire(later).status is Outcome.EXTENDED
    assert deepcall.durations == [-1, 60]
    assert states.states[KEY].action is Action.REOPEN


def test_given_a_close_claimed_but_not_applied_then_it_proves_nothing() -> None:
    states = FakeTicketStates({KEY: TicketState(epoch_ms(T0), Action.CLOSE, "k", applied=False)})
    deepcall = FakeDeepCall()
    config = settings(REOPEN_EXTEND_MINUTES="60")
    later = reopen(occurred_at=T0 + timedelta(minutes=1))
    assert expirer(deepcall, config=config, states=states).expire(later).status is Outcome.IGNORED


def test_given_the_masking_is_gone_when_reopened_then_it_is_too_late() -> None:
    deepcall = FakeDeepCall(GONE)
    config = settings(REOPEN_EXTEND_MINUTES="60")
    result = expirer(deepcall, config=config).expire(reopen(previously_closed=True))
    assert (result.status, result.expires_in_minutes) == (Outcome.TOO_LATE, None)


def test_given_a_newer_reopen_applied_when_an_older_close_comes_then_it_is_stale() -> None:
    deepcall, states = FakeDeepCall(), FakeTicketStates()
    run = expirer(deepcall, config=settings(REOPEN_EXTEND_MINUTES="60"), states=states)
    run.expire(reopen(previously_closed=True, occurred_at=T0 + timedelta(minutes=5)))
    result = run.expire(event())
    assert result.status is Outcome.STALE
    assert "reopen" in (result.reason or "")
    assert deepcall.durations == [60]


def test_given_a_newer_close_when_a_late_reopen_comes_then_it_is_stale() -> None:
    deepcall, states = FakeDeepCall(), FakeTicketStates()
    run = expirer(deepcall, config=settings(REOPEN_EXTEND_MINUTES="60"), states=states)
    run.expire(event(occurred_at=T0 + timedelta(minutes=5)))
    assert run.expire(reopen(previously_closed=True)).status is Outcome.STALE
    assert deepcall.durations == [-1]


def test_given_deepcall_fails_then_a_retry_of_the_same_event_is_not_stale() -> None:
    deepcall, states = FakeDeepCall(ODD), FakeTicketStates()
    run = expirer(deepcall, states=states)
    with pytest.raises(UpstreamRejected):
        run.expire(event(event_id="e-1"))
    assert states.states[KEY].applied is False
    assert states.states[KEY].lease_until == 0
    assert run.expire(event(event_id="e-1")).status is Outcome.UNSET
    assert states.states[KEY].applied is True


def test_given_a_failed_newer_event_then_an_older_one_stays_stale() -> None:
    deepcall, states = FakeDeepCall(ODD), FakeTicketStates()
    run = expirer(deepcall, states=states)
    with pytest.raises(UpstreamRejected):
        run.expire(event(event_id="new", occurred_at=T0 + timedelta(minutes=1)))
    assert run.expire(event(event_id="old")).status is Outcome.STALE


def test_given_an_older_event_in_flight_when_a_newer_comes_then_it_waits() -> None:
    lease = datetime.now(UTC).timestamp() + 600
    busy = TicketState(epoch_ms(T0), Action.CLOSE, "other", applied=False, lease_until=lease)
    deepcall = FakeDeepCall()
    run = expirer(deepcall, states=FakeTicketStates({KEY: busy}))
    with pytest.raises(InFlight):
        run.expire(event(occurred_at=T0 + timedelta(seconds=1)))
    assert deepcall.calls == []


def test_given_an_event_without_occurred_at_then_it_is_applied_and_not_recorded() -> None:
    states = FakeTicketStates({KEY: TicketState(epoch_ms(T0), Action.CLOSE, "k", applied=True)})
    deepcall = FakeDeepCall()
    result = expirer(deepcall, states=states).expire(event(occurred_at=None))
    assert result.status is Outcome.UNSET
    assert states.states[KEY].event_key == "k"


def test_given_a_stale_event_when_delivered_again_then_it_is_a_duplicate() -> None:
    deepcall, states, guard = FakeDeepCall(), FakeTicketStates(), FakeGuard()
    run = expirer(deepcall, states=states, guard=guard)
    run.expire(event(event_id="new", occurred_at=T0 + timedelta(minutes=1)))
    assert run.expire(event(event_id="old")).status is Outcome.STALE
    again = run.expire(event(event_id="old"))
    assert (again.status, again.first_status) == (Outcome.DUPLICATE, Outcome.STALE)


def test_given_no_ticket_id_then_the_state_is_keyed_by_a_hash_of_the_target() -> None:
    states = FakeTicketStates()
    expirer(FakeDeepCall(), states=states).expire(event(ticket_id=None))
    [key] = states.states
    assert key.startswith("generic#target#")
    assert "8040001234" not in key


def test_given_a_close_with_occurred_at_then_the_lag_is_measured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from masking_unset.logic import expiry

    seen: list[tuple[str, float]] = []
    monkeypatch.setattr(expiry, "milliseconds", lambda name, value: seen.append((name, value)))
    monkeypatch.setattr(expiry.time, "time", lambda: T0.timestamp() + 2.5)
    expirer(FakeDeepCall(DeepCallReply(status="success"))).expire(event())
    assert ("ExpiryLag", 2500.0) in seen
    seen.clear()
    config = settings(REOPEN_EXTEND_MINUTES="5")
    expirer(FakeDeepCall(), config=config).expire(reopen(previously_closed=True))
    assert [name for name, _ in seen if name == "ExpiryLag"] == []


@given(
    st.lists(
        st.tuples(st.integers(0, 20), st.sampled_from(["close", "reopen"])),
        min_size=1,
        max_size=12,
    )
)
def test_whatever_the_order_of_delivery_the_newest_event_is_the_last_applied(
    deliveries: list[tuple[int, str]],
) -> None:
    deepcall, states = FakeDeepCall(), FakeTicketStates()
    config = settings(REOPEN_EXTEND_MINUTES="60", EXPIRY_GRACE_MINUTES="5")
    run = expirer(deepcall, config=config, states=states)
    newest: int | None = None
    for n, (minute, action) in enumerate(deliveries):
        at = T0 + timedelta(minutes=minute)
        result = run.expire(
            event(event_id=f"e-{n}", occurred_at=at, action=action, previously_closed=True)
        )
        if newest is not None and minute < newest:
            assert result.status is Outcome.STALE
        elif newest is not None and minute == newest:
            # The same ticket, target and occurred_at: the applied close again is a duplicate.
            assert result.status in {Outcome.STALE, Outcome.DUPLICATE}
        else:
            assert result.status in {Outcome.SCHEDULED, Outcome.EXTENDED}
            newest = minute
    assert newest is not None
    assert states.states[KEY].occurred_at_ms == epoch_ms(T0 + timedelta(minutes=newest))
    # Only events newer than every one before them reached DeepCall.
    applied = [m for i, (m, _) in enumerate(deliveries) if all(m > p for p, _ in deliveries[:i])]
    assert len(deepcall.durations) == len(applied)


def test_a_queued_reopen_stays_a_reopen_and_a_queued_close_keeps_its_old_body() -> None:
    from masking_unset.logic.webhooks import queued_body

    assert json.loads(queued_body(reopen(previously_closed=True)))["action"] == "reopen"
    assert "action" not in json.loads(queued_body(event()))
    again = CloseEvent.from_json(queued_body(reopen(expire_after_minutes=3)), source="generic")
    assert (again.action, again.expire_after_minutes) == (Action.REOPEN, 3)


def test_given_a_table_proven_reopen_failed_then_its_retry_is_still_proven() -> None:
    deepcall, states = FakeDeepCall(), FakeTicketStates()
    run = expirer(deepcall, config=settings(REOPEN_EXTEND_MINUTES="60"), states=states)
    assert run.expire(event(event_id="c")).status is Outcome.UNSET
    later = reopen(event_id="r", occurred_at=T0 + timedelta(minutes=1))
    deepcall.answers.append(ODD)
    with pytest.raises(UpstreamRejected):
        run.expire(later)
    assert run.expire(later).status is Outcome.EXTENDED
    assert deepcall.durations == [-1, 60, 60]


def test_given_an_older_close_in_flight_when_a_table_proven_reopen_comes_then_it_waits() -> None:
    # Read apart from the claim, the close in flight proved nothing and the reopen was ignored;
    # the close then applied, and the older event had the last word.
    lease = datetime.now(UTC).timestamp() + 600
    busy = TicketState(epoch_ms(T0), Action.CLOSE, "c", applied=False, lease_until=lease)
    deepcall, states = FakeDeepCall(), FakeTicketStates({KEY: busy})
    run = expirer(deepcall, config=settings(REOPEN_EXTEND_MINUTES="60"), states=states)
    later = reopen(event_id="r", occurred_at=T0 + timedelta(minutes=1))
    with pytest.raises(InFlight):
        run.expire(later)
    assert deepcall.calls == []
    states.settle(KEY, "c", applied=True)  # the close is confirmed: the retry is proven
    assert run.expire(later).status is Outcome.EXTENDED
    assert states.states[KEY].action is Action.REOPEN


def test_given_an_older_reopen_applied_then_a_later_reopen_is_not_proven() -> None:
    states = FakeTicketStates({KEY: TicketState(epoch_ms(T0), Action.REOPEN, "r", applied=True)})
    deepcall = FakeDeepCall()
    config = settings(REOPEN_EXTEND_MINUTES="60")
    later = reopen(occurred_at=T0 + timedelta(minutes=1))
    assert expirer(deepcall, config=config, states=states).expire(later).status is Outcome.IGNORED
    assert (deepcall.calls, states.states[KEY].event_key) == ([], "r")


def test_given_an_unproven_reopen_then_nothing_is_recorded_for_its_next_delivery() -> None:
    deepcall, states, guard = FakeDeepCall(), FakeTicketStates(), FakeGuard()
    run = expirer(deepcall, config=settings(REOPEN_EXTEND_MINUTES="60"), states=states, guard=guard)
    later = reopen(event_id="r", occurred_at=T0 + timedelta(minutes=1))
    assert run.expire(later).status is Outcome.IGNORED
    assert run.expire(event(event_id="c")).status is Outcome.UNSET
    # Delivered again, the same reopen is proven now: not a duplicate of its ignored answer.
    assert run.expire(later).status is Outcome.EXTENDED


@pytest.mark.parametrize(
    ("ahead", "refused"), [(0, False), (300, False), (301, True), (400 * 86_400, True)]
)
def test_an_occurred_at_past_the_clock_skew_is_refused_before_anything_is_read(
    monkeypatch: pytest.MonkeyPatch, ahead: int, refused: bool
) -> None:
    from masking_unset.logic import expiry

    monkeypatch.setattr(expiry.time, "time", lambda: T0.timestamp())
    deepcall, states = FakeDeepCall(), FakeTicketStates()
    run = expirer(deepcall, states=states)
    future = event(occurred_at=T0 + timedelta(seconds=ahead))
    if not refused:
        assert run.expire(future).status is Outcome.UNSET
        return
    with pytest.raises(FutureEvent) as caught:
        run.expire(future)
    assert caught.value.code == "future_occurred_at"
    assert (deepcall.calls, states.states) == ([], {})
    assert run.expire(event()).status is Outcome.UNSET  # a real close afterwards


def test_the_clock_skew_is_a_setting() -> None:
    assert settings().occurred_at_max_skew_seconds == 300
    assert settings(OCCURRED_AT_MAX_SKEW_SECONDS="0").occurred_at_max_skew_seconds == 0
    with pytest.raises(ConfigurationError, match="OCCURRED_AT_MAX_SKEW_SECONDS"):
        settings(OCCURRED_AT_MAX_SKEW_SECONDS="-1")
