"""``salesforce``: Outbound Messages (SOAP 1.1), checked by organization id and a URL token."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from masking_unset.config import Settings
from masking_unset.logic.fields import (
    KnownStatuses,
    Lifecycle,
    as_text,
    event_document,
    lifecycle,
    note_unrecognised,
    read_fields,
    safe_id,
    unproven_reopen,
)
from masking_unset.logic.signatures import any_matches
from masking_unset.models.errors import (
    AuthenticationFailed,
    ConfigurationError,
    InvalidEvent,
    MalformedBody,
)
from masking_unset.models.events import CloseEvent, Ignored, SourceItem, UnreadableClose
from masking_unset.models.http import WebhookRequest
from masking_unset.sources.base import Credential, SignedParts, SourceDoc, WebhookSource

OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
SOAP_ENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
_XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
_MAX_DEPTH = 16  # an outbound message nests 6 deep; deeper is not one
CLOSED_STATUSES = ("closed", "resolved")
# The standard Case Status values that are open; IsClosed, when sent, decides on its own.
OPEN_STATUSES = ("new", "working", "escalated", "on hold")
# Relative to one Notification, converted from XML as {"Id": ..., "sObject": {field: text}}.
FIELDS = {
    "event_id": "Id",
    "ticket_id": "sObject.Id",
    "status": "sObject.Status",
    "closed": "sObject.IsClosed",
    "mask": "sObject.Mask__c",
    "m1": "sObject.M1__c",
    "m2": "sObject.M2__c",
    # When selected, the time of the change orders a reopen against a close delivered late.
    "occurred_at": "sObject.LastModifiedDate",
    # Custom fields a flow fills: the status before the change ({!$Record__Prior.Status}) and
    # this close's grace period, or the moment it expires at (a Date/Time field).
    "previous_status": "sObject.Previous_Status__c",
    "expire_after_minutes": "sObject.Expire_After_Minutes__c",
    "expire_at": "sObject.Expire_At__c",
}
CONTENT_TYPE = "text/xml; charset=utf-8"
TOKEN_PARAMETER = "token"  # noqa: S105 - a parameter name


def soap_ack(ack: bool) -> str:
    """The ``notificationsResponse`` Salesforce waits for; ``false`` makes it deliver again."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV_NS}">'
        "<soapenv:Body>"
        f'<notificationsResponse xmlns="{OUTBOUND_NS}">'
        f"<Ack>{'true' if ack else 'false'}</Ack>"
        "</notificationsResponse>"
        "</soapenv:Body>"
        "</soapenv:Envelope>"
    )


def parse_xml(raw: bytes) -> Element:
    """Parse with every DTD, entity and external reference refused, before anything expands."""
    try:
        root: Element = fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise MalformedBody("DTDs and entities are not accepted") from None
    except ParseError:
        raise MalformedBody("body is not well-formed XML") from None
    except (ValueError, LookupError):
        # expat reads UTF-8, UTF-16, ASCII and single-byte charsets; a declared UTF-7, another
        # multi-byte or an unknown charset surfaces as ValueError or LookupError.
        raise MalformedBody("the XML declares an encoding that is not supported") from None
    return root


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def to_document(element: Element, depth: int = 0) -> Any:
    """An element as plain data: text for a leaf (None when ``xsi:nil``), a dict by local name
    for the rest, a list where a name repeats."""
    if depth > _MAX_DEPTH:
        raise MalformedBody("the XML is nested too deeply")
    if element.get(_XSI_NIL) == "true":
        return None
    children = list(element)
    if not children:
        return (element.text or "").strip()
    document: dict[str, Any] = {}
    for child in children:
        name, value = _local(child.tag), to_document(child, depth + 1)
        if name not in document:
            document[name] = value
        elif isinstance(previous := document[name], list):
            previous.append(value)
        else:
            document[name] = [previous, value]
    return document


def outbound_message(raw: bytes) -> dict[str, Any]:
    """The ``notifications`` element of a SOAP envelope, with ``Notification`` always a list."""
    root = parse_xml(raw)
    envelope = to_document(root)
    if _local(root.tag) != "Envelope" or not isinstance(envelope, dict):
        raise MalformedBody("not a SOAP envelope")
    body = envelope.get("Body")
    message = body.get("notifications") if isinstance(body, dict) else None
    if not isinstance(message, dict):
        raise MalformedBody("not a Salesforce outbound message: no notifications element")
    notifications = message.get("Notification")
    if notifications is None:
        notifications = []
    message["Notification"] = notifications if isinstance(notifications, list) else [notifications]
    return message


def _org_allowed(org_id: str | None, allowed: Sequence[str]) -> bool:
    # Setup shows the 15-character id, messages carry the 18-character one: compare the first 15.
    if not org_id:
        return False
    return any(org_id[:15] == candidate[:15] for candidate in allowed if candidate)


