"""Receiving a webhook (handlers/receiver.py over logic/webhooks.py) against in-memory fakes:
routing, authentication by the registry's own signing, acting, and the answer."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from masking_unset.handlers.receiver import WebhookReceiver
from masking_unset.handlers.responses import failure_response
from masking_unset.models.errors import (
    AuthenticationFailed,
    ConfigurationError,
    MethodNotAllowed,
    PayloadTooLarge,
    UnknownSource,
    UpstreamUnavailable,
)
from masking_unset.models.http import MAX_WEBHOOK_BODY_BYTES, WebhookRequest
from masking_unset.sources import SOURCES
from tests.unit.fakes import FakeDeepCall, FakeGuard, FakeQueue, FakeSecrets, expirer, settings

NOW = 1_795_688_400.0
SECRETS = {name: [source.new_secret("unit")] for name, source in SOURCES.items()}
CLOSE = {"event_id": "e-1", "ticket_id": "T-1", "mask": "+91 80 4000 1234"}


def signed(source: str, body: bytes, *, method: str = "POST") -> WebhookRequest:
    """A request ``source``'s sender would make, signed by the source itself."""
    url = f"https://hooks.example.com/webhooks/{source}"
    parts = SOURCES[source].sign(
        method=method, url=url, body=body, secret=SECRETS[source][0], now=NOW
    )
    return WebhookRequest(
        method=method,
        path=f"/webhooks/{source}",
        source=source,
        headers={name.lower(): value for name, value in parts.headers.items()},
        body=body,
        query=parts.query,
        raw_query=urlencode(parts.query),
        domain="hooks.example.com",
    )


def receiver(
    deepcall: FakeDeepCall,
    *,
    fallback: FakeQueue | None = None,
    guard: FakeGuard | None = None,
    secrets: dict[str, list[str]] | None = None,
) -> WebhookReceiver:
    config = settings(SALESFORCE_ORG_IDS="00D000000000001AAA")
    reader = FakeSecrets({"deepcall": {"ssid": "s" * 20}, "webhooks": secrets or SECRETS})
    return WebhookReceiver(
        config,
        reader,
        expirer(deepcall, secrets=reader, guard=guard, config=config),
        fallback=fallback,
        clock=lambda: NOW,
    )


def test_given_a_signed_close_when_received_then_the_masking_is_expired() -> None:
    deepcall = FakeDeepCall()
    response = receiver(deepcall).receive(signed("generic", json.dumps(CLOSE).encode()))
    assert response.status == 200
    assert json.loads(response.body)["status"] == "unset"
    assert len(deepcall.calls) == 1


def test_given_deepcall_down_when_received_then_the_event_is_queued_and_answered_202() -> None:
    fallback = FakeQueue()
    deepcall = FakeDeepCall(*[UpstreamUnavailable("down")] * 3)
    response = receiver(deepcall, fallback=fallback).receive(
        signed("generic", json.dumps(CLOSE).encode())
    )
    assert response.status == 202
    assert json.loads(fallback.sent[0].body)["event_id"] == "e-1"
    assert fallback.sent[0].dedup_id == "e-1"


def test_given_the_queue_down_too_then_the_sender_is_asked_to_retry() -> None:
    deepcall = FakeDeepCall(*[UpstreamUnavailable("down")] * 3)
    response = receiver(deepcall, fallback=FakeQueue(failing=True)).receive(
        signed("generic", json.dumps(CLOSE).encode())
    )
    assert response.status == 503
    assert response.headers["Retry-After"] == "30"


def test_given_another_delivery_running_then_409_and_nothing_queued() -> None:
    fallback = FakeQueue()
    guard = FakeGuard("generic:id:e-1")
    response = receiver(FakeDeepCall(), fallback=fallback, guard=guard).receive(
        signed("generic", json.dumps(CLOSE).encode())
    )
    assert (response.status, response.headers["Retry-After"]) == (409, "5")
    assert fallback.sent == []


