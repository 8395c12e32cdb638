"""``zendesk``: the signature (Zendesk's test vector, tampering), both payload shapes."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from masking_unset.config import Settings
from masking_unset.models.errors import AuthenticationFailed, InvalidEvent, MalformedBody
from masking_unset.models.events import Action, CloseEvent, Ignored
from masking_unset.models.http import WebhookRequest
from masking_unset.sources.zendesk import ZendeskSource, signed_delivery_id, zendesk_signature

# Zendesk's documented test secret and its recomputed vector.
SECRET = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="
TIMESTAMP = "2021-03-25T05:09:27Z"
BODY = b'{"ticket_id":"35436","status":"Solved"}'
SIGNATURE = "X75SLt7M1E1kdzGr9xAJYFLHDBxqJritcdXmiBLsc48="
NOW = datetime(2021, 3, 25, 5, 9, 27, tzinfo=UTC).timestamp()

SOURCE = ZendeskSource()
BASE_ENV = {"DEEPCALL_BASE_URL": "https://api.example.com", "DEEPCALL_SECRET_ID": "arn:secret"}
SETTINGS = Settings.from_env(BASE_ENV)


def request(
    body: bytes = BODY,
    *,
    signature: str | None = SIGNATURE,
    timestamp: str | None = TIMESTAMP,
    headers: dict[str, str] | None = None,
) -> WebhookRequest:
    all_headers = {"content-type": "application/json", **(headers or {})}
    if signature is not None:
        all_headers["x-zendesk-webhook-signature"] = signature
    if timestamp is not None:
        all_headers["x-zendesk-webhook-signature-timestamp"] = timestamp
    return WebhookRequest(
        method="POST", path="/webhooks/zendesk", source="zendesk", headers=all_headers, body=body
    )


def authenticate(req: WebhookRequest, secrets: list[str] | None = None, now: float = NOW) -> None:
    SOURCE.authenticate(req, secrets or [SECRET], now, SETTINGS)


def test_zendesk_test_vector_signs_and_verifies() -> None:
    assert zendesk_signature(SECRET, TIMESTAMP, BODY) == SIGNATURE
    authenticate(request())


def test_body_then_timestamp_is_not_the_scheme() -> None:
    # An older Zendesk page signs body + timestamp; that order must not pass.
    from masking_unset.logic.signatures import hmac_sha256_b64

    wrong_order = hmac_sha256_b64(SECRET.encode(), BODY + TIMESTAMP.encode())
    with pytest.raises(AuthenticationFailed):
        authenticate(request(signature=wrong_order))


def test_any_rotated_secret_passes() -> None:
    authenticate(request(), secrets=["previous-secret", SECRET])


@pytest.mark.parametrize(
    ("kwargs", "now", "code"),
    [
        ({"signature": None}, NOW, "missing_signature"),
        ({"timestamp": None}, NOW, "missing_signature"),
        ({"timestamp": "yesterday"}, NOW, "invalid_timestamp"),
        ({}, NOW + 301, "stale_signature"),
        ({}, NOW - 301, "stale_signature"),
        ({"signature": SIGNATURE[:-2] + "A="}, NOW, "invalid_signature"),
    ],
)
def test_rejections_carry_a_specific_code(kwargs: dict[str, Any], now: float, code: str) -> None:
    with pytest.raises(AuthenticationFailed) as caught:
        authenticate(request(**kwargs), now=now)
    assert caught.value.code == code


def test_window_edges_are_inclusive() -> None:
    authenticate(request(), now=NOW + 300)
    authenticate(request(), now=NOW - 300)


@given(body=st.binary(max_size=300))
def test_tampered_body_never_verifies(body: bytes) -> None:
    if body == BODY:
        return
    with pytest.raises(AuthenticationFailed):
        authenticate(request(body))


@given(seconds=st.integers(min_value=-(10**8), max_value=10**8).filter(lambda s: s != 0))
def test_tampered_timestamp_never_verifies(seconds: int) -> None:
    moved = datetime(2021, 3, 25, 5, 9, 27, tzinfo=UTC) + timedelta(seconds=seconds)
    with pytest.raises(AuthenticationFailed):
        authenticate(request(timestamp=moved.strftime("%Y-%m-%dT%H:%M:%SZ")), now=moved.timestamp())


def test_the_same_instant_written_differently_does_not_verify() -> None:
    with pytest.raises(AuthenticationFailed):
        authenticate(request(timestamp="2021-03-25T05:09:27+00:00"))


@given(secret=st.text(min_size=1, max_size=64))
def test_other_secret_never_verifies(secret: str) -> None:
    if secret == SECRET:
        return
    with pytest.raises(AuthenticationFailed):
        authenticate(request(), secrets=[secret])


@given(
    secret=st.text(min_size=1, max_size=64),
    body=st.binary(max_size=300),
    when=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
)
def test_whatever_we_sign_verifies(secret: str, body: bytes, when: datetime) -> None:
    timestamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    signed = request(
        body, signature=zendesk_signature(secret, timestamp, body), timestamp=timestamp
    )
    authenticate(signed, secrets=[secret], now=when.replace(microsecond=0).timestamp())


# -- payloads ---------------------------------------------------------------------------------


def status_changed(current: str = "SOLVED", previous: str = "OPEN", **extra: Any) -> dict[str, Any]:
    return {
        "type": "zen:event-type:ticket.status_changed",
        "account_id": 10154711,
        "id": "5c1e2f6a-8d3b-4e7a-9f10-2b6c4d8e0a51",
        "time": "2026-11-26T10:00:00Z",
        "zendesk_event_version": "2022-11-06",
        "subject": "zen:ticket:5158",
        "detail": {"id": "5158", "status": current, "external_id": "+91 80 4000 5158"},
        "event": {"current": current, "previous": previous},
        **extra,
    }


def parse(
    document: Any, settings: Settings = SETTINGS, headers: dict[str, str] | None = None
) -> CloseEvent | Ignored:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    [item] = SOURCE.parse(request(body, headers=headers), settings)
    return item


@pytest.mark.parametrize("current", ["SOLVED", "CLOSED", "solved"])
def test_status_changed_to_solved_or_closed_is_a_close(current: str) -> None:
    event = parse(status_changed(current))
    assert isinstance(event, CloseEvent)
    assert event.source == "zendesk"
    assert event.event_id == "5c1e2f6a-8d3b-4e7a-9f10-2b6c4d8e0a51"
    assert event.ticket_id == "5158"
    assert event.occurred_at == datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    assert not event.has_numbers  # the mapping table names the masking


def test_an_override_reads_the_numbers_from_a_ticket_field() -> None:
    settings = Settings.from_env(
        {**BASE_ENV, "SOURCE_FIELDS_ZENDESK": '{"mask": "detail.external_id || mask"}'}
    )
    event = parse(status_changed(), settings)
    assert isinstance(event, CloseEvent)
    assert event.mask == "+91 80 4000 5158"
    # The same override still reads a trigger body's own "mask".
    trigger = parse({"ticket_id": "1", "status": "Solved", "mask": "08040001234"}, settings)
    assert isinstance(trigger, CloseEvent)
    assert trigger.mask == "08040001234"


def test_the_ticket_id_falls_back_to_the_subject() -> None:
    document = status_changed()
    del document["detail"]["id"]
    event = parse(document)
    assert isinstance(event, CloseEvent)
    assert event.ticket_id == "5158"


def test_event_object_with_a_status_key_is_read_too() -> None:
    event = parse(status_changed(event={"current": {"status": "Solved"}}))
    assert isinstance(event, CloseEvent)


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (status_changed("PENDING"), "ticket is not solved or closed"),
        (status_changed(event={}), "ticket is not solved or closed"),
        (status_changed(type="zen:event-type:ticket.priority_changed"), "not a ticket status"),
    ],
)
def test_other_events_are_ignored_with_their_ids(document: dict[str, Any], reason: str) -> None:
    item = parse(document)
    assert isinstance(item, Ignored)
    assert item.reason.startswith(reason)
    assert item.event_id == "5c1e2f6a-8d3b-4e7a-9f10-2b6c4d8e0a51"
    assert item.ticket_id == "5158"


def test_trigger_body_with_numbers_given_as_json_numbers() -> None:
    body = {"ticket_id": 5159, "status": "Solved", "m1": 9876515159, "m2": "+91 91234 15159"}
    event = parse(body, headers={"x-zendesk-webhook-invocation-id": "8350205590"})
    assert isinstance(event, CloseEvent)
    assert (event.ticket_id, event.m1, event.m2) == ("5159", "9876515159", "+91 91234 15159")
    # The unsigned delivery id never stands in: the key comes from what the signature covers.
    assert event.event_id is not None
    assert event.event_id.startswith("signed-")
    assert "8350205590" not in event.event_id


def test_trigger_body_event_id_wins_over_the_delivery_id() -> None:
    body = {"event_id": "ev-1", "ticket_id": "1", "mask": "08040001234"}
    event = parse(body, headers={"x-zendesk-webhook-invocation-id": "8350205590"})
    assert isinstance(event, CloseEvent)
    assert event.event_id == "ev-1"


def test_trigger_body_without_status_is_a_close() -> None:
    # The trigger's own condition chose the ticket.
    event = parse({"ticket_id": "1", "mask": "08040001234"})
    assert isinstance(event, CloseEvent)


def test_localized_labels_count_once_configured() -> None:
    body = {"ticket_id": "1", "status": "Gelöst", "mask": "08040001234"}
    unknown = parse(body)
    # Neither a close nor a reopen: ignored, saying which setting would make it one.
    assert isinstance(unknown, Ignored)
    assert unknown.reason == (
        "status 'Gelöst' is not a close: add it to ZENDESK_CLOSED_STATUSES, "
        "or to ZENDESK_OPEN_STATUSES if it is open"
    )
    settings = Settings.from_env({**BASE_ENV, "ZENDESK_CLOSED_STATUSES": "gelöst,geschlossen"})
    event = parse(body, settings)
    assert isinstance(event, CloseEvent)
    assert event.action is Action.CLOSE


def test_trigger_body_pending_is_a_reopen_only_the_state_table_can_prove() -> None:
    event = parse({"ticket_id": "7", "status": "Pending", "mask": "08040001234"})
    assert isinstance(event, CloseEvent)
    assert (event.action, event.previously_closed) == (Action.REOPEN, None)
    assert event.ticket_id == "7"


def test_trigger_body_pending_after_open_is_ignored() -> None:
    item = parse({"ticket_id": "7", "status": "Pending", "previous_status": "Open"})
    assert isinstance(item, Ignored)
    assert item.reason == "ticket is not solved or closed"
    assert item.ticket_id == "7"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"{not json", MalformedBody),
        (b"[1, 2]", MalformedBody),
        (json.dumps({"ticket_id": "1", "mask": ["9876543210"]}).encode(), InvalidEvent),
        (json.dumps({"ticket_id": "1", "occurred_at": "soon"}).encode(), InvalidEvent),
    ],
)
def test_unreadable_bodies_are_refused(body: bytes, error: type[Exception]) -> None:
    with pytest.raises(error) as caught:
        parse(body)
    assert "9876543210" not in str(caught.value)


# -- the idempotency key comes only from what the signature covers ----------------------------


def test_a_trigger_body_without_event_id_is_keyed_on_the_signed_content() -> None:
    plain = parse(BODY)
    relabelled = parse(BODY, headers={"x-zendesk-webhook-invocation-id": "another-invocation"})
    assert isinstance(plain, CloseEvent)
    assert isinstance(relabelled, CloseEvent)
    assert plain.event_id == relabelled.event_id == signed_delivery_id(request())


def signed(body: bytes = BODY, timestamp: str = TIMESTAMP) -> WebhookRequest:
    """A request carrying the signature the sender computes for ``timestamp`` + ``body``."""
    signature = zendesk_signature(SECRET, timestamp, body)
    return request(body, timestamp=timestamp, signature=signature)


def test_the_key_follows_the_signed_bytes_not_how_they_are_split() -> None:
    # Zendesk signs timestamp + body with no separator: moving a blank from the body into the
    # timestamp keeps the signature valid, so it must keep the key too.
    moved = signed(b" " + BODY, timestamp=TIMESTAMP)
    back = signed(BODY, timestamp=TIMESTAMP + " ")
    assert signed_delivery_id(moved) == signed_delivery_id(back)
    assert signed_delivery_id(moved) != signed_delivery_id(signed())


@given(other=st.text(min_size=1, max_size=30))
def test_a_trigger_signed_at_another_time_is_another_delivery(other: str) -> None:
    if other == TIMESTAMP:
        return
    assert signed_delivery_id(signed(timestamp=other)) != signed_delivery_id(signed())


@given(number=st.from_regex(r"[6-9][0-9]{9}", fullmatch=True))
def test_the_delivery_id_is_no_plain_hash_of_the_signed_content(number: str) -> None:
    # The body holds the numbers, and the id is logged and stored: a plain hash of the body
    # could be reversed by trying every number.
    body = json.dumps({"ticket_id": "7", "status": "Solved", "mask": number}).encode()
    content = TIMESTAMP.encode() + body
    delivery = signed_delivery_id(signed(body)).removeprefix("signed-")
    assert delivery not in {
        hashlib.sha256(content).hexdigest()[:40],
        hashlib.sha256(body).hexdigest()[:40],
        hashlib.sha256(number.encode()).hexdigest()[:40],
    }


def test_an_event_id_in_the_body_wins() -> None:
    event = parse({**json.loads(BODY), "event_id": "evt-9"})
    assert isinstance(event, CloseEvent)
    assert event.event_id == "evt-9"


@pytest.mark.parametrize(
    ("timestamp", "code"),
    [
        ("9" * 400, "invalid_timestamp"),
        ("9" * 5000, "invalid_timestamp"),
        ("²", "invalid_timestamp"),
        ("\uff12\uff10\uff12\uff11-03-25T05:09:27Z", "invalid_timestamp"),  # fullwidth
        ("2021-03-25T05:09:27Z" + " " * 100 + "x", "invalid_timestamp"),
        ("9999-12-31T23:59:59-23:59", "stale_signature"),  # valid, far outside the window
    ],
)
def test_hostile_timestamp_is_refused_with_a_401(timestamp: str, code: str) -> None:
    with pytest.raises(AuthenticationFailed) as caught:
        authenticate(request(timestamp=timestamp))
    assert caught.value.code == code


@given(timestamp=st.text(min_size=1, max_size=40))
def test_any_timestamp_header_is_a_time_or_a_401(timestamp: str) -> None:
    with pytest.raises(AuthenticationFailed):
        authenticate(request(timestamp=timestamp, signature="not-the-signature"))


# -- reopens and grace periods ----------------------------------------------------------------

ZENDESK_STATUSES = ("NEW", "OPEN", "PENDING", "HOLD", "SOLVED", "CLOSED")
OPEN_STATUSES = ("NEW", "OPEN", "PENDING", "HOLD")


@pytest.mark.parametrize("previous", ["SOLVED", "CLOSED", "solved"])
@pytest.mark.parametrize("current", OPEN_STATUSES)
def test_leaving_solved_or_closed_is_a_proven_reopen(previous: str, current: str) -> None:
    event = parse(status_changed(current, previous))
    assert isinstance(event, CloseEvent)
    assert (event.action, event.previously_closed) == (Action.REOPEN, True)
    assert event.event_id == "5c1e2f6a-8d3b-4e7a-9f10-2b6c4d8e0a51"
    assert event.ticket_id == "5158"
    assert event.occurred_at == datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def test_a_solved_ticket_being_closed_is_no_new_close() -> None:
    # Zendesk closes solved tickets days later: that must not restart a grace period.
    item = parse(status_changed("CLOSED", "SOLVED"))
    assert isinstance(item, Ignored)
    assert item.reason == "ticket was already closed"


def test_a_status_event_without_the_previous_status_is_an_unproven_reopen() -> None:
    event = parse(status_changed(event={"current": "OPEN"}))
    assert isinstance(event, CloseEvent)
    assert (event.action, event.previously_closed) == (Action.REOPEN, None)


def test_the_previous_status_may_be_an_object_too() -> None:
    document = status_changed(
        event={"current": {"status": "Open"}, "previous": {"status": "Solved"}}
    )
    event = parse(document)
    assert isinstance(event, CloseEvent)
    assert (event.action, event.previously_closed) == (Action.REOPEN, True)


@given(
    current=st.sampled_from(ZENDESK_STATUSES) | st.text(max_size=12),
    previous=st.sampled_from(OPEN_STATUSES) | st.text(max_size=12),
)
def test_a_previous_status_that_is_not_closed_never_proves_a_reopen(
    current: str, previous: str
) -> None:
    if previous.strip().casefold() in {"solved", "closed"}:
        return
    try:
        item = parse(status_changed(current, previous))
    except InvalidEvent:
        return
    if isinstance(item, CloseEvent):
        # A close, or a reopen the payload does not prove: never previously_closed=True.
        assert item.previously_closed is not True
        assert item.action is Action.CLOSE or not previous.strip()


@given(
    current=st.sampled_from(ZENDESK_STATUSES),
    previous=st.sampled_from(ZENDESK_STATUSES),
)
def test_every_status_pair_is_a_close_a_reopen_or_ignored(current: str, previous: str) -> None:
    item = parse(status_changed(current, previous))
    closed_now, closed_before = current in ("SOLVED", "CLOSED"), previous in ("SOLVED", "CLOSED")
    if closed_now and not closed_before:
        assert isinstance(item, CloseEvent)
        assert item.action is Action.CLOSE
    elif closed_before and not closed_now:
        assert isinstance(item, CloseEvent)
        assert (item.action, item.previously_closed) == (Action.REOPEN, True)
    else:
        assert isinstance(item, Ignored)


def test_a_reopen_trigger_body() -> None:
    body = {
        "ticket_id": "5160",
        "status": "Open",
        "previous_status": "solved",
        "mask": "+91 80 4000 5160",
    }
    event = parse(body)
    assert isinstance(event, CloseEvent)
    assert (event.action, event.previously_closed) == (Action.REOPEN, True)
    assert event.mask == "+91 80 4000 5160"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"action": "reopen", "status": "Solved"}, "not a reopen: the ticket is still closed"),
        (
            {"action": "reopen", "status": "Open", "previous_status": "Pending"},
            "not a reopen: the previous status is not closed",
        ),
        ({"previous_status": "Solved"}, "previous_status is sent without the status"),
    ],
)
def test_a_reopen_the_body_itself_contradicts_is_ignored(body: dict[str, str], reason: str) -> None:
    item = parse({"ticket_id": "1", **body})
    assert isinstance(item, Ignored)
    assert item.reason == reason


def test_an_explicit_action_wins_over_the_status() -> None:
    reopen = parse({"ticket_id": "1", "action": " REOPEN "})
    assert isinstance(reopen, CloseEvent)
    assert (reopen.action, reopen.previously_closed) == (Action.REOPEN, None)
    close = parse({"ticket_id": "1", "action": "close", "status": "Pending"})
    assert isinstance(close, CloseEvent)
    assert close.action is Action.CLOSE


@pytest.mark.parametrize(("value", "minutes"), [("45", 45), (45, 45), (" 0 ", 0), ("", None)])
def test_a_trigger_body_sets_the_grace_period(value: object, minutes: int | None) -> None:
    body = {"ticket_id": "1", "status": "Solved", "expire_after_minutes": value}
    event = parse(body)
    assert isinstance(event, CloseEvent)
    assert (event.action, event.expire_after_minutes) == (Action.CLOSE, minutes)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("expire_after_minutes", -1, "expire_after_minutes must be a whole number of minutes"),
        ("expire_after_minutes", "1.5", "expire_after_minutes must be a whole number of minutes"),
        ("expire_after_minutes", True, "expire_after_minutes must be a whole number of minutes"),
        ("action", "expire", 'action must be "close" or "reopen"'),
        ("action", ["close"], 'action must be "close" or "reopen"'),
        ("previous_status", {"s": 1}, "previous_status must be text or a whole number"),
    ],
)
def test_bad_lifecycle_fields_are_refused_naming_the_field(
    field: str, value: object, message: str
) -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse({"ticket_id": "1", "status": "Solved", field: value})
    assert caught.value.code == "invalid_event"
    assert caught.value.message.startswith(message)


def test_overrides_map_the_lifecycle_fields_of_event_subscriptions() -> None:
    settings = Settings.from_env(
        {
            **BASE_ENV,
            "SOURCE_FIELDS_ZENDESK": '{"expire_after_minutes": "detail.custom_grace", '
            '"previous_status": null}',
        }
    )
    document = status_changed("OPEN", "SOLVED")
    document["detail"]["custom_grace"] = "15"
    event = parse(document, settings)
    assert isinstance(event, CloseEvent)
    # The previous status is no longer read: the reopen is left to the state table.
    assert (event.action, event.previously_closed) == (Action.REOPEN, None)
    assert event.expire_after_minutes == 15
