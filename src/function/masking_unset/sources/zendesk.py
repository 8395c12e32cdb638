"""``zendesk``: ticket event subscriptions and trigger/automation bodies, signed by Zendesk.

A status event carries the previous status: SOLVED or CLOSED to any other is a reopen the payload
proves. A trigger body can send it too (``previous_status``), or say ``action`` itself."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime

from masking_unset.config import Settings
from masking_unset.logic.fields import (
    KnownStatuses,
    ignored,
    lifecycle,
    lifecycle_item,
    read_fields,
)
from masking_unset.logic.signatures import (
    any_matches,
    check_timestamp_window,
    hmac_sha256_b64,
    parse_iso_time,
)
from masking_unset.models.errors import AuthenticationFailed, MalformedBody
from masking_unset.models.events import SourceItem
from masking_unset.models.http import WebhookRequest
from masking_unset.models.json_input import load_json
from masking_unset.sources.base import Credential, SignedParts, SourceDoc, WebhookSource

SIGNATURE_HEADER = "X-Zendesk-Webhook-Signature"
TIMESTAMP_HEADER = "X-Zendesk-Webhook-Signature-Timestamp"
# Not signed: never an idempotency key (see docs/idempotency-keys.md).
INVOCATION_HEADER = "X-Zendesk-Webhook-Invocation-Id"
STATUS_CHANGED = "zen:event-type:ticket.status_changed"
CLOSED_STATUSES = ("solved", "closed")
# Events send NEW, OPEN, PENDING, HOLD; a trigger's {{ticket.status}} in English "On-hold".
OPEN_STATUSES = ("new", "open", "pending", "hold", "on-hold")

# An event subscription's payload is fixed by Zendesk; it carries no masking numbers unless an
# override points at a ticket field that holds them (external_id, for example).
EVENT_FIELDS = {
    "event_id": "id",
    "ticket_id": "detail.id",
    "status": "event.current.status || event.current",
    "previous_status": "event.previous.status || event.previous",
    "occurred_at": "time",
}
# A trigger's body is written by the admin; these are the names the guide recommends.
TRIGGER_FIELDS = {
    "event_id": "event_id",
    "ticket_id": "ticket_id",
    "status": "status",
    "mask": "mask",
    "m1": "m1",
    "m2": "m2",
    "occurred_at": "occurred_at",
    "action": "action",
    "previous_status": "previous_status",
    "expire_after_minutes": "expire_after_minutes",
    "expire_at": "expire_at",
}


def zendesk_signature(secret: str, timestamp: str, body: bytes) -> str:
    """``X-Zendesk-Webhook-Signature``: base64 HMAC-SHA256 of the timestamp text + raw body."""
    return hmac_sha256_b64(secret.encode("utf-8"), timestamp.encode("utf-8") + body)


def signed_delivery_id(request: WebhookRequest) -> str:
    """The id of a trigger delivery whose body names none: a hash of its (verified) signature,
    which covers exactly the timestamp text followed by the raw body. A replay of a signed request
    is the same delivery whatever unsigned headers (``X-Zendesk-Webhook-Invocation-Id``) it
    carries. Not a hash of the body itself: that holds numbers, and the id is logged and stored;
    the signature is already keyed by the webhook secret."""
    signature = (request.header(SIGNATURE_HEADER) or "").strip()
    return "signed-" + hashlib.sha256(signature.encode("utf-8")).hexdigest()[:40]


class ZendeskSource(WebhookSource):
    """Zendesk webhooks: ``ticket.status_changed`` events, or a trigger's own JSON body."""

    name = "zendesk"
    settings_fields = (
        "zendesk_closed_statuses",
        "zendesk_open_statuses",
        "source_fields_zendesk",
    )
    doc = SourceDoc(
        summary="Zendesk webhooks: ticket status events, or a trigger's own JSON body.",
        credentials=(
            Credential(
                SIGNATURE_HEADER,
                "zendesk: base64 HMAC-SHA256 of the timestamp text followed by the raw body.",
                signature=True,
            ),
            Credential(TIMESTAMP_HEADER, "zendesk: ISO-8601 time of the signature."),
        ),
    )

    def sign(self, *, method: str, url: str, body: bytes, secret: str, now: float) -> SignedParts:
        """An ISO-8601 timestamp (whole seconds, UTC) and the signature over it and the body."""
        timestamp = datetime.fromtimestamp(int(now), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        signature = zendesk_signature(secret, timestamp, body)
        return SignedParts(headers={TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature})

    def authenticate(
        self, request: WebhookRequest, secrets: Sequence[str], now: float, settings: Settings
    ) -> None:
        """Verify the signature over timestamp + raw body, within five minutes of ``now``."""
        signature = request.header(SIGNATURE_HEADER)
        timestamp = request.header(TIMESTAMP_HEADER)
        if not signature or not timestamp:
            raise AuthenticationFailed(
                f"{SIGNATURE_HEADER} and {TIMESTAMP_HEADER} headers are required",
                code="missing_signature",
            )
        check_timestamp_window(parse_iso_time(timestamp, header=TIMESTAMP_HEADER), now)
        expected = (zendesk_signature(secret, timestamp, request.body) for secret in secrets)
        if not any_matches(expected, [signature.strip()]):
            raise AuthenticationFailed("signature does not match")

    def parse(self, request: WebhookRequest, settings: Settings) -> Sequence[SourceItem]:
        """One event: a close when the ticket is solved or closed, a reopen when it leaves
        solved or closed for an open status (:func:`~masking_unset.logic.fields.lifecycle`),
        otherwise ignored; a status in neither list is ignored as unrecognised."""
        document = load_json(request.body)
        if not isinstance(document, dict):
            raise MalformedBody("body must be a JSON object")
        kind = document.get("type")
        subscription = isinstance(kind, str) and kind.startswith("zen:event-type:")
        defaults = EVENT_FIELDS if subscription else TRIGGER_FIELDS
        fields = read_fields(document, defaults, settings.source_fields_zendesk)
        if subscription and fields.get("ticket_id") is None:
            fields["ticket_id"] = _ticket_from_subject(document.get("subject"))
        if not subscription and fields.get("event_id") is None:
            fields["event_id"] = signed_delivery_id(request)
        if subscription and kind != STATUS_CHANGED:
            return [ignored("not a ticket status change", fields)]
        statuses = KnownStatuses(
            closed=(*CLOSED_STATUSES, *settings.zendesk_closed_statuses),
            open=(*OPEN_STATUSES, *settings.zendesk_open_statuses),
            closed_setting="ZENDESK_CLOSED_STATUSES",
            open_setting="ZENDESK_OPEN_STATUSES",
        )
        not_closed = "ticket is not solved or closed"
        change = lifecycle(fields, statuses, not_closed=not_closed, status_required=subscription)
        return [lifecycle_item(fields, change, source=self.name, not_closed=not_closed)]


def _ticket_from_subject(subject: object) -> str | None:
    # Event payloads name the ticket as "zen:ticket:<id>" too.
    prefix = "zen:ticket:"
    if isinstance(subject, str) and subject.startswith(prefix):
        return subject.removeprefix(prefix) or None
    return None
