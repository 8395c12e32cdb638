"""The canonical close event and target resolution."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from masking_unset.config import Settings
from masking_unset.logic.expiry import parse_credentials, resolve_numbers
from masking_unset.models.errors import (
    ConfigurationError,
    ForeignNumber,
    InvalidEvent,
    InvalidNumber,
    MalformedBody,
    SameNumbers,
    UnusableTarget,
)
from masking_unset.models.events import CloseEvent

ENV = {"DEEPCALL_BASE_URL": "https://x.example", "DEEPCALL_SECRET_ID": "s"}
SETTINGS = Settings.from_env(ENV)


def parse(document: object) -> CloseEvent:
    return CloseEvent.from_json(json.dumps(document), source="generic")


def test_full_event() -> None:
    event = parse(
        {
            "event_id": "evt-123",
            "ticket_id": "T-42",
            "mask": "+91 80 4000 1234",
            "occurred_at": "2026-11-26T10:00:00Z",
            "extra": {"ignored": True},
        }
    )
    assert event.event_id == "evt-123"
    assert event.source == "generic"
    assert event.occurred_at is not None
    assert event.occurred_at.year == 2026
    assert resolve_numbers(event, SETTINGS).fields() == {"mask": "8040001234"}


def test_numeric_ids_become_text() -> None:
    assert parse({"ticket_id": 42, "mask": "9876543210"}).ticket_id == "42"


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"mask": 9876543210}, "mask"),
        ({"m1": ["9876543210"]}, "m1"),
        ({"ticket_id": True, "mask": "9876543210"}, "ticket_id"),
        ({"mask": "9876543210", "occurred_at": "yesterday"}, "occurred_at"),
        ({"mask": "9876543210", "occurred_at": "2026-11-26T10:00:00"}, "occurred_at"),  # no zone
        ({"mask": ""}, "mask"),
    ],
)
def test_wrong_types_are_rejected_naming_the_field(document: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse(document)
    assert not isinstance(caught.value, MalformedBody)
    assert caught.value.message.startswith(f"invalid event: {field}:")
    assert "9876543210" not in caught.value.message


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1,2]", b'"text"', b"\xff\xfe", b"{"])
def test_malformed_bodies(raw: bytes) -> None:
    with pytest.raises(MalformedBody):
        CloseEvent.from_json(raw, source="generic")


def test_no_number_is_an_unusable_target() -> None:
    with pytest.raises(UnusableTarget) as caught:
        resolve_numbers(parse({"ticket_id": "T-1"}), SETTINGS)
    assert caught.value.code == "no_target"


def test_same_numbers_after_normalisation_are_rejected() -> None:
    with pytest.raises(SameNumbers):
        resolve_numbers(parse({"m1": "+91 98765 43210", "m2": "098765-43210"}), SETTINGS)


def test_a_foreign_number_cannot_be_sent_in_national_format() -> None:
    # Written nationally, +1 987-654-3210 and +91 98765 43210 would be the same 10 digits.
    with pytest.raises(ForeignNumber) as caught:
        resolve_numbers(parse({"m1": "+1 987-654-3210", "m2": "+91 98765 43210"}), SETTINGS)
    assert caught.value.code == "foreign_number"
    assert "987-654" not in caught.value.message


def test_numbers_of_two_countries_are_compared_as_sent() -> None:
    settings = Settings.from_env({**ENV, "DEEPCALL_NUMBER_FORMAT": "e164"})
    target = resolve_numbers(parse({"m1": "+1 987-654-3210", "m2": "+91 98765 43210"}), settings)
    assert target.fields() == {"m1": "+19876543210", "m2": "+919876543210"}


@pytest.mark.parametrize("fmt", ["national", "e164", "digits"])
def test_m1_and_m2_equal_as_sent_are_the_same_numbers(fmt: str) -> None:
    settings = Settings.from_env({**ENV, "DEEPCALL_NUMBER_FORMAT": fmt})
    with pytest.raises(SameNumbers):
        resolve_numbers(parse({"m1": "०९८७६५ ४३२१०", "m2": "+91 98765-43210"}), settings)


def test_bad_number_is_an_invalid_number() -> None:
    with pytest.raises(InvalidNumber):
        resolve_numbers(parse({"m1": "12"}), SETTINGS)


def test_event_repr_hides_numbers() -> None:
    event = parse({"mask": "9876543210", "event_id": "e"})
    assert "9876543210" not in repr(event)
    assert "9876543210" not in str(event)


@given(
    st.dictionaries(
        st.text(max_size=10),
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        max_size=6,
    )
)
def test_any_json_object_parses_or_raises_invalid_event(document: dict[str, object]) -> None:
    try:
        event = parse(document)
    except InvalidEvent as exc:
        assert exc.message.startswith("invalid event:")  # noqa: PT017
    else:
        assert event.source == "generic"


def test_credentials_shapes() -> None:
    assert parse_credentials({"ssid": "abc"}).auth_fields() == {"ssid": "abc"}
    assert parse_credentials({"userId": "u", "token": "t"}).auth_fields() == {
        "userId": "u",
        "token": "t",
    }


@pytest.mark.parametrize(
    "document",
    [{}, {"ssid": "a", "token": "t"}, {"userId": "u"}, {"ssid": ""}, {"ssid": 5}, {"SSID": "x"}],
)
def test_bad_credentials_say_what_is_wrong_without_the_secret(document: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_credentials(document)
    assert "DEEPCALL_SECRET_ID" in caught.value.message
    for value in document.values():
        if isinstance(value, str) and value:
            assert f"'{value}'" not in caught.value.message


def test_a_secret_written_key_for_value_is_not_echoed() -> None:
    # {"<the ssid>": "ssid"}: the key is the credential; the error says what was expected.
    for document in ({"ssid-value-7f3a": "ssid"}, {"uid-91": "userId", "tok-77": "token"}):
        with pytest.raises(ConfigurationError) as caught:
            parse_credentials(document)
        message = caught.value.message
        assert '"ssid"' in message
        assert '"userId"' in message
        assert '"token"' in message
        for key in document:
            assert key not in message
