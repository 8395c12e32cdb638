"""``salesforce``: hardened XML parsing, organization and token checks, the SOAP answer."""

from __future__ import annotations

import time

import pytest
from defusedxml import DTDForbidden
from defusedxml.ElementTree import fromstring
from hypothesis import given
from hypothesis import strategies as st

from masking_unset.config import Settings
from masking_unset.handlers.responses import respond
from masking_unset.logic.webhooks import ItemOutcome
from masking_unset.models.errors import (
    AuthenticationFailed,
    ConfigurationError,
    MalformedBody,
    UpstreamRejected,
    UpstreamUnavailable,
)
from masking_unset.models.events import (
    CloseEvent,
    Ignored,
    Outcome,
    SourceItem,
    UnreadableClose,
    UnsetResult,
)
from masking_unset.models.http import WebhookRequest
from masking_unset.sources.salesforce import OUTBOUND_NS, SalesforceSource, outbound_message

ORG = "00D000000000DEMOAA"
TOKEN = "sf-url-token-91c2"
SOURCE = SalesforceSource()
BASE_ENV = {
    "DEEPCALL_BASE_URL": "https://api.example.com",
    "DEEPCALL_SECRET_ID": "arn:secret",
    "SALESFORCE_ORG_IDS": ORG,
}
SETTINGS = Settings.from_env(BASE_ENV)


def notification(notification_id: str, fields: str) -> str:
    return f"""
   <Notification>
    <Id>{notification_id}</Id>
    <sObject xsi:type="sf:Case" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     {fields}
    </sObject>
   </Notification>"""


