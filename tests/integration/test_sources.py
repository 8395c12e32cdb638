"""The CRM sources end to end: the webhook handler with native payloads, signed as each CRM
signs them, against the moto server (secrets, mapping table, idempotency, queue) and the
DeepCall stand-in."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from masking_unset.app import reset_app
from masking_unset.handlers.webhook import lambda_handler
from masking_unset_tools.local.deepcall_standin import DeepCallStandIn, Fault
from masking_unset_tools.local.demo import replay
from masking_unset_tools.local.lambda_context import LocalLambdaContext
from masking_unset_tools.local.signers import sign_event
from masking_unset_tools.local.stack import DEMO_SOURCE_SECRETS, LocalStack
from tests.integration.helpers import gateway_event, response_json

EVENTS = Path(__file__).resolve().parents[2] / "events"
SOURCE_EVENTS = [
    "zendesk-event-solved.json",
    "zendesk-trigger-solved.json",
    "freshdesk-resolved.json",
    "hubspot-batch.json",
    "salesforce-outbound.json",
    "sqs-mapped.json",
    # Reopens and grace periods, each on its own (the demo replays them in one run too).
    "zendesk-event-reopened.json",
    "zendesk-event-solved-grace.json",
    "zendesk-trigger-reopened.json",
    "zendesk-trigger-solved-grace.json",
    "freshdesk-reopened.json",
    "freshdesk-resolved-grace.json",
    "hubspot-generic-grace.json",
    "hubspot-reopen.json",
    "salesforce-reopened.json",
    "salesforce-closed-grace.json",
]


def invoke(event: dict[str, Any]) -> dict[str, Any]:
    return lambda_handler(event, LocalLambdaContext())  # type: ignore[arg-type]


def signed(
    source: str, body: bytes | str | dict[str, Any] | list[Any], *, kind: str = "http", **kw: Any
) -> dict[str, Any]:
    """A native payload as API Gateway delivers it, signed as ``source`` signs it."""
    raw = json.dumps(body) if isinstance(body, list) else body
    headers = kw.pop("headers", None)
    event = gateway_event(raw, source=source, sign=False, kind=kind, headers=headers)
    return sign_event(event, source, **kw)


def hubspot_change(ticket: int, stage: str = "4", event_id: int = 1) -> dict[str, Any]:
    return {
        "eventId": event_id,
        "subscriptionId": 2456789,
        "portalId": 62515,
        "appId": 1160452,
        "occurredAt": 1795688400000 + event_id,
        "subscriptionType": "ticket.propertyChange",
        "attemptNumber": 0,
        "objectId": ticket,
        "propertyName": "hs_pipeline_stage",
        "propertyValue": stage,
        "changeSource": "CRM_UI",
    }


def stored_items(stack: LocalStack, table: str) -> list[dict[str, Any]]:
    return stack.aws.client("dynamodb").scan(TableName=table).get("Items", [])


@pytest.mark.parametrize("name", SOURCE_EVENTS)
def test_each_demo_event_behaves_as_its_manifest_says(
    stack: LocalStack, deepcall: DeepCallStandIn, name: str
) -> None:
    # Given the events/ file re-signed now, and the mapping items its manifest entry names
    lines: list[str] = []
    # When the demo replays it through its handler
    mismatches = replay(stack, EVENTS, lines.append, only=name)
    # Then every expectation of the manifest holds
    assert mismatches == 0, "\n".join(lines)


# -- Zendesk ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["http", "rest", "url"])
def test_zendesk_trigger_body_expires_the_masking(
    stack: LocalStack, deepcall: DeepCallStandIn, kind: str
) -> None:
    body = {"ticket_id": "5159", "status": "Solved", "mask": 8040005159}
    headers = {"X-Zendesk-Webhook-Invocation-Id": "8350205590"}
    response = invoke(signed("zendesk", body, kind=kind, headers=headers))
    assert response["statusCode"] == 200
    answer = response_json(response)
    # The unsigned invocation id is not the event id: a hash of the signed content is.
    assert answer.pop("event_id").startswith("signed-")
    assert answer == {"status": "unset", "ticket_id": "5159", "target": {"mask": "***5159"}}
    [call] = deepcall.unset_calls
    assert call.json is not None
    assert call.json["mask"] == "8040005159"


def test_zendesk_redelivery_calls_deepcall_once(
    stack: LocalStack, deepcall: DeepCallStandIn
) -> None:
    body = {"ticket_id": "1", "status": "Solved", "mask": "08040001234"}
    headers = {"x-zendesk-webhook-invocation-id": "inv-1"}
    delivery = signed("zendesk", body, headers=headers)
    first = invoke(delivery)
    again = invoke(delivery)
    assert response_json(first)["status"] == "unset"
    assert response_json(again)["status"] == "duplicate"
    assert len(deepcall.unset_calls) == 1


def test_zendesk_wrong_secret_is_401(stack: LocalStack, deepcall: DeepCallStandIn) -> None:
    body = {"ticket_id": "1", "mask": "08040001234"}
    response = invoke(signed("zendesk", body, secret="not-the-configured-secret"))
    assert response["statusCode"] == 401
    assert response_json(response)["error"]["code"] == "invalid_signature"
    assert deepcall.unset_calls == []


def test_ignored_events_call_nothing(stack: LocalStack, deepcall: DeepCallStandIn) -> None:
    # Given a mapping for the ticket
    stack.put_mapping("zendesk#77", {"mask": "+91 80 4000 0077"})
    body = {
        "type": "zen:event-type:ticket.status_changed",
        "id": "evt-77",
        "subject": "zen:ticket:77",
        "detail": {"id": "77", "status": "PENDING"},
        "event": {"current": "PENDING", "previous": "OPEN"},
    }
    # When the ticket moves to another status
    response = invoke(signed("zendesk", body))
    # Then the answer says why, and nothing was called, recorded or removed
    assert response["statusCode"] == 200
    assert response_json(response) == {
        "status": "ignored",
        "reason": "ticket is not solved or closed",
        "event_id": "evt-77",
        "ticket_id": "77",
        "target": {},
    }
    assert deepcall.unset_calls == []
    assert stored_items(stack, stack.idempotency_table) == []
    assert stack.mapping_exists("zendesk#77")


# -- Freshdesk --------------------------------------------------------------------------------


def test_freshdesk_resolved_with_basic_auth(stack: LocalStack, deepcall: DeepCallStandIn) -> None:
    import base64

    token = DEMO_SOURCE_SECRETS["freshdesk"][0]
    basic = base64.b64encode(f"{token}:X".encode()).decode()
    body = {"freshdesk_webhook": {"ticket_id": 11, "ticket_status": 4, "mask": 8040000011}}
    event = gateway_event(
        body, source="freshdesk", sign=False, headers={"authorization": f"Basic {basic}"}
    )
    response = invoke(event)
    assert response["statusCode"] == 200
    assert response_json(response)["status"] == "unset"
    assert list(deepcall.expired) == ["8040000011"]


def test_freshdesk_duplicate_without_delivery_id_is_recognised(
    stack: LocalStack, deepcall: DeepCallStandIn
) -> None:
    body = {
        "freshdesk_webhook": {"ticket_id": "12", "ticket_status": "Closed", "mask": "8040000012"}
    }
    assert response_json(invoke(signed("freshdesk", body)))["status"] == "unset"
    assert response_json(invoke(signed("freshdesk", body)))["status"] == "duplicate"
    assert len(deepcall.unset_calls) == 1


@pytest.mark.parametrize(
    ("headers", "code"),
    [({}, "missing_token"), ({"x-webhook-token": "guess"}, "invalid_token")],
)
def test_freshdesk_without_the_token_is_401(
    stack: LocalStack, deepcall: DeepCallStandIn, headers: dict[str, str], code: str
) -> None:
    body = {
        "freshdesk_webhook": {"ticket_id": "13", "ticket_status": "Closed", "mask": "8040000013"}
    }
    response = invoke(gateway_event(body, source="freshdesk", sign=False, headers=headers))
    assert response["statusCode"] == 401
    assert response_json(response)["error"]["code"] == code
    assert deepcall.unset_calls == []


# -- HubSpot and the mapping table ------------------------------------------------------------


@pytest.mark.parametrize("kind", ["http", "rest", "url"])
def test_hubspot_close_resolves_the_masking_from_the_mapping_and_forgets_it(
    stack: LocalStack, deepcall: DeepCallStandIn, kind: str
) -> None:
    # Given the masking recorded for the ticket when it was created (with a TTL)
    stack.put_mapping("hubspot#3141592", {"m1": "98765 43141", "m2": "91234 53141"}, 4102444800)
    # When HubSpot reports the ticket in a closed stage
    response = invoke(signed("hubspot", [hubspot_change(3141592)], kind=kind))
    # Then the recorded masking is expired and its numbers are gone from the table
    assert response["statusCode"] == 200
    body = response_json(response)
    assert body["status"] == "unset"
    assert body["target"] == {"m1": "***3141", "m2": "***3141"}
    assert list(deepcall.expired) == ["9876543141|9123453141"]
    assert not stack.mapping_exists("hubspot#3141592")


def test_a_masking_already_expired_still_forgets_the_mapping(
    stack: LocalStack, deepcall: DeepCallStandIn
) -> None:
    stack.put_mapping("hubspot#2", {"mask": "+91 80 4000 0002"})
    deepcall.enqueue(Fault.error(4040, "Masking already expired"))
    response = invoke(signed("hubspot", [hubspot_change(2)]))
    assert response_json(response)["status"] == "already_expired"
    assert not stack.mapping_exists("hubspot#2")


def test_no_mapping_is_unresolved_target(stack: LocalStack, deepcall: DeepCallStandIn) -> None:
    stack.put_mapping("zendesk#404", {"mask": "+91 80 4000 0404"})  # another source's ticket
    response = invoke(signed("hubspot", [hubspot_change(404)]))
    assert response["statusCode"] == 422
    assert response_json(response)["error"]["code"] == "unresolved_target"
    assert deepcall.unset_calls == []
    assert stack.mapping_exists("zendesk#404")


def test_a_failed_call_keeps_the_mapping_for_the_retry(
    stack: LocalStack, deepcall: DeepCallStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEEPCALL_RETRY_BASE_SECONDS", "0")
    stack.put_mapping("hubspot#5", {"mask": "+91 80 4000 0005"})
    deepcall.enqueue(*[Fault(status=503, body=b"down")] * 3)
    response = invoke(signed("hubspot", [hubspot_change(5)]))
    assert response["statusCode"] == 202  # handed to the queue
    assert stack.mapping_exists("hubspot#5")


def test_hubspot_batch_answers_per_event(stack: LocalStack, deepcall: DeepCallStandIn) -> None:
    stack.put_mapping("hubspot#10", {"mask": "+91 80 4000 0010"})
    events = [
        hubspot_change(10, event_id=1),
        hubspot_change(11, stage="2", event_id=2),
        hubspot_change(12, event_id=3),  # closed, but nothing recorded for it
    ]
    response = invoke(signed("hubspot", events))
    assert response["statusCode"] == 200
    body = response_json(response)
    assert body["status"] == "processed"
    assert [r["status"] for r in body["results"]] == ["unset", "ignored", "failed"]
    assert body["results"][2]["error"]["code"] == "unresolved_target"
    assert len(deepcall.unset_calls) == 1


def test_hubspot_behind_a_custom_domain(
    stack: LocalStack, deepcall: DeepCallStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack.put_mapping("hubspot#20", {"mask": "+91 80 4000 0020"})
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://hooks.example.com/crm")
    event = gateway_event(json.dumps([hubspot_change(20)]), source="hubspot", sign=False)
    secret = DEMO_SOURCE_SECRETS["hubspot"][0]
    public = sign_event(event, "hubspot", secret=secret, base_url="https://hooks.example.com/crm")
    assert invoke(public)["statusCode"] == 200
    # Signed over the execute-api URL instead: not what HubSpot called.
    stack.put_mapping("hubspot#21", {"mask": "+91 80 4000 0021"})
    response = invoke(signed("hubspot", [hubspot_change(21, event_id=2)]))
    assert response["statusCode"] == 401
    assert len(deepcall.unset_calls) == 1


def test_hubspot_stale_signature_is_401(stack: LocalStack, deepcall: DeepCallStandIn) -> None:
    response = invoke(signed("hubspot", [hubspot_change(1)], now=time.time() - 600))
    assert response["statusCode"] == 401
    assert response_json(response)["error"]["code"] == "stale_signature"


# -- Salesforce -------------------------------------------------------------------------------

SOAP = """<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>00D000000000DEMOAA</OrganizationId>
   {notifications}
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>"""


def sf_notification(n: int) -> str:
    return (
        f"<Notification><Id>04l00000000000{n}AAA</Id>"
        '<sObject xsi:type="sf:Case" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
        f"<sf:Id>50000000000010{n}AAA</sf:Id><sf:IsClosed>true</sf:IsClosed>"
        f"<sf:Mask__c>+91 80 4000 100{n}</sf:Mask__c></sObject></Notification>"
    )


def salesforce(*numbers: int, **kw: Any) -> dict[str, Any]:
    xml = SOAP.format(notifications="".join(sf_notification(n) for n in numbers))
    return signed("salesforce", xml, headers={"content-type": "text/xml; charset=utf-8"}, **kw)


def ack(response: dict[str, Any]) -> str:
    assert response["headers"]["Content-Type"].startswith("text/xml")
    body: str = response["body"]
    assert 'xmlns="http://soap.sforce.com/2005/09/outbound"' in body
    return body.split("<Ack>")[1].split("</Ack>")[0]


def test_salesforce_retry_is_ack_false_then_duplicates_on_redelivery(
    stack: LocalStack, deepcall: DeepCallStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given no queue to fall back on, and DeepCall down for the second notification
    monkeypatch.setenv("QUEUE_URL", stack.queue_url + "-missing")
    monkeypatch.setenv("DEEPCALL_RETRY_BASE_SECONDS", "0")
    deepcall.enqueue(Fault(), *[Fault(status=503, body=b"down")] * 3)
    # When the message arrives, then Salesforce is told to send it again
    first = invoke(salesforce(1, 2))
    assert first["statusCode"] == 503
    assert ack(first) == "false"
    # When it does, the first notification is a duplicate and the second goes through
    again = invoke(salesforce(1, 2))
    assert again["statusCode"] == 200
    assert ack(again) == "true"
    assert sorted(deepcall.expired) == ["8040001001", "8040001002"]
    assert deepcall.expired["8040001001"] == 1


def test_salesforce_token_and_organization_are_required(
    stack: LocalStack, deepcall: DeepCallStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong_token = invoke(salesforce(1, secret="not-the-token"))
    assert response_json(wrong_token)["error"]["code"] == "invalid_token"
    monkeypatch.setenv("SALESFORCE_ORG_IDS", "00D000000000OTHERA")
    reset_app()  # settings are read once per container
    other_org = invoke(salesforce(1))
    assert other_org["statusCode"] == 401
    assert response_json(other_org)["error"]["code"] == "unknown_organization"
    assert deepcall.unset_calls == []


def test_salesforce_entity_expansion_is_400(stack: LocalStack, deepcall: DeepCallStandIn) -> None:
    body = (
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
        "<x>&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;</x>"
    )
    response = invoke(signed("salesforce", body, headers={"content-type": "text/xml"}))
    assert response["statusCode"] == 400
    assert response_json(response)["error"]["code"] == "malformed_body"
    assert "aaaa" not in response["body"]
    assert deepcall.unset_calls == []


# -- privacy ----------------------------------------------------------------------------------


def test_no_number_or_secret_is_written_or_answered(
    stack: LocalStack, deepcall: DeepCallStandIn, capfd: pytest.CaptureFixture[str]
) -> None:
    stack.put_mapping("hubspot#30", {"mask": "+91 80 4000 7030"})
    responses = [
        invoke(signed("zendesk", {"ticket_id": "30", "mask": "8040007031"})),
        invoke(signed("zendesk", {"ticket_id": "31", "mask": "12"})),  # invalid number
        invoke(signed("freshdesk", {"freshdesk_webhook": {"ticket_id": 1, "m1": 9876507032}})),
        invoke(signed("hubspot", [hubspot_change(30)])),
        invoke(signed("zendesk", {"ticket_id": "32", "mask": "8040007033"}, secret="wrong")),
        invoke(salesforce(7, secret="wrong")),
        invoke(salesforce(8)),
    ]
    assert [r["statusCode"] for r in responses] == [200, 422, 200, 200, 401, 401, 200]
    written = capfd.readouterr()
    everything = written.out + written.err + json.dumps(responses)
    for number in ["8040007030", "8040007031", "9876507032", "8040007033", "8040001008"]:
        assert number not in everything
    for secrets in DEMO_SOURCE_SECRETS.values():
        for secret in secrets:
            assert secret not in everything


# -- reopens and HubSpot's generic format -----------------------------------------------------


def generic_change(ticket: int, stage: str = "4", event_id: int = 1) -> dict[str, Any]:
    return {
        **hubspot_change(ticket, stage, event_id),
        "subscriptionType": "object.propertyChange",
        "objectTypeId": "0-5",
        "isSensitive": False,
    }


def test_hubspot_generic_format_closes(stack: LocalStack, deepcall: DeepCallStandIn) -> None:
    # Given a masking recorded for a ticket, and an app subscribed in the generic format
    stack.put_mapping("hubspot#30", {"mask": "+91 80 4000 0030"})
    # When the ticket enters a closed stage
    response = invoke(signed("hubspot", [generic_change(30)]))
    # Then the masking is expired at once, and its mapping item removed
    assert response["statusCode"] == 200
    assert response_json(response) == {
        "status": "unset",
        "event_id": "62515-1-1795688400001",
        "ticket_id": "30",
        "target": {"mask": "***0030"},
    }
    [call] = deepcall.unset_calls
    assert call.json is not None
    assert call.json["expiry_duration"] == -1
    assert not stack.mapping_exists("hubspot#30")


def test_another_object_types_stage_is_still_ignored(
    stack: LocalStack, deepcall: DeepCallStandIn
) -> None:
    stack.put_mapping("hubspot#31", {"mask": "+91 80 4000 0031"})
    deal = {**generic_change(31), "objectTypeId": "0-3"}
    response = invoke(signed("hubspot", [deal]))
    assert response["statusCode"] == 200
    assert response_json(response)["reason"] == "not a ticket stage change"
    assert deepcall.unset_calls == []
    assert stack.mapping_exists("hubspot#31")


def zendesk_status(ticket: int, previous: str, current: str, minute: int) -> dict[str, Any]:
    return {
        "type": "zen:event-type:ticket.status_changed",
        "id": f"evt-{ticket}-{minute}",
        "time": f"2026-11-26T10:{minute:02d}:00Z",
        "subject": f"zen:ticket:{ticket}",
        "detail": {"id": str(ticket), "status": current},
        "event": {"current": current, "previous": previous},
    }


def test_status_churn_never_extends_even_after_a_recorded_close(
    stack: LocalStack, deepcall: DeepCallStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given reopens enabled, and a close with a grace period applied to the ticket
    monkeypatch.setenv("EXPIRY_GRACE_MINUTES", "30")
    monkeypatch.setenv("REOPEN_EXTEND_MINUTES", "60")
    reset_app()
    stack.put_mapping("zendesk#78", {"mask": "+91 80 4000 0078"})
    solved = invoke(signed("zendesk", zendesk_status(78, "OPEN", "SOLVED", 0)))
    assert response_json(solved)["status"] == "scheduled"
    # When a later event says the ticket moved between open statuses
    churn = invoke(signed("zendesk", zendesk_status(78, "OPEN", "PENDING", 5)))
    # Then the payload's own word wins over the table: ignored, nothing called
    assert response_json(churn)["status"] == "ignored"
    assert response_json(churn)["reason"] == "ticket is not solved or closed"
    # And a real reopen, from SOLVED, extends it
    reopened = invoke(signed("zendesk", zendesk_status(78, "SOLVED", "OPEN", 10)))
    assert (response_json(reopened)["status"], response_json(reopened)["expires_in_minutes"]) == (
        "extended",
        60,
    )
    assert [call.json["expiry_duration"] for call in deepcall.unset_calls if call.json] == [30, 60]


def test_zendesk_closing_a_solved_ticket_restarts_no_grace_period(
    stack: LocalStack, deepcall: DeepCallStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXPIRY_GRACE_MINUTES", "30")
    reset_app()
    stack.put_mapping("zendesk#79", {"mask": "+91 80 4000 0079"})
    invoke(signed("zendesk", zendesk_status(79, "OPEN", "SOLVED", 0)))
    # Days later Zendesk closes the solved ticket by itself
    closed = invoke(signed("zendesk", zendesk_status(79, "SOLVED", "CLOSED", 30)))
    assert response_json(closed)["status"] == "ignored"
    assert response_json(closed)["reason"] == "ticket was already closed"
    assert len(deepcall.unset_calls) == 1
