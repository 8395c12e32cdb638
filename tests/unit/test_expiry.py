"""Expiring a masking (logic/expiry.py) against in-memory fakes of its ports."""

from __future__ import annotations

import pytest

from masking_unset.models.budget import Deadline, TimeBudget
from masking_unset.models.deepcall import DeepCallReply
from masking_unset.models.errors import (
    ConfigurationError,
    InvalidNumber,
    UnresolvedTarget,
    UpstreamRejected,
    UpstreamUnavailable,
)
from masking_unset.models.events import CloseEvent, Outcome
from tests.unit.fakes import (
    SSID,
    FakeDeepCall,
    FakeGuard,
    FakeMaskingMap,
    FakeSecrets,
    expirer,
    settings,
)

EVENT = CloseEvent(event_id="e-1", ticket_id="T-1", mask="+91 80 4000 1234", source="generic")


def test_given_a_close_event_when_expired_then_deepcall_gets_the_national_number() -> None:
    deepcall = FakeDeepCall()
    result = expirer(deepcall).expire(EVENT)
    assert result.status is Outcome.UNSET
    assert result.target == {"mask": "***1234"}
    [(credentials, target)] = deepcall.calls
    assert credentials.auth_fields() == {"ssid": SSID}
    assert target.fields() == {"mask": "8040001234"}


def test_given_a_repeat_when_expired_then_deepcall_is_not_called_again() -> None:
    deepcall, guard = FakeDeepCall(), FakeGuard()
    first = expirer(deepcall, guard=guard).expire(EVENT)
    again = expirer(deepcall, guard=guard).expire(EVENT)
    assert (first.status, again.status, again.first_status) == (
        Outcome.UNSET,
        Outcome.DUPLICATE,
        Outcome.UNSET,
    )
    assert len(deepcall.calls) == 1


def test_given_nothing_active_when_expired_then_the_goal_is_met() -> None:
    deepcall = FakeDeepCall(
        UpstreamRejected("x", http_status=200, upstream_message="masking not found")
    )
    assert expirer(deepcall).expire(EVENT).status is Outcome.ALREADY_DONE


def test_given_an_operator_code_for_done_when_expired_then_it_counts_as_done() -> None:
    refusal = UpstreamRejected("x", deepcall_code=4242, http_status=200)
    config = settings(DEEPCALL_ALREADY_DONE_CODES="4242")
    assert (
        expirer(FakeDeepCall(refusal), config=config).expire(EVENT).status is Outcome.ALREADY_DONE
    )
    with pytest.raises(UpstreamRejected):
        expirer(FakeDeepCall(refusal)).expire(EVENT)


def test_given_a_rotated_secret_when_refused_then_it_is_read_again_and_the_call_repeated() -> None:
    secrets = FakeSecrets()
    deepcall = FakeDeepCall(UpstreamRejected("invalid token", deepcall_code=1014, http_status=200))
    assert expirer(deepcall, secrets=secrets).expire(EVENT).status is Outcome.UNSET
    assert len(deepcall.calls) == 2
    assert ("deepcall", True) in secrets.reads


def test_given_a_credential_refused_twice_then_the_deployment_is_misconfigured() -> None:
    refusal = UpstreamRejected("invalid token", deepcall_code=1014, http_status=200)
    with pytest.raises(ConfigurationError) as caught:
        expirer(FakeDeepCall(refusal, refusal)).expire(EVENT)
    assert "rotate the secret" in caught.value.message
    assert SSID not in caught.value.message


def test_given_a_passing_outage_when_expired_then_it_is_retried_within_the_invocation() -> None:
    deepcall = FakeDeepCall(UpstreamUnavailable("down"), UpstreamUnavailable("down"))
    assert expirer(deepcall).expire(EVENT).status is Outcome.UNSET
    assert len(deepcall.calls) == 3


def test_given_the_invocations_deadline_then_each_attempt_leaves_the_time_to_hand_on() -> None:
    # The client's own deadline (however slowly DeepCall answers) comes from the invocation's.
    deepcall = FakeDeepCall(UpstreamUnavailable("down", code="upstream_timeout"))
    assert expirer(deepcall).expire(EVENT, Deadline(lambda: 30_000)).status is Outcome.UNSET
    limit = 30.0 - TimeBudget().hand_on
    assert deepcall.time_limits == [pytest.approx(limit), pytest.approx(limit)]


def test_given_a_lasting_outage_then_it_fails_and_nothing_is_recorded() -> None:
    deepcall, guard = FakeDeepCall(*[UpstreamUnavailable("down")] * 3), FakeGuard()
    with pytest.raises(UpstreamUnavailable):
        expirer(deepcall, guard=guard).expire(EVENT)
    assert guard.done == {}
    assert expirer(deepcall, guard=guard).expire(EVENT).status is Outcome.UNSET


def test_given_a_permanent_refusal_then_it_is_not_retried() -> None:
    deepcall = FakeDeepCall(UpstreamRejected("bad", deepcall_code=1000, http_status=200))
    with pytest.raises(UpstreamRejected):
        expirer(deepcall).expire(EVENT)
    assert len(deepcall.calls) == 1


def test_given_no_number_when_the_ticket_is_mapped_then_its_masking_is_expired_and_forgotten() -> (
    None
):
    mapping = FakeMaskingMap({("zendesk", "T-9"): {"m1": "8040001111", "m2": "8040002222"}})
    deepcall = FakeDeepCall()
    event = CloseEvent(event_id="e-9", ticket_id="T-9", source="zendesk")
    assert expirer(deepcall, mapping=mapping).expire(event).status is Outcome.UNSET
    assert deepcall.calls[0][1].fields() == {"m1": "8040001111", "m2": "8040002222"}
    assert mapping.forgotten == [("zendesk", "T-9")]


def test_given_no_number_and_no_mapping_entry_then_the_target_is_unresolved() -> None:
    event = CloseEvent(event_id="e-9", ticket_id="T-9", source="zendesk")
    with pytest.raises(UnresolvedTarget):
        expirer(FakeDeepCall(), mapping=FakeMaskingMap()).expire(event)


def test_given_a_number_that_is_not_one_then_nothing_is_called() -> None:
    deepcall = FakeDeepCall()
    with pytest.raises(InvalidNumber) as caught:
        expirer(deepcall).expire(EVENT.model_copy(update={"mask": "80400O1234"}))
    assert deepcall.calls == []
    assert "80400" not in caught.value.message


def test_given_a_dry_run_then_deepcall_is_not_called() -> None:
    deepcall = FakeDeepCall(DeepCallReply(status="error", code=1000))
    result = expirer(deepcall, config=settings(DRY_RUN="true")).expire(EVENT)
    assert result.status is Outcome.DRY_RUN
    assert deepcall.calls == []
