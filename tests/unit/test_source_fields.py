"""Field locations per source: SOURCE_FIELDS_* validated once, values read and converted."""

from __future__ import annotations

import json

import pytest

from masking_unset.config import Settings
from masking_unset.logic.fields import as_text, closes, event_document, read_fields
from masking_unset.models.errors import ConfigurationError, InvalidEvent

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
