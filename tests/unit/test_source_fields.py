"""Field locations per source: SOURCE_FIELDS_* validated once, values read and converted."""

from __future__ import annotations

import json
import re
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from masking_unset.config import Settings
from masking_unset.logic.fields import (
    KnownStatuses,
    Lifecycle,
    as_action,
    as_minutes,
    as_text,
    closes,
    event_document,
    lifecycle,
    read_fields,
)
from masking_unset.models.errors import ConfigurationError, InvalidEvent
from masking_unset.models.events import Action, CloseEvent
from masking_unset.models.redact import SHOWN_VALUE_LENGTH, shown_value

BASE = {"DEEPCALL_BASE_URL": "https://api.example.com", "DEEPCALL_SECRET_ID": "arn:secret"}


def test_overrides_are_parsed_per_source() -> None:
    # Given an override for Zendesk and one for Salesforce
    env = {
        **BASE,
        "SOURCE_FIELDS_ZENDESK": '{"mask": "detail.external_id || mask", "m1": null}',
        "SOURCE_FIELDS_SALESFORCE": json.dumps({"mask": "sObject.Masked_Number__c"}),
    }
    # When the settings are read
    settings = Settings.from_env(env)
    # Then each source has its own, and the others none
    assert settings.source_fields_zendesk == {"mask": "detail.external_id || mask", "m1": None}
    assert settings.source_fields_salesforce == {"mask": "sObject.Masked_Number__c"}
    assert settings.source_fields_hubspot == {}
    assert settings.source_fields_freshdesk == {}


@pytest.mark.parametrize(
    ("variable", "value", "hint"),
    [
        ("SOURCE_FIELDS_ZENDESK", '{"mask": "detail.[oops"}', "not valid JMESPath"),
        ("SOURCE_FIELDS_FRESHDESK", '{"phone": "a.b"}', "unknown field"),
        ("SOURCE_FIELDS_HUBSPOT", '["objectId"]', "JSON object"),
        ("SOURCE_FIELDS_SALESFORCE", "{not json", "JSON object"),
        ("SOURCE_FIELDS_ZENDESK", '{"mask": ""}', "non-empty string"),
        ("SOURCE_FIELDS_ZENDESK", '{"mask": 5}', "non-empty string"),
    ],
)
def test_a_bad_override_names_its_variable(variable: str, value: str, hint: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({**BASE, variable: value})
    assert variable in caught.value.message
    assert hint in caught.value.message


def test_blank_override_means_none() -> None:
    assert Settings.from_env({**BASE, "SOURCE_FIELDS_ZENDESK": " "}).source_fields_zendesk == {}


def test_closed_status_lists_are_comma_separated() -> None:
    settings = Settings.from_env({**BASE, "ZENDESK_CLOSED_STATUSES": "Gelöst, Résolu ,"})
    assert settings.zendesk_closed_statuses == ("Gelöst", "Résolu")


def test_override_wins_and_null_stops_reading_a_field() -> None:
    document = {"mask": "+91 80 4000 1234", "detail": {"external_id": "08040005678"}}
    defaults = {"mask": "mask", "m1": "m1"}
    fields = read_fields(document, defaults, {"mask": "detail.external_id", "m1": None})
    assert fields == {"mask": "08040005678"}


def test_an_expression_that_fails_on_the_payload_is_invalid_event() -> None:
    with pytest.raises(InvalidEvent) as caught:
        read_fields({"a": "text"}, {}, {"ticket_id": "abs(a)"})
    assert "ticket_id" in caught.value.message


@pytest.mark.parametrize(
    ("value", "expected"),
    [(9876543210, "9876543210"), (" T-1 ", "T-1"), ("", None), ("  ", None), (None, None)],
)
def test_numbers_from_json_become_text(value: object, expected: str | None) -> None:
    assert as_text(value, "mask") == expected


@pytest.mark.parametrize("value", [True, 98765.4321, ["9876543210"], {"n": 1}])
def test_other_json_types_are_refused_without_echoing_them(value: object) -> None:
    with pytest.raises(InvalidEvent) as caught:
        as_text(value, "mask")
    assert caught.value.message.startswith("mask must be text or a whole number")
    assert "9876" not in caught.value.message


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"status": "SOLVED"}, True),
        ({"status": " closed "}, True),
        ({"status": "open"}, False),
        ({"closed": "true"}, True),
        ({"closed": True, "status": "open"}, True),
        ({"closed": "false"}, False),
        ({"closed": "false", "status": "Resolved"}, True),
        ({}, True),  # a rule-written body without status: the rule chose it
    ],
)
def test_what_counts_as_closed(fields: dict[str, object], expected: bool) -> None:
    assert closes(fields, ("solved", "closed", "resolved")) is expected