class SalesforceSource(WebhookSource):
    """Salesforce Outbound Messages: up to 100 notifications, answered with a SOAP ``Ack``."""

    name = "salesforce"
    settings_fields = (
        "salesforce_org_ids",
        "salesforce_closed_statuses",
        "salesforce_open_statuses",
        "source_fields_salesforce",
    )
    doc = SourceDoc(
        summary="Salesforce Outbound Messages (SOAP), checked by organization id and a URL token.",
        credentials=(
            Credential(
                TOKEN_PARAMETER,
                "salesforce: the shared token configured for the endpoint URL.",
                location="query",
                secret=True,
            ),
        ),
        request_content_type=CONTENT_TYPE,
        answer_content_type=CONTENT_TYPE,
    )

    def sign(self, *, method: str, url: str, body: bytes, secret: str, now: float) -> SignedParts:
        """Not signed: the shared token is the endpoint URL's ``token`` query parameter."""
        return SignedParts(
            query={TOKEN_PARAMETER: secret}, secret_names=frozenset({TOKEN_PARAMETER})
        )

    def authenticate(
        self, request: WebhookRequest, secrets: Sequence[str], now: float, settings: Settings
    ) -> None:
        """The ``token`` query parameter must equal a configured secret (constant time). The
        organization id is checked in :meth:`parse`, once the message is read."""
        token = request.query.get(TOKEN_PARAMETER) or next(
            iter(parse_qs(request.raw_query).get(TOKEN_PARAMETER, [])), ""
        )
        if not token:
            raise AuthenticationFailed(
                "add ?token=<secret> to the endpoint URL", code="missing_token"
            )
        if not any_matches(secrets, [token]):
            raise AuthenticationFailed("the token does not match", code="invalid_token")

    def parse(self, request: WebhookRequest, settings: Settings) -> Sequence[SourceItem]:
        """Every notification: a close when the case is closed, a reopen when it is open again
        (:func:`~masking_unset.logic.fields.lifecycle`), otherwise ignored."""
        if not settings.salesforce_org_ids:
            raise ConfigurationError("SALESFORCE_ORG_IDS is empty: no organization is allowed")
        message = outbound_message(request.body)
        if not _org_allowed(
            as_text(message.get("OrganizationId"), "OrganizationId"), settings.salesforce_org_ids
        ):
            raise AuthenticationFailed(
                "OrganizationId is not in SALESFORCE_ORG_IDS", code="unknown_organization"
            )
        self.check_event_count(len(message["Notification"]))
        return [self._event(item, settings) for item in message["Notification"]]

    def _event(self, item: Any, settings: Settings) -> SourceItem:
        if not isinstance(item, dict):
            return Ignored(reason="empty notification")
        fields: dict[str, Any] = {}
        change: Lifecycle | None = None
        try:
            fields = read_fields(item, FIELDS, settings.source_fields_salesforce)
            statuses = KnownStatuses(
                closed=(*CLOSED_STATUSES, *settings.salesforce_closed_statuses),
                open=(*OPEN_STATUSES, *settings.salesforce_open_statuses),
                closed_setting="SALESFORCE_CLOSED_STATUSES",
                open_setting="SALESFORCE_OPEN_STATUSES",
            )
            change = lifecycle(fields, statuses, not_closed="case is not closed")
            if change.action is None:
                note_unrecognised(change, self.name)
                return Ignored(
                    reason=change.reason or "case is not closed",
                    event_id=safe_id(fields.get("event_id"), "event_id"),
                    ticket_id=safe_id(fields.get("ticket_id"), "ticket_id"),
                )
            return CloseEvent.from_document(event_document(fields, change), source=self.name)
        except InvalidEvent as exc:
            # One unreadable notification must not hold back the others of the message. It was
            # sent by a rule about closes and was not shown to be anything else: a failed close.
            # An open case the payload does not show reopened is most often another edit.
            if change is not None and unproven_reopen(change):
                return Ignored(
                    reason=f"unreadable event: {exc.message}",
                    event_id=safe_id(fields.get("event_id"), "event_id"),
                    ticket_id=safe_id(fields.get("ticket_id"), "ticket_id"),
                )
            return UnreadableClose(
                error=exc,
                event_id=safe_id(fields.get("event_id", item.get("Id")), "event_id"),
                ticket_id=safe_id(fields.get("ticket_id"), "ticket_id"),
            )

    def acknowledgement(self, acknowledged: bool) -> str | None:
        """The SOAP ``Ack``: false makes Salesforce resend the whole message (the finished
        notifications then come back as duplicates)."""
        return soap_ack(acknowledged)