def message(*notifications: str, org: str = ORG) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>{org}</OrganizationId>
   <ActionId>04k000000000DEMOAA</ActionId>
   <SessionId xsi:nil="true"/>
   <EnterpriseUrl>https://demo.my.salesforce.com/services/Soap/c/62.0/00D000000000DEM</EnterpriseUrl>
   {"".join(notifications)}
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>""".encode()


CLOSED = notification(
    "04l000000000001AAA",
    "<sf:Id>500000000000101AAA</sf:Id><sf:IsClosed>true</sf:IsClosed>"
    "<sf:Mask__c>+91 80 4000 1026</sf:Mask__c><sf:Status>Closed</sf:Status>",
)
RESOLVED = notification(
    "04l000000000002AAA",
    "<sf:Id>500000000000102AAA</sf:Id><sf:IsClosed>false</sf:IsClosed>"
    "<sf:M1__c>98765 11027</sf:M1__c><sf:M2__c>91234 11027</sf:M2__c>"
    "<sf:Status>Resolved</sf:Status>",
)
WORKING = notification(
    "04l000000000003AAA",
    "<sf:Id>500000000000103AAA</sf:Id><sf:IsClosed>false</sf:IsClosed>"
    "<sf:Status>Working</sf:Status>",
)


def request(
    body: bytes = b"", *, query: dict[str, str] | None = None, raw_query: str = ""
) -> WebhookRequest:
    return WebhookRequest(
        method="POST",
        path="/webhooks/salesforce",
        source="salesforce",
        headers={"content-type": "text/xml; charset=utf-8"},
        body=body,
        query=query or {},
        raw_query=raw_query,
    )


def parse(body: bytes, settings: Settings = SETTINGS) -> list[SourceItem]:
    return list(SOURCE.parse(request(body), settings))


# -- authentication ---------------------------------------------------------------------------


def test_the_url_token_passes_from_either_place() -> None:
    SOURCE.authenticate(request(query={"token": TOKEN}), ["old", TOKEN], 0.0, SETTINGS)
    SOURCE.authenticate(request(raw_query=f"a=1&token={TOKEN}"), [TOKEN], 0.0, SETTINGS)


@pytest.mark.parametrize(
    ("query", "code"),
    [({}, "missing_token"), ({"token": ""}, "missing_token"), ({"token": "nope"}, "invalid_token")],
)
def test_a_missing_or_wrong_token_is_refused(query: dict[str, str], code: str) -> None:
    with pytest.raises(AuthenticationFailed) as caught:
        SOURCE.authenticate(request(query=query), [TOKEN], 0.0, SETTINGS)
    assert caught.value.code == code


def test_only_allowed_organizations_are_read() -> None:
    with pytest.raises(AuthenticationFailed) as caught:
        parse(message(CLOSED, org="00D000000000OTHERA"))
    assert caught.value.code == "unknown_organization"


def test_the_15_character_org_id_from_setup_matches() -> None:
    settings = Settings.from_env({**BASE_ENV, "SALESFORCE_ORG_IDS": "00D0000000099XX, " + ORG[:15]})
    assert len(parse(message(CLOSED), settings)) == 1


def test_without_allowed_organizations_the_deployment_is_misconfigured() -> None:
    settings = Settings.from_env({**BASE_ENV, "SALESFORCE_ORG_IDS": ""})
    with pytest.raises(ConfigurationError) as caught:
        parse(message(CLOSED), settings)
    assert "SALESFORCE_ORG_IDS" in caught.value.message


# -- notifications ----------------------------------------------------------------------------


def test_each_notification_is_an_event() -> None:
    closed, resolved, working = parse(message(CLOSED, RESOLVED, WORKING))
    assert isinstance(closed, CloseEvent)
    assert closed.source == "salesforce"
    assert closed.event_id == "04l000000000001AAA"
    assert closed.ticket_id == "500000000000101AAA"
    assert closed.mask == "+91 80 4000 1026"
    assert isinstance(resolved, CloseEvent)  # IsClosed false, but the status is Resolved
    assert (resolved.m1, resolved.m2) == ("98765 11027", "91234 11027")
    assert isinstance(working, Ignored)
    assert working.reason == "case is not closed"
    assert working.event_id == "04l000000000003AAA"
    assert working.ticket_id == "500000000000103AAA"


def test_the_xml_becomes_a_document_for_field_overrides() -> None:
    document = outbound_message(message(CLOSED))
    assert document["OrganizationId"] == ORG
    assert document["SessionId"] is None
    assert document["Notification"] == [
        {
            "Id": "04l000000000001AAA",
            "sObject": {
                "Id": "500000000000101AAA",
                "IsClosed": "true",
                "Mask__c": "+91 80 4000 1026",
                "Status": "Closed",
            },
        }
    ]


def test_overrides_and_extra_closed_statuses() -> None:
    settings = Settings.from_env(
        {
            **BASE_ENV,
            "SALESFORCE_CLOSED_STATUSES": "Working",
            "SOURCE_FIELDS_SALESFORCE": '{"mask": "sObject.Masked_Phone__c", "closed": null}',
        }
    )
    body = message(
        notification(
            "04l000000000004AAA",
            "<sf:Id>500000000000104AAA</sf:Id><sf:IsClosed>false</sf:IsClosed>"
            "<sf:Masked_Phone__c>08040001234</sf:Masked_Phone__c><sf:Status>Working</sf:Status>",
        )
    )
    [event] = parse(body, settings)
    assert isinstance(event, CloseEvent)
    assert event.mask == "08040001234"


def test_a_message_without_status_fields_was_chosen_by_its_rule() -> None:
    body = message(notification("04l000000000005AAA", "<sf:Id>500000000000105AAA</sf:Id>"))
    [event] = parse(body)
    assert isinstance(event, CloseEvent)
    assert event.ticket_id == "500000000000105AAA"


def test_an_unreadable_notification_does_not_hold_back_the_others() -> None:
    bad = notification(
        "04l000000000006AAA",
        "<sf:Id>500000000000106AAA</sf:Id><sf:Mask__c><a>1</a></sf:Mask__c>",
    )
    failed, closed = parse(message(bad, CLOSED))
    # Sent by the close rule and not shown to be anything else: a failed close, not ignored.
    assert isinstance(failed, UnreadableClose)
    assert failed.error.code == "invalid_event"
    assert failed.error.message.startswith("mask")
    assert failed.event_id == "04l000000000006AAA"
    assert failed.ticket_id == "500000000000106AAA"
    assert isinstance(closed, CloseEvent)


# -- hostile or broken XML --------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">
 <soapenv:Body><notifications xmlns="http://soap.sforce.com/2005/09/outbound">
  <OrganizationId>&lol9;</OrganizationId>
 </notifications></soapenv:Body>
</soapenv:Envelope>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">
 <soapenv:Body><notifications xmlns="http://soap.sforce.com/2005/09/outbound">
  <OrganizationId>&xxe;</OrganizationId>
 </notifications></soapenv:Body>
</soapenv:Envelope>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE soapenv:Envelope SYSTEM "http://127.0.0.1:9/evil.dtd">
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"/>"""

PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/x.dtd"> %remote;]>
<foo/>"""


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD, PARAMETER_ENTITY])
def test_dtds_and_entities_are_refused_before_anything_expands(body: bytes) -> None:
    started = time.monotonic()
    with pytest.raises(MalformedBody) as caught:
        parse(body)
    assert caught.value.code == "malformed_body"
    # Stopped at the DOCTYPE itself: no entity was declared, let alone expanded or fetched.
    assert isinstance(caught.value.__context__, DTDForbidden)
    assert time.monotonic() - started < 1.0
    assert "passwd" not in caught.value.message
    assert "lol" not in caught.value.message


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not xml",
        b"<a><b></a>",
        b'{"json": true}',
        b"<Envelope><Body><other/></Body></Envelope>",
        b"<root><Body><notifications/></Body></root>",
        b"<Envelope>" + b"<x>" * 40 + b"</x>" * 40 + b"</Envelope>",
    ],
)
def test_anything_but_an_outbound_message_is_malformed(body: bytes) -> None:
    with pytest.raises(MalformedBody):
        parse(body)


def test_a_single_notification_is_a_list_of_one() -> None:
    assert len(parse(message(CLOSED))) == 1
    assert parse(message()) == []


# -- the answer -------------------------------------------------------------------------------


def ack_of(body: str) -> str | None:
    root = fromstring(body)
    assert root.tag == "{http://schemas.xmlsoap.org/soap/envelope/}Envelope"
    response = root.find(
        f"./{{http://schemas.xmlsoap.org/soap/envelope/}}Body/{{{OUTBOUND_NS}}}notificationsResponse"
    )
    assert response is not None
    ack = response.find(f"{{{OUTBOUND_NS}}}Ack")
    return None if ack is None else ack.text


def done(status: Outcome = Outcome.UNSET) -> ItemOutcome:
    return ItemOutcome(result=UnsetResult(status=status))


def test_every_finished_notification_is_acknowledged() -> None:
    outcomes = [
        done(),
        done(Outcome.IGNORED),
        done(Outcome.QUEUED),
        ItemOutcome(error=UpstreamRejected("refused for good", deepcall_code=1000)),
    ]
    response = respond(SOURCE, outcomes, 30)
    assert response.status == 200
    assert response.content_type.startswith("text/xml")
    assert ack_of(response.body) == "true"


def test_one_retry_makes_salesforce_resend_the_message() -> None:
    response = respond(SOURCE, [done(), ItemOutcome(error=UpstreamUnavailable("down"))], 30)
    assert response.status == 503
    assert response.headers["Retry-After"] == "30"
    assert ack_of(response.body) == "false"


def test_more_notifications_than_salesforce_sends_are_refused_before_reading_them() -> None:
    from masking_unset.models.errors import PayloadTooLarge

    many = [notification(f"04l{index:015d}", "<sf:Id>1</sf:Id>") for index in range(101)]
    with pytest.raises(PayloadTooLarge) as caught:
        parse(message(*many))
    assert caught.value.code == "too_many_events"
    assert len(parse(message(*many[:100]))) == 100


def test_a_notification_that_is_not_closed_but_unreadable_elsewhere_is_still_ignored() -> None:
    working = notification(
        "04l000000000007AAA",
        "<sf:Id>500000000000107AAA</sf:Id><sf:Status>Working</sf:Status>"
        "<sf:Mask__c><a>1</a></sf:Mask__c>",
    )
    [item] = parse(message(working))
    assert isinstance(item, Ignored)
    assert item.reason == "case is not closed"


def test_a_close_with_an_unreadable_status_is_a_failed_close() -> None:
    odd = notification(
        "04l000000000008AAA",
        "<sf:Id>500000000000108AAA</sf:Id><sf:Status><a>Closed</a></sf:Status>",
    )
    [item] = parse(message(odd))
    assert isinstance(item, UnreadableClose)
    assert item.error.message.startswith("status")
    assert item.ticket_id is None or item.ticket_id == "500000000000108AAA"


@pytest.mark.parametrize("encoding", ["UTF-7", "x-no-such-charset", "UTF-32", "Shift_JIS", "rot13"])
def test_a_declared_encoding_expat_cannot_read_is_malformed(encoding: str) -> None:
    body = message(CLOSED).replace(b'encoding="UTF-8"', f'encoding="{encoding}"'.encode())
    assert encoding.encode() in body
    with pytest.raises(MalformedBody) as caught:
        parse(body)
    assert caught.value.code == "malformed_body"
    assert "encoding" in caught.value.message


@given(encoding=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=30))
def test_any_declared_encoding_is_read_or_malformed(encoding: str) -> None:
    body = f'<?xml version="1.0" encoding="{encoding}"?><a/>'.encode()
    code = None
    try:
        outbound_message(body)
    except MalformedBody as exc:
        code = exc.code
    assert code in {None, "malformed_body"}