def test_a_missing_status_is_not_a_close_when_the_payload_always_has_one() -> None:
    assert closes({}, ("solved",), status_required=True) is False


def test_event_document_keeps_only_present_fields() -> None:
    document = event_document({"ticket_id": 42, "mask": "", "m1": 9876543210, "occurred_at": None})
    assert document == {"ticket_id": "42", "m1": "9876543210"}


# -- the lifecycle fields: action, previous status, grace period ------------------------------

CLOSED = ("solved", "closed")


def test_overrides_may_map_the_lifecycle_fields() -> None:
    value = '{"action": "a", "expire_after_minutes": "m", "previous_status": "p"}'
    settings = Settings.from_env({**BASE, "SOURCE_FIELDS_FRESHDESK": value})
    assert settings.source_fields_freshdesk == {
        "action": "a",
        "expire_after_minutes": "m",
        "previous_status": "p",
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("close", Action.CLOSE),
        (" Reopen ", Action.REOPEN),
        ("CLOSE", Action.CLOSE),
        ("", None),
        (" ", None),
        (None, None),
    ],
)
def test_action_text(value: object, expected: Action | None) -> None:
    assert as_action(value) is expected


@pytest.mark.parametrize("value", ["closed", "reopened", "extend", 1, True, ["close"], {"a": 1}])
def test_other_actions_are_refused_naming_the_field(value: object) -> None:
    with pytest.raises(InvalidEvent) as caught:
        as_action(value)
    assert caught.value.message == 'action must be "close" or "reopen"'
    assert caught.value.code == "invalid_event"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, 0), (30, 30), ("30", 30), (" 45 ", 45), ("60.0", 60), (60.0, 60), (43200, 43200)],
)
def test_minutes_are_whole_and_not_negative(value: object, expected: int) -> None:
    assert as_minutes(value) == expected


@pytest.mark.parametrize("value", [None, "", "  "])
def test_blank_minutes_are_absent(value: object) -> None:
    assert as_minutes(value) is None


@pytest.mark.parametrize(
    "value",
    [-1, "-1", 1.5, "1.5", "1e3", "thirty", True, False, [30], {"m": 30}, 43201, "9" * 5000, "٣"],
)
def test_other_minutes_are_refused_naming_the_field(value: object) -> None:
    with pytest.raises(InvalidEvent) as caught:
        as_minutes(value)
    assert caught.value.message.startswith("expire_after_minutes must be a whole number")


@given(minutes=st.integers(min_value=0, max_value=43200))
def test_any_minutes_in_range_survive_the_canonical_event(minutes: int) -> None:
    document = event_document({"ticket_id": "1", "expire_after_minutes": str(minutes)})
    assert CloseEvent.from_document(document, source="x").expire_after_minutes == minutes


