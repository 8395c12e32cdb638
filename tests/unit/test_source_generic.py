"""``generic``: the canonical event's own lifecycle fields, as a sender writes them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from masking_unset.config import Settings
from masking_unset.models.errors import InvalidEvent
from masking_unset.models.events import Action, CloseEvent
from masking_unset.models.http import WebhookRequest
from masking_unset.sources.generic import GenericSource

SOURCE = GenericSource()
SETTINGS = Settings.from_env(
    {"DEEPCALL_BASE_URL": "https://api.example.com", "DEEPCALL_SECRET_ID": "arn:secret"}
)


def parse(document: dict[str, Any]) -> CloseEvent:
    request = WebhookRequest(
        method="POST",
        path="/webhooks/generic",
        source="generic",
        headers={"content-type": "application/json", "webhook-id": "msg_1"},
        body=json.dumps(document).encode(),
    )
    [event] = SOURCE.parse(request, SETTINGS)
    assert isinstance(event, CloseEvent)
    return event


def test_a_body_without_action_is_a_close() -> None:
    event = parse({"ticket_id": "T-42", "mask": "+91 80 4000 1234"})
    assert (event.action, event.expire_after_minutes, event.previously_closed) == (
        Action.CLOSE,
        None,
        None,
    )


def test_a_close_with_its_own_grace_period() -> None:
    event = parse({"ticket_id": "T-42", "mask": "+91 80 4000 1234", "expire_after_minutes": 30})
    assert (event.action, event.expire_after_minutes) == (Action.CLOSE, 30)


@pytest.mark.parametrize("previously_closed", [True, False, None])
def test_a_reopen_carries_the_senders_word(previously_closed: bool | None) -> None:
    body = {"ticket_id": "T-42", "action": "reopen", "previously_closed": previously_closed}
    event = parse(body)
    assert (event.action, event.previously_closed) == (Action.REOPEN, previously_closed)
    assert event.event_id == "msg_1"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("action", "Reopen"),  # the canonical format is strict: lower case only
        ("action", "extend"),
        ("expire_after_minutes", -1),
        ("expire_after_minutes", "30"),
        ("expire_after_minutes", 43201),
        ("previously_closed", "maybe"),
    ],
)
def test_bad_lifecycle_fields_are_refused_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse({"ticket_id": "T-42", field: value})
    assert caught.value.code == "invalid_event"
    assert field in caught.value.message


@given(minutes=st.integers(min_value=0, max_value=43200), reopen=st.booleans())
def test_any_grace_period_in_range_is_read_as_sent(minutes: int, reopen: bool) -> None:
    action = "reopen" if reopen else "close"
    event = parse({"ticket_id": "T-1", "action": action, "expire_after_minutes": minutes})
    assert (event.action.value, event.expire_after_minutes) == (action, minutes)
