"""``freshdesk``: token header, Bearer and Basic credentials; resolved and closed statuses."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from masking_unset.config import Settings
from masking_unset.models.errors import AuthenticationFailed, InvalidEvent, MalformedBody
from masking_unset.models.events import Action, CloseEvent, Ignored
from masking_unset.models.http import WebhookRequest
from masking_unset.sources.freshdesk import FreshdeskSource

TOKEN = "fd-shared-token-7f3a"
SOURCE = FreshdeskSource()
BASE_ENV = {"DEEPCALL_BASE_URL": "https://api.example.com", "DEEPCALL_SECRET_ID": "arn:secret"}
SETTINGS = Settings.from_env(BASE_ENV)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def request(headers: dict[str, str] | None = None, body: bytes = b"{}") -> WebhookRequest:
    return WebhookRequest(
        method="POST",
        path="/webhooks/freshdesk",
        source="freshdesk",
        headers={"content-type": "application/json", **(headers or {})},
        body=body,
    )


@pytest.mark.parametrize(
    "headers",
    [
        {"x-webhook-token": TOKEN},
        {"authorization": f"Bearer {TOKEN}"},
        {"authorization": f"bearer   {TOKEN} "},
        {"authorization": basic("freshdesk", TOKEN)},  # the password is the token
        {"authorization": basic(TOKEN, "X")},  # an API key as the user name
    ],
)
def test_each_credential_form_passes(headers: dict[str, str]) -> None:
    SOURCE.authenticate(request(headers), ["rotated-out", TOKEN], 0.0, SETTINGS)


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_token"),
        ({"authorization": "Bearer "}, "missing_token"),
        ({"x-webhook-token": TOKEN[:-1]}, "invalid_token"),
        ({"x-webhook-token": TOKEN + "x"}, "invalid_token"),
        ({"authorization": f"Bearer {TOKEN.upper()}"}, "invalid_token"),
        ({"authorization": basic("freshdesk", "wrong")}, "invalid_token"),
        ({"authorization": "Basic !!not-base64!!"}, "invalid_token"),
        ({"authorization": f"Token {TOKEN}"}, "missing_token"),  # an unknown scheme offers nothing
    ],
)
def test_wrong_or_missing_credentials_are_refused(headers: dict[str, str], code: str) -> None:
    with pytest.raises(AuthenticationFailed) as caught:
        SOURCE.authenticate(request(headers), [TOKEN], 0.0, SETTINGS)
    assert caught.value.code == code
    assert TOKEN not in caught.value.message


def parse(document: Any, settings: Settings = SETTINGS) -> CloseEvent | Ignored:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    [item] = SOURCE.parse(request(body=body), settings)
    return item


def webhook(**fields: Any) -> dict[str, Any]:
    return {"freshdesk_webhook": {"ticket_id": "11", "ticket_subject": "Refund", **fields}}


@pytest.mark.parametrize("status", ["Resolved", "Closed", "closed", 4, 5, "4", "5"])
def test_resolved_and_closed_are_closes(status: object) -> None:
    event = parse(webhook(ticket_status=status, ticket_cf_mask="+91 80 4000 0011"))
    assert isinstance(event, CloseEvent)
    assert event.source == "freshdesk"
    assert event.ticket_id == "11"
    assert event.mask == "+91 80 4000 0011"
    assert event.event_id is None  # Freshdesk has no delivery id: the pipeline hashes


@pytest.mark.parametrize("status", ["Open", "Pending", 2, "3", "Waiting on Customer"])
def test_other_statuses_are_reopens_only_the_state_table_can_prove(status: object) -> None:
    # Freshdesk has no placeholder for the status before: unknown, the core decides.
    event = parse(webhook(ticket_status=status, mask="08040001234"))
    assert isinstance(event, CloseEvent)
    assert event.action is Action.REOPEN
    assert event.previously_closed is None
    assert event.ticket_id == "11"


@pytest.mark.parametrize("status", ["Open", "Pending", 2, "3", "Waiting on Customer"])
def test_other_statuses_after_an_open_one_are_ignored(status: object) -> None:
    item = parse(webhook(ticket_status=status, previous_status="Open", mask="08040001234"))
    assert isinstance(item, Ignored)
    assert item.reason == "ticket is not resolved or closed"
    assert item.ticket_id == "11"


@pytest.mark.parametrize("previous", ["Resolved", "Closed", "4", 5])
def test_a_rule_that_sends_the_previous_status_proves_a_reopen(previous: object) -> None:
    event = parse(webhook(ticket_status="Open", previous_status=previous, mask="08040001234"))
    assert isinstance(event, CloseEvent)
    assert (event.action, event.previously_closed) == (Action.REOPEN, True)
    assert event.mask == "08040001234"


def test_a_resolved_ticket_being_closed_is_no_new_close() -> None:
    item = parse(webhook(ticket_status="Closed", previous_status="Resolved"))
    assert isinstance(item, Ignored)
    assert item.reason == "ticket was already closed"


def test_an_explicit_action_and_a_grace_period() -> None:
    event = parse(webhook(action="Reopen", previous_status="Resolved", mask="08040001234"))
    assert isinstance(event, CloseEvent)
    assert (event.action, event.previously_closed) == (Action.REOPEN, True)
    close = parse(webhook(ticket_status="Resolved", expire_after_minutes="30", mask="1"))
    assert isinstance(close, CloseEvent)
    assert (close.action, close.expire_after_minutes) == (Action.CLOSE, 30)


def test_an_unreadable_unproven_reopen_is_ignored_but_a_close_is_refused() -> None:
    item = parse(webhook(ticket_status="Open", expire_after_minutes="soon"))
    assert isinstance(item, Ignored)
    assert item.reason.startswith("unreadable event: expire_after_minutes must be")
    with pytest.raises(InvalidEvent) as caught:
        parse(webhook(ticket_status="Resolved", expire_after_minutes="soon"))
    assert "expire_after_minutes" in caught.value.message


def test_numbers_as_json_numbers_and_plain_names() -> None:
    event = parse(webhook(ticket_id=11, ticket_status="Resolved", m1=9876500011, m2=9123400011))
    assert isinstance(event, CloseEvent)
    assert (event.ticket_id, event.m1, event.m2) == ("11", "9876500011", "9123400011")


def test_custom_closed_statuses_and_field_overrides() -> None:
    settings = Settings.from_env(
        {
            **BASE_ENV,
            "FRESHDESK_CLOSED_STATUSES": "Completed",
            "SOURCE_FIELDS_FRESHDESK": '{"mask": "freshdesk_webhook.ticket_cf_masked_number"}',
        }
    )
    event = parse(
        webhook(ticket_status="Completed", ticket_cf_masked_number="08040001234"), settings
    )
    assert isinstance(event, CloseEvent)
    assert event.mask == "08040001234"


def test_without_a_status_the_automation_chose_the_ticket() -> None:
    assert isinstance(parse(webhook(mask="08040001234")), CloseEvent)


@pytest.mark.parametrize("body", [b"not json", b"[]"])
def test_unreadable_bodies_are_malformed(body: bytes) -> None:
    with pytest.raises(MalformedBody):
        parse(body)


def test_the_time_the_rule_writes_is_the_occurred_at() -> None:
    # A close after a reopen must not share the first close's key: the time tells them apart.
    first = parse(webhook(ticket_status="Resolved", occurred_at="2026-11-26T10:00:00Z", mask="1"))
    again = parse(webhook(ticket_status="Resolved", occurred_at="2026-11-26T11:00:00Z", mask="1"))
    assert isinstance(first, CloseEvent)
    assert isinstance(again, CloseEvent)
    assert first.occurred_at is not None
    assert first.occurred_at.isoformat() == "2026-11-26T10:00:00+00:00"
    assert first.occurred_at != again.occurred_at


FRESHDESK_STATUSES = st.sampled_from(["Open", "Pending", "Resolved", "Closed", 2, 3, 4, 5, "4"])


@given(
    status=FRESHDESK_STATUSES | st.text(max_size=10),
    previous=st.sampled_from(["Open", "Pending", 2, 3, "2"]) | st.text(max_size=10),
)
def test_a_previous_status_that_is_not_closed_never_proves_a_reopen(
    status: object, previous: object
) -> None:
    if str(previous).strip().casefold() in {"resolved", "closed", "4", "5"}:
        return
    item = parse(webhook(ticket_status=status, previous_status=previous, mask="08040001234"))
    if isinstance(item, CloseEvent):
        assert item.previously_closed is not True
        if item.action is Action.REOPEN:
            assert not str(previous).strip()  # unknown: left to the state table


@given(
    status=st.sampled_from(["Open", "Pending", 2, 3]), previous=st.sampled_from([4, 5, "Resolved"])
)
def test_leaving_resolved_or_closed_is_always_a_proven_reopen(
    status: object, previous: object
) -> None:
    item = parse(webhook(ticket_status=status, previous_status=previous, mask="08040001234"))
    assert isinstance(item, CloseEvent)
    assert (item.action, item.previously_closed) == (Action.REOPEN, True)


def test_the_guides_body_gives_the_event_its_id_and_time() -> None:
    # docs/sources/freshdesk.md's recommended body, as Freshdesk renders its placeholders.
    body = {
        "freshdesk_webhook": {
            "event_id": "freshdesk-11-2026-01-14T10:30:00Z",
            "ticket_id": "11",
            "ticket_status": "Resolved",
            "occurred_at": "2026-01-14T10:30:00Z",
            "mask": "+91 80 4000 1234",
        }
    }
    (item,) = SOURCE.parse(request(body=json.dumps(body).encode()), SETTINGS)
    assert isinstance(item, CloseEvent)
    assert item.event_id == "freshdesk-11-2026-01-14T10:30:00Z"
    assert item.occurred_at is not None
    assert item.occurred_at.isoformat() == "2026-01-14T10:30:00+00:00"