@given(value=st.one_of(st.integers(), st.floats(allow_nan=True), st.text(max_size=12)))
def test_minutes_are_read_or_refused_never_anything_else(value: object) -> None:
    whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    in_range = whole and 0 <= value <= 43200  # type: ignore[operator]
    if not in_range and not isinstance(value, str):
        with pytest.raises(InvalidEvent, match=r"^expire_after_minutes must be"):
            as_minutes(value)
        return
    try:
        minutes = as_minutes(value)
    except InvalidEvent:
        minutes = -1  # refused: only text may be refused here
    assert minutes == -1 or minutes is None or 0 <= minutes <= 43200


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"status": "Solved"}, Lifecycle(Action.CLOSE)),
        ({"status": "Solved", "previous_status": "Open"}, Lifecycle(Action.CLOSE)),
        ({"status": "Open", "previous_status": "Solved"}, Lifecycle(Action.REOPEN, True)),
        ({"status": "Open"}, Lifecycle(Action.REOPEN, None)),
        ({"closed": "false"}, Lifecycle(Action.REOPEN, None)),
        ({"status": "Pending", "previous_status": "Open"}, Lifecycle(None, reason="not closed")),
        (
            {"status": "Closed", "previous_status": "Solved"},
            Lifecycle(None, reason="ticket was already closed"),
        ),
        ({}, Lifecycle(Action.CLOSE)),
        ({"action": "close", "status": "Open"}, Lifecycle(Action.CLOSE)),
        ({"action": "reopen"}, Lifecycle(Action.REOPEN, None)),
        ({"action": "reopen", "previous_status": "Closed"}, Lifecycle(Action.REOPEN, True)),
    ],
)
def test_lifecycle_decisions(fields: dict[str, object], expected: Lifecycle) -> None:
    assert lifecycle(fields, CLOSED, not_closed="not closed") == expected


def test_a_payload_that_always_has_a_status_is_neither_without_one() -> None:
    change = lifecycle({}, CLOSED, not_closed="not closed", status_required=True)
    assert change == Lifecycle(None, reason="not closed")


status_text = st.sampled_from(["Open", "Pending", "Hold", "New", "Solved", "Closed"]) | st.text(
    max_size=10
)


@given(
    status=st.none() | status_text,
    previous=status_text,
    action=st.sampled_from([None, "", "close", "reopen", "Reopen"]),
    closed=st.sampled_from([None, "true", "false", True, False]),
)
def test_a_previous_status_that_is_not_closed_never_proves_a_reopen(
    status: str | None, previous: str, action: str | None, closed: object
) -> None:
    fields = {"status": status, "previous_status": previous, "action": action, "closed": closed}
    change = lifecycle(fields, CLOSED, not_closed="not closed")
    if previous.strip().casefold() not in CLOSED:
        assert change.previously_closed is not True
        if change.action is Action.REOPEN:
            assert not previous.strip()  # unknown: only the state table can prove it


@given(
    status=st.none() | status_text,
    previous=st.none() | status_text,
    closed=st.sampled_from([None, "true", "false"]),
)
def test_a_close_is_never_a_reopen_and_a_reopen_never_shows_a_closed_ticket(
    status: str | None, previous: str | None, closed: str | None
) -> None:
    fields = {"status": status, "previous_status": previous, "closed": closed}
    change = lifecycle(fields, CLOSED, not_closed="not closed")
    shown_closed = closed == "true" or (status or "").strip().casefold() in CLOSED
    if change.action is Action.REOPEN:
        assert not shown_closed
    if shown_closed:
        assert change.action is not Action.REOPEN
    assert (change.action is None) == (change.reason is not None)


def test_event_document_carries_the_lifecycle() -> None:
    fields = {"ticket_id": "1", "expire_after_minutes": "5"}
    reopen = event_document(fields, Lifecycle(Action.REOPEN, True))
    assert reopen == {
        "ticket_id": "1",
        "expire_after_minutes": 5,
        "action": "reopen",
        "previously_closed": True,
    }
    assert "previously_closed" not in event_document(fields, Lifecycle(Action.REOPEN, None))
    assert event_document(fields)["expire_after_minutes"] == 5


