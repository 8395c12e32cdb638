"""``hubspot``: app webhook subscriptions, signed with HubSpot's signature v3."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from masking_unset.config import Settings
from masking_unset.logic.fields import (
    KnownStatuses,
    Lifecycle,
    event_document,
    lifecycle,
    note_unrecognised,
    read_fields,
    safe_id,
    unproven_reopen,
)
from masking_unset.logic.signatures import (
    any_matches,
    check_timestamp_window,
    hmac_sha256_b64,
    parse_unix_time,
)
from masking_unset.models.errors import (
    AuthenticationFailed,
    ConfigurationError,
    InvalidEvent,
    MalformedBody,
)
from masking_unset.models.events import CloseEvent, Ignored, SourceItem, UnreadableClose
from masking_unset.models.http import WebhookRequest
from masking_unset.models.json_input import load_json
from masking_unset.sources.base import Credential, SignedParts, SourceDoc, WebhookSource

SIGNATURE_HEADER = "X-HubSpot-Signature-v3"
TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"
STAGE_PROPERTY = "hs_pipeline_stage"
LEGACY_STAGE_CHANGE = "ticket.propertyChange"
# The generic ("object.*") format names the object type by id; 0-5 is tickets.
GENERIC_PROPERTY_CHANGE = "object.propertyChange"
TICKET_TYPE_ID = "0-5"
# The open stages of HubSpot's default Support Pipeline: New, Waiting on contact, Waiting on us
# (its Closed is 4). Other pipelines' stages are listed in HUBSPOT_OPEN_STAGES.
OPEN_STAGES = ("1", "2", "3")
# occurredAt is unix milliseconds; the canonical event reads such large numbers as milliseconds.
FIELDS = {"ticket_id": "objectId", "status": "propertyValue", "occurred_at": "occurredAt"}
# HubSpot decodes exactly these escapes in the URI before signing it.
_SIGNED_ESCAPES = re.compile(r"%(3A|2F|3F|40|21|24|27|28|29|2A|2C|3B)", re.IGNORECASE)
_WEBHOOKS_PATH = "/webhooks/"


def hubspot_signature(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """``X-HubSpot-Signature-v3``: base64 HMAC-SHA256 of method + URI + raw body + timestamp."""
    content = f"{method}{uri}".encode() + body + timestamp.encode()
    return hmac_sha256_b64(secret.encode("utf-8"), content)


def decode_signed_escapes(uri: str) -> str:
    """The URI as HubSpot signs it: only ``%3A %2F %3F %40 %21 %24 %27 %28 %29 %2A %2C %3B``
    decoded, every other escape left as sent."""
    return _SIGNED_ESCAPES.sub(lambda match: chr(int(match.group(1), 16)), uri)


def signed_uri(request: WebhookRequest, public_base_url: str | None) -> str:
    """The full https URI HubSpot called, rebuilt from the request.

    Without ``public_base_url`` it is ``https://<domain><path>?<query>``, right for an HTTP API's
    ``$default`` stage and for Function URLs. With it, ``public_base_url`` replaces everything
    before ``/webhooks/``: a custom domain, and any stage or mapping prefix API Gateway adds to
    or removes from the path.
    """
    path = request.path
    if public_base_url:
        start = path.find(_WEBHOOKS_PATH)
        uri = public_base_url.rstrip("/") + (path[start:] if start >= 0 else path)
    else:
        uri = f"https://{request.domain}{path}"
    if request.raw_query:
        uri += f"?{request.raw_query}"
    return decode_signed_escapes(uri)


class HubSpotSource(WebhookSource):
    """HubSpot ticket stage changes; each event of a delivery is handled on its own."""

    name = "hubspot"
    settings_fields = (
        "hubspot_closed_stages",
        "hubspot_open_stages",
        "public_base_url",
        "source_fields_hubspot",
    )
    doc = SourceDoc(
        summary="HubSpot ticket stage changes, signed with signature v3.",
        credentials=(
            Credential(
                SIGNATURE_HEADER,
                "hubspot: base64 HMAC-SHA256 of method + full URL + raw body + timestamp.",
                signature=True,
            ),
            Credential(TIMESTAMP_HEADER, "hubspot: unix milliseconds.", pattern="^[0-9]+$"),
        ),
        signs_url=True,
    )

    def sign(self, *, method: str, url: str, body: bytes, secret: str, now: float) -> SignedParts:
        """A timestamp in milliseconds and signature v3 over method, ``url``, body and it."""
        timestamp = str(int(now * 1000))
        signature = hubspot_signature(
            secret, method.upper(), decode_signed_escapes(url), body, timestamp
        )
        return SignedParts(headers={TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature})

    def authenticate(
        self, request: WebhookRequest, secrets: Sequence[str], now: float, settings: Settings
    ) -> None:
        """Verify signature v3 over method + URI + raw body + timestamp (milliseconds), within
        five minutes of ``now``."""
        signature = request.header(SIGNATURE_HEADER)
        timestamp = request.header(TIMESTAMP_HEADER)
        if not signature or not timestamp:
            raise AuthenticationFailed(
                f"{SIGNATURE_HEADER} and {TIMESTAMP_HEADER} headers are required",
                code="missing_signature",
            )
        sent_at = parse_unix_time(timestamp, header=TIMESTAMP_HEADER, milliseconds=True)
        check_timestamp_window(sent_at, now)
        uri = signed_uri(request, settings.public_base_url)
        expected = (
            hubspot_signature(secret, request.method, uri, request.body, timestamp)
            for secret in secrets
        )
        if not any_matches(expected, [signature.strip()]):
            raise AuthenticationFailed("signature does not match")

    def parse(self, request: WebhookRequest, settings: Settings) -> Sequence[SourceItem]:
        """Every event of the array: a close when a ticket entered a closed stage, a reopen
        (unproven: HubSpot does not say which stage it left) when it entered an open one
        (:data:`OPEN_STAGES` or ``HUBSPOT_OPEN_STAGES``), ignored as unrecognised otherwise."""
        if not settings.hubspot_closed_stages:
            raise ConfigurationError("HUBSPOT_CLOSED_STAGES is empty: no stage counts as closed")
        document = load_json(request.body)
        if not isinstance(document, list):
            raise MalformedBody("body must be a JSON array of events")
        self.check_event_count(len(document))
        return [self._event(item, settings) for item in document]

    def _event(self, item: Any, settings: Settings) -> SourceItem:
        if not isinstance(item, dict):
            return Ignored(reason="not an event object")
        stage_change = is_stage_change(item)
        fields: dict[str, Any] = {}
        change: Lifecycle | None = None
        try:
            fields = read_fields(item, FIELDS, settings.source_fields_hubspot)
            if fields.get("event_id") is None:
                fields["event_id"] = _event_id(item)
            if not stage_change:
                return self._ignored("not a ticket stage change", fields)
            # HubSpot never sends the stage a ticket left: a move to an open stage is a reopen
            # only if the ticket state table shows the ticket closed (previously_closed None).
            stages = KnownStatuses(
                closed=settings.hubspot_closed_stages,
                open=(*OPEN_STAGES, *settings.hubspot_open_stages),
                closed_setting="HUBSPOT_CLOSED_STAGES",
                open_setting="HUBSPOT_OPEN_STAGES",
                noun="stage",
            )
            change = lifecycle(
                fields,
                stages,
                not_closed="stage is not in HUBSPOT_CLOSED_STAGES",
                status_required=True,
            )
            if change.action is None:
                note_unrecognised(change, self.name)
                return self._ignored(change.reason or "not a close", fields)
            return CloseEvent.from_document(event_document(fields, change), source=self.name)
        except InvalidEvent as exc:
            # One unreadable event must not hold back the others of the delivery; one that may
            # be a close fails visibly instead of passing as ignored.
            if not stage_change:
                return Ignored(reason=f"unreadable event: {exc.message}")
            if change is not None and unproven_reopen(change):
                return self._ignored(f"unreadable event: {exc.message}", fields)
            return UnreadableClose(
                error=exc,
                event_id=safe_id(fields.get("event_id", _event_id(item)), "event_id"),
                ticket_id=safe_id(fields.get("ticket_id", item.get("objectId")), "ticket_id"),
            )

    @staticmethod
    def _ignored(reason: str, fields: dict[str, Any]) -> Ignored:
        return Ignored(
            reason=reason,
            event_id=safe_id(fields.get("event_id"), "event_id"),
            ticket_id=safe_id(fields.get("ticket_id"), "ticket_id"),
        )


def is_stage_change(item: dict[str, Any]) -> bool:
    """Whether an event is a ticket's pipeline stage changing: ``ticket.propertyChange`` of
    ``hs_pipeline_stage``, or the generic format's ``object.propertyChange`` of it on object
    type ``0-5``."""
    if item.get("propertyName") != STAGE_PROPERTY:
        return False
    kind = item.get("subscriptionType")
    if kind == LEGACY_STAGE_CHANGE:
        return True
    return kind == GENERIC_PROPERTY_CHANGE and str(item.get("objectTypeId")) == TICKET_TYPE_ID


def _event_id(item: dict[str, Any]) -> str | None:
    # eventId alone is not guaranteed unique: scope it by portal and time.
    event_id = item.get("eventId")
    if event_id is None or isinstance(event_id, bool):
        return None
    return f"{item.get('portalId', '')}-{event_id}-{item.get('occurredAt', '')}"
