"""``hubspot``: signature v3 (the SDK's vector, the signed URI, tampering), event arrays."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from masking_unset.config import Settings
from masking_unset.models.errors import AuthenticationFailed, ConfigurationError, MalformedBody
from masking_unset.models.events import Action, CloseEvent, Ignored, SourceItem, UnreadableClose
from masking_unset.models.http import WebhookRequest
from masking_unset.sources.hubspot import (
    HubSpotSource,
    decode_signed_escapes,
    hubspot_signature,
    signed_uri,
)

# The vector of HubSpot's Python SDK tests.
SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
URI = "https://www.example.com/webhook_uri"
BODY = b"{'example_field':'example_value'}"
TIMESTAMP = "15000000"
SIGNATURE = "HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDgcQw="
NOW = 15000.0  # the timestamp is in milliseconds
EXECUTE_API = "abc.execute-api.ap-south-1.amazonaws.com"
HOOKS = "https://hooks.example.com"

BASE_ENV = {
    "DEEPCALL_BASE_URL": "https://api.example.com",
    "DEEPCALL_SECRET_ID": "arn:secret",
    "HUBSPOT_CLOSED_STAGES": "4, 1234567",
}
SETTINGS = Settings.from_env(BASE_ENV)


def settings_with(public_base_url: str | None = None) -> Settings:
    return Settings.from_env({**BASE_ENV, "PUBLIC_BASE_URL": public_base_url or ""})


def request(
    body: bytes = BODY,
    *,
    method: str = "POST",
    domain: str = "www.example.com",
    path: str = "/webhook_uri",
    raw_query: str = "",
    signature: str | None = SIGNATURE,
    timestamp: str | None = TIMESTAMP,
) -> WebhookRequest:
    headers = {"content-type": "application/json"}
    if signature is not None:
        headers["x-hubspot-signature-v3"] = signature
    if timestamp is not None:
        headers["x-hubspot-request-timestamp"] = timestamp
    return WebhookRequest(
        method=method,
        path=path,
        source="hubspot",
        headers=headers,
        body=body,
        raw_query=raw_query,
        domain=domain,
    )


def authenticate(
    req: WebhookRequest,
    secrets: list[str] | None = None,
    now: float = NOW,
    public_base_url: str | None = None,
) -> None:
    HubSpotSource().authenticate(req, secrets or [SECRET], now, settings_with(public_base_url))


def test_sdk_vector_signs_and_verifies() -> None:
    assert hubspot_signature(SECRET, "POST", URI, BODY, TIMESTAMP) == SIGNATURE
    assert signed_uri(request(), None) == URI
    authenticate(request())


@pytest.mark.parametrize(
    ("kwargs", "now", "code"),
    [
        ({"signature": None}, NOW, "missing_signature"),
        ({"timestamp": None}, NOW, "missing_signature"),
        ({"timestamp": "15000000.5"}, NOW, "invalid_timestamp"),
        ({}, NOW + 301, "stale_signature"),
        ({}, NOW - 301, "stale_signature"),
    ],
)
def test_rejections_carry_a_specific_code(kwargs: dict[str, Any], now: float, code: str) -> None:
    with pytest.raises(AuthenticationFailed) as caught:
        authenticate(request(**kwargs), now=now)
    assert caught.value.code == code


def test_any_rotated_secret_passes() -> None:
    authenticate(request(), secrets=["old-client-secret", SECRET])


@given(body=st.binary(max_size=300))
def test_tampered_body_never_verifies(body: bytes) -> None:
    if body == BODY:
        return
    with pytest.raises(AuthenticationFailed):
        authenticate(request(body))


@given(delta=st.integers(min_value=-(10**9), max_value=10**9).filter(lambda d: d != 0))
def test_tampered_timestamp_never_verifies(delta: int) -> None:
    moved = int(TIMESTAMP) + delta
    if moved < 0:
        return
    with pytest.raises(AuthenticationFailed):
        authenticate(request(timestamp=str(moved)), now=moved / 1000)


@given(secret=st.text(min_size=1, max_size=64))
def test_other_secret_never_verifies(secret: str) -> None:
    if secret == SECRET:
        return
    with pytest.raises(AuthenticationFailed):
        authenticate(request(), secrets=[secret])


@given(method=st.sampled_from(["GET", "PUT", "PATCH", "DELETE", "post", "OPTIONS"]))
def test_other_method_never_verifies(method: str) -> None:
    with pytest.raises(AuthenticationFailed):
        authenticate(request(method=method))


_URI_TEXT = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-._~/%", max_size=30)


@given(
    domain=st.sampled_from(["www.example.com", "example.com", "www.example.org", "ww.example.com"]),
    path=_URI_TEXT,
    query=_URI_TEXT,
)
def test_other_uri_never_verifies(domain: str, path: str, query: str) -> None:
    req = request(domain=domain, path="/" + path, raw_query=query)
    if signed_uri(req, None) == URI:
        return
    with pytest.raises(AuthenticationFailed):
        authenticate(req)


@given(
    secret=st.text(min_size=1, max_size=64),
    body=st.binary(max_size=300),
    query=st.sampled_from(["", "a=1", "x=%3A%2f%20", "token=a%2Cb"]),
)
def test_whatever_we_sign_verifies(secret: str, body: bytes, query: str) -> None:
    req = request(body, raw_query=query, signature=None, timestamp=None)
    uri = signed_uri(req, None)
    signed = request(
        body,
        raw_query=query,
        signature=hubspot_signature(secret, "POST", uri, body, TIMESTAMP),
        timestamp=TIMESTAMP,
    )
    authenticate(signed, secrets=[secret])


def test_only_the_listed_escapes_are_decoded() -> None:
    query = "a=%3A%2F%3F%40%21%24%27%28%29%2A%2C%3B%20%25%2b%3a"
    decoded = "a=:/?@!$'()*,;%20%25%2b:"
    assert decode_signed_escapes(f"https://h.example/x?{query}") == f"https://h.example/x?{decoded}"


def test_uri_is_rebuilt_from_the_request() -> None:
    req = request(domain=EXECUTE_API, path="/webhooks/hubspot")
    assert signed_uri(req, None) == f"https://{EXECUTE_API}/webhooks/hubspot"


@pytest.mark.parametrize(
    ("path", "base", "expected"),
    [
        # Custom domain: only scheme and host change.
        ("/webhooks/hubspot", "https://hooks.example.com", f"{HOOKS}/webhooks/hubspot"),
        # A named stage in the path that the public URL does not have.
        ("/prod/webhooks/hubspot", "https://hooks.example.com/", f"{HOOKS}/webhooks/hubspot"),
        # A base path mapping the public URL has but the event path lacks.
        ("/webhooks/hubspot", "https://hooks.example.com/crm", f"{HOOKS}/crm/webhooks/hubspot"),
    ],
)
def test_public_base_url_replaces_what_comes_before_webhooks(
    path: str, base: str, expected: str
) -> None:
    req = request(domain=EXECUTE_API, path=path, raw_query="x=1")
    assert signed_uri(req, base) == expected + "?x=1"
    body = b"[]"
    signature = hubspot_signature(SECRET, "POST", expected + "?x=1", body, TIMESTAMP)
    signed = request(
        body,
        domain=EXECUTE_API,
        path=path,
        raw_query="x=1",
        signature=signature,
    )
    authenticate(signed, public_base_url=base)
    with pytest.raises(AuthenticationFailed):
        authenticate(signed)  # without it the execute-api host is signed over


# -- payloads ---------------------------------------------------------------------------------


def stage_change(stage: str = "4", **extra: Any) -> dict[str, Any]:
    return {
        "eventId": 1773914082,
        "subscriptionId": 2456789,
        "portalId": 62515,
        "appId": 1160452,
        "occurredAt": 1795688400000,
        "subscriptionType": "ticket.propertyChange",
        "attemptNumber": 0,
        "objectId": 3141592,
        "propertyName": "hs_pipeline_stage",
        "propertyValue": stage,
        "changeSource": "CRM_UI",
        **extra,
    }


def parse(document: Any, settings: Settings = SETTINGS) -> list[SourceItem]:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    return list(HubSpotSource().parse(request(body), settings))


def test_each_event_of_the_array_is_handled_on_its_own() -> None:
    items = parse(
        [
            stage_change("4"),
            stage_change("2", eventId=7, objectId=2718281),
            stage_change("1234567", eventId=8, objectId=1),
            stage_change("4", propertyName="hs_ticket_priority", eventId=9),
            {"subscriptionType": "ticket.creation", "objectId": 5, "eventId": 10},
            "not an object",
            stage_change("4", objectId=[1, 2], eventId=11),
        ]
    )
    close, other_stage, custom_stage, priority, creation, junk, unreadable = items
    assert isinstance(close, CloseEvent)
    assert close.source == "hubspot"
    assert close.ticket_id == "3141592"
    assert close.event_id == "62515-1773914082-1795688400000"
    assert close.occurred_at == datetime.fromtimestamp(1795688400, UTC)  # from milliseconds
    assert not close.has_numbers
    assert close.action is Action.CLOSE
    assert isinstance(custom_stage, CloseEvent)
    # HubSpot never says which stage the ticket left: a reopen only the state table can prove.
    assert isinstance(other_stage, CloseEvent)
    assert (other_stage.action, other_stage.previously_closed) == (Action.REOPEN, None)
    assert other_stage.ticket_id == "2718281"
    assert isinstance(priority, Ignored)
    assert priority.reason == "not a ticket stage change"
    assert isinstance(creation, Ignored)
    assert isinstance(junk, Ignored)
    # A change to a closed stage that cannot be read fails; it is never taken as ignored.
    assert isinstance(unreadable, UnreadableClose)
    assert unreadable.error.code == "invalid_event"
    assert unreadable.error.message.startswith("ticket_id")


def test_same_event_id_in_another_portal_is_another_event() -> None:
    first, second = parse([stage_change(), stage_change(portalId=99)])
    assert isinstance(first, CloseEvent)
    assert isinstance(second, CloseEvent)
    assert first.event_id != second.event_id


def test_overrides_can_supply_numbers() -> None:
    settings = Settings.from_env({**BASE_ENV, "SOURCE_FIELDS_HUBSPOT": '{"mask": "mask"}'})
    [event] = parse([stage_change(mask=8040001234)], settings)
    assert isinstance(event, CloseEvent)
    assert event.mask == "8040001234"


def test_without_closed_stages_the_deployment_is_misconfigured() -> None:
    settings = Settings.from_env({**BASE_ENV, "HUBSPOT_CLOSED_STAGES": ""})
    with pytest.raises(ConfigurationError) as caught:
        parse([stage_change()], settings)
    assert "HUBSPOT_CLOSED_STAGES" in caught.value.message


@pytest.mark.parametrize("body", [b"{not json", b'{"objectId": 1}'])
def test_a_body_that_is_not_an_array_is_malformed(body: bytes) -> None:
    with pytest.raises(MalformedBody):
        parse(body)


@pytest.mark.parametrize(
    "garbage",
    [
        {"occurredAt": "garbage"},
        {"occurredAt": [1]},
        {"objectId": {"id": 1}},
        {"propertyValue": [4]},
    ],
)
def test_a_stage_change_that_cannot_be_read_is_a_failed_close(garbage: dict[str, Any]) -> None:
    [item] = parse([stage_change("4", **garbage)])
    assert isinstance(item, UnreadableClose)
    assert item.error.code == "invalid_event"


@pytest.mark.parametrize("garbage", [{"occurredAt": "garbage"}, {"objectId": {"id": 1}}])
def test_another_change_that_cannot_be_read_is_only_ignored(garbage: dict[str, Any]) -> None:
    [item] = parse([stage_change("4", propertyName="hs_ticket_priority", **garbage)])
    assert isinstance(item, Ignored)
    [other_stage] = parse([stage_change("2", **garbage)])
    assert isinstance(other_stage, Ignored)


def test_more_events_than_hubspot_sends_are_refused_before_reading_them() -> None:
    from masking_unset.models.errors import PayloadTooLarge

    with pytest.raises(PayloadTooLarge) as caught:
        parse([0] * 101)
    assert caught.value.code == "too_many_events"
    assert len(parse([0] * 100)) == 100


@pytest.mark.parametrize("timestamp", ["9" * 400, "9" * 5000, "²", "15000000.0", "-15000000"])
def test_hostile_timestamp_is_refused_before_anything_is_computed(timestamp: str) -> None:
    with pytest.raises(AuthenticationFailed) as caught:
        authenticate(request(timestamp=timestamp))
    assert caught.value.code == "invalid_timestamp"


@given(timestamp=st.text(min_size=1, max_size=30))
def test_any_timestamp_header_is_a_time_or_a_401(timestamp: str) -> None:
    with pytest.raises(AuthenticationFailed):
        authenticate(request(timestamp=timestamp, signature="not-the-signature"))


# -- the generic ("object.*") webhook format, reopens -----------------------------------------


def generic_stage_change(stage: str = "4", **extra: Any) -> dict[str, Any]:
    return {
        "appId": 1160452,
        "eventId": 100,
        "subscriptionId": 3567890,
        "portalId": 62515,
        "occurredAt": 1795688400000,
        "subscriptionType": "object.propertyChange",
        "attemptNumber": 0,
        "objectId": 3141592,
        "objectTypeId": "0-5",
        "changeSource": "CRM_UI",
        "propertyName": "hs_pipeline_stage",
        "propertyValue": stage,
        "isSensitive": False,
        "sourceId": "userId:9482715",
        **extra,
    }


def test_the_generic_format_of_a_ticket_stage_change_is_a_close() -> None:
    [close] = parse([generic_stage_change("4")])
    assert isinstance(close, CloseEvent)
    assert close.action is Action.CLOSE
    assert close.ticket_id == "3141592"
    assert close.event_id == "62515-100-1795688400000"
    assert close.occurred_at == datetime.fromtimestamp(1795688400, UTC)


def test_the_generic_format_of_another_stage_is_an_unproven_reopen() -> None:
    [reopen] = parse([generic_stage_change("2")])
    assert isinstance(reopen, CloseEvent)
    assert (reopen.action, reopen.previously_closed) == (Action.REOPEN, None)


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"objectTypeId": "0-3"}, "not a ticket stage change"),  # a deal's stage
        ({"objectTypeId": None}, "not a ticket stage change"),
        ({"propertyName": "hs_ticket_priority"}, "not a ticket stage change"),
        ({"subscriptionType": "object.creation"}, "not a ticket stage change"),
    ],
)
def test_other_generic_events_are_ignored(extra: dict[str, Any], reason: str) -> None:
    [item] = parse([generic_stage_change("4", **extra)])
    assert isinstance(item, Ignored)
    assert item.reason == reason


def test_an_unreadable_generic_stage_change_fails_and_another_stage_is_ignored() -> None:
    [failed] = parse([generic_stage_change("4", occurredAt="garbage")])
    assert isinstance(failed, UnreadableClose)
    assert failed.error.code == "invalid_event"
    [ignored] = parse([generic_stage_change("2", occurredAt="garbage")])
    assert isinstance(ignored, Ignored)
    assert ignored.reason.startswith("unreadable event:")


def test_both_formats_in_one_delivery() -> None:
    items = parse([stage_change("4"), generic_stage_change("4", objectId=2718281, eventId=101)])
    assert [type(item) for item in items] == [CloseEvent, CloseEvent]
    assert [item.ticket_id for item in items if isinstance(item, CloseEvent)] == [
        "3141592",
        "2718281",
    ]


def test_an_empty_stage_is_ignored() -> None:
    [item] = parse([stage_change("")])
    assert isinstance(item, Ignored)
    assert item.reason == "stage is not in HUBSPOT_CLOSED_STAGES"


def test_overrides_can_send_the_previous_stage_and_a_grace_period() -> None:
    # A workflow that copies the stage before into a property of its own, posted as JSON.
    settings = Settings.from_env(
        {
            **BASE_ENV,
            "SOURCE_FIELDS_HUBSPOT": '{"previous_status": "previousStage", '
            '"expire_after_minutes": "graceMinutes"}',
        }
    )
    reopen, churn, close = parse(
        [
            stage_change("2", previousStage="4"),
            stage_change("3", previousStage="2", eventId=2),
            stage_change("4", graceMinutes=20, eventId=3),
        ],
        settings,
    )
    assert isinstance(reopen, CloseEvent)
    assert (reopen.action, reopen.previously_closed) == (Action.REOPEN, True)
    assert isinstance(churn, Ignored)
    assert churn.reason == "stage is not in HUBSPOT_CLOSED_STAGES"
    assert isinstance(close, CloseEvent)
    assert (close.action, close.expire_after_minutes) == (Action.CLOSE, 20)


@given(
    stage=st.text(max_size=12),
    kind=st.sampled_from(["ticket.propertyChange", "object.propertyChange"]),
)
def test_a_stage_change_is_never_a_proven_reopen(stage: str, kind: str) -> None:
    [item] = parse([stage_change(stage, subscriptionType=kind, objectTypeId="0-5")])
    closed = stage.strip().casefold() in {"4", "1234567"}
    known_open = stage.strip() in {"1", "2", "3"}
    if isinstance(item, CloseEvent):
        assert item.previously_closed is None
        assert item.action is (Action.CLOSE if closed else Action.REOPEN)
        assert closed or known_open  # only a stage known to be open reopens
    else:
        assert isinstance(item, Ignored)
        assert not stage.strip() or item.reason.startswith("stage '")