# -- Statuses neither closed nor open (issue 21: "ignored" tells the truth) ----------------------

KNOWN = KnownStatuses(
    closed=("solved", "closed"),
    open=("new", "open", "pending", "hold"),
    closed_setting="ZENDESK_CLOSED_STATUSES",
    open_setting="ZENDESK_OPEN_STATUSES",
)
BIDI = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
hostile_text = st.text(
    alphabet=st.sampled_from(list("0123456789 -+.()'\"\\ab\u00e9\u202e\u200b\x1b\n\x85\u0663"))
    | st.characters(),
    max_size=300,
)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"status": "Gelöst"}, None),
        ({"status": "Gelöst", "previous_status": "Solved"}, None),  # a reopen to it: no reopen
        ({"status": "Gelöst", "action": "reopen"}, None),
        ({"status": "Gelöst", "action": "close"}, Action.CLOSE),  # the rule's action wins
        ({"status": "Gelöst", "closed": "true"}, Action.CLOSE),  # a flag decides on its own
        ({"status": "Gelöst", "closed": "false"}, Action.REOPEN),
        ({"status": "Pending"}, Action.REOPEN),
        ({"status": "SOLVED"}, Action.CLOSE),
    ],
)
def test_only_a_known_open_status_reopens(fields: dict[str, object], expected: Action) -> None:
    change = lifecycle(fields, KNOWN, not_closed="not closed")
    assert change.action is expected
    assert change.unrecognised is (expected is None)
    if expected is None:
        assert change.reason == (
            "status 'Gelöst' is not a close: add it to ZENDESK_CLOSED_STATUSES, "
            "or to ZENDESK_OPEN_STATUSES if it is open"
        )


def unescaped(quoted: str) -> str:
    """The value of a reason's quotes, its escapes undone; fails on an unescaped quote."""
    out, escaped = [], False
    for ch in quoted:
        if escaped:
            out.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        else:
            assert ch != "'", quoted
            out.append(ch)
    assert not escaped, quoted
    return "".join(out)


@given(status=hostile_text)
def test_an_unrecognised_status_is_shown_short_clean_and_without_numbers(status: str) -> None:
    change = lifecycle({"status": status}, KNOWN, not_closed="not closed")
    if not change.unrecognised:
        return
    reason = change.reason or ""
    prefix, suffix = "status '", "' is not a close: add it to ZENDESK_CLOSED_STATUSES"
    assert reason.startswith(prefix)
    quoted = reason[len(prefix) : reason.rindex(suffix)]
    assert len(unescaped(quoted)) <= SHOWN_VALUE_LENGTH
    assert not any(unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp"} for ch in reason)
    assert not BIDI & set(reason)
    assert re.search(r"\d{7,}", reason) is None
    assert re.search(r"\d{5,}", quoted) is None  # as every number shown: its last four digits


@given(value=hostile_text)
def test_a_shown_value_never_holds_a_phone_number(value: str) -> None:
    shown = shown_value(value)
    # Separators (any blank, dash, invisible character) hide no number either.
    assert re.search(r"\d{5,}", re.sub(r"\s", "", shown.replace("***", "|"))) is None
    assert len(shown) <= 2 * SHOWN_VALUE_LENGTH  # escapes at most double it


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("Gelöst", "Gelöst"),
        ("+91 98765 43210", "***3210"),
        ("call 9876543210 back", "call ***3210 back"),
        ("it's\u202e\x1b[31m red\nnow", "it\\'s red now"),
        ("a\\b", "a\\\\b"),
        ("x" * 100, "x" * (SHOWN_VALUE_LENGTH - 1) + "…"),
        ("1234\u200b\u200b\u200b\u200b5678", "***5678"),
        ("1234\u00a0 \u2003 5678", "***5678"),
    ],
)
def test_shown_value_examples(value: str, shown: str) -> None:
    assert shown_value(value) == shown