def test_given_a_permanent_refusal_then_422_and_nothing_queued() -> None:
    fallback = FakeQueue()
    body = json.dumps({**CLOSE, "mask": "12"}).encode()
    response = receiver(FakeDeepCall(), fallback=fallback).receive(signed("generic", body))
    assert response.status == 422
    assert json.loads(response.body)["error"]["code"] == "invalid_number"
    assert fallback.sent == []


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_given_another_secret_then_the_request_is_refused_before_anything_is_read(
    source: str,
) -> None:
    deepcall = FakeDeepCall()
    others = {name: [s.new_secret("other")] for name, s in SOURCES.items()}
    with pytest.raises(AuthenticationFailed):
        receiver(deepcall, secrets=others).receive(signed(source, b"not even a body"))
    assert deepcall.calls == []


def test_given_the_wrong_route_then_the_request_is_refused() -> None:
    body = json.dumps(CLOSE).encode()
    with pytest.raises(MethodNotAllowed):
        receiver(FakeDeepCall()).receive(signed("generic", body, method="GET"))
    request = signed("generic", body)
    with pytest.raises(UnknownSource):
        receiver(FakeDeepCall()).receive(
            WebhookRequest("POST", "/webhooks/x", "x", request.headers, body)
        )
    with pytest.raises(PayloadTooLarge):
        receiver(FakeDeepCall()).receive(signed("generic", b" " * (MAX_WEBHOOK_BODY_BYTES + 1)))


def test_given_a_secret_unfit_for_its_source_then_the_deployment_is_misconfigured() -> None:
    with pytest.raises(ConfigurationError) as caught:
        receiver(FakeDeepCall(), secrets={**SECRETS, "generic": ["short"]}).receive(
            signed("generic", json.dumps(CLOSE).encode())
        )
    assert "short" not in caught.value.message
    assert failure_response(caught.value).status == 503


def salesforce_message(*closed: bool) -> bytes:
    notes = "".join(
        f"<sf:Notification><sf:Id>04l{index}</sf:Id><sf:sObject><sf:Id>500{index}</sf:Id>"
        f"<sf:IsClosed>{str(flag).lower()}</sf:IsClosed>"
        f"<sf:Mask__c>+91 80 4000 {1000 + index}</sf:Mask__c></sf:sObject></sf:Notification>"
        for index, flag in enumerate(closed)
    )
    return (
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
        "<soapenv:Body>"
        '<notifications xmlns="http://soap.sforce.com/2005/09/outbound" '
        'xmlns:sf="http://soap.sforce.com/2005/09/outbound">'
        f"<OrganizationId>00D000000000001AAA</OrganizationId>{notes}</notifications>"
        "</soapenv:Body></soapenv:Envelope>"
    ).encode()


def test_given_salesforce_then_it_is_answered_with_its_own_acknowledgement() -> None:
    deepcall = FakeDeepCall()
    response = receiver(deepcall).receive(signed("salesforce", salesforce_message(True, False)))
    assert response.status == 200
    assert response.content_type == SOURCES["salesforce"].doc.answer_content_type
    assert "<Ack>true</Ack>" in response.body
    assert len(deepcall.calls) == 1  # the open case is ignored


def test_given_one_salesforce_notification_to_retry_then_the_ack_is_false() -> None:
    deepcall = FakeDeepCall(*[UpstreamUnavailable("down")] * 3)
    response = receiver(deepcall).receive(signed("salesforce", salesforce_message(True, True)))
    assert response.status == 503
    assert "<Ack>false</Ack>" in response.body


def test_an_unknown_source_is_answered_with_the_routes_to_use_instead() -> None:
    body = json.dumps(CLOSE).encode()
    request = signed("generic", body)
    with pytest.raises(UnknownSource) as caught:
        receiver(FakeDeepCall()).receive(
            WebhookRequest("POST", "/webhooks/zendeskk", "zendeskk", request.headers, body)
        )
    for name in ("generic", "zendesk", "freshdesk", "hubspot", "salesforce"):
        assert f"/webhooks/{name}" in caught.value.message
    assert caught.value.message.startswith("no such webhook source: use ")
