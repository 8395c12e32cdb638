"""``freshdesk``: automation "Trigger webhook" actions, authenticated by a shared token."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence

from masking_unset.config import Settings
from masking_unset.logic.fields import (
    KnownStatuses,
    lifecycle,
    lifecycle_item,
    read_fields,
)
from masking_unset.logic.signatures import any_matches
from masking_unset.models.errors import AuthenticationFailed, MalformedBody
from masking_unset.models.events import SourceItem
from masking_unset.models.http import WebhookRequest
from masking_unset.models.json_input import load_json
from masking_unset.sources.base import Credential, SignedParts, SourceDoc, WebhookSource

TOKEN_HEADER = "X-Webhook-Token"  # noqa: S105 - a header name
# Freshdesk status ids: 2 Open, 3 Pending, 4 Resolved, 5 Closed.
CLOSED_STATUSES = ("resolved", "closed", "4", "5")
# Open, Pending, and the two statuses Freshdesk creates in new accounts (their ids vary).
OPEN_STATUSES = ("open", "pending", "2", "3", "waiting on customer", "waiting on third party")
FIELDS = {
    # Freshdesk sends no delivery id: the rule writes one (the guide's body), distinct per update.
    "event_id": "freshdesk_webhook.event_id",
    "ticket_id": "freshdesk_webhook.ticket_id",
    "status": "freshdesk_webhook.ticket_status",
    "mask": "freshdesk_webhook.mask || freshdesk_webhook.ticket_cf_mask",
    "m1": "freshdesk_webhook.m1 || freshdesk_webhook.ticket_cf_m1",
    "m2": "freshdesk_webhook.m2 || freshdesk_webhook.ticket_cf_m2",
    # The time the rule writes (the guide's advice): it tells a close after a reopen from the
    # first close of the ticket, which would otherwise share its idempotency key.
    "occurred_at": "freshdesk_webhook.occurred_at",
    # No placeholder holds the status before the change: a reopen rule, whose condition is
    # "status changed from Resolved/Closed", writes it as text.
    "action": "freshdesk_webhook.action",
    "previous_status": "freshdesk_webhook.previous_status",
    "expire_after_minutes": "freshdesk_webhook.expire_after_minutes",
    "expire_at": "freshdesk_webhook.expire_at",
}


def offered_tokens(request: WebhookRequest) -> list[str]:
    """Every credential the request offers: the token header, a Bearer token, and both halves
    of Basic credentials (Freshdesk sends an API key as the user name)."""
    offered = [request.header(TOKEN_HEADER) or ""]
    scheme, _, value = (request.header("Authorization") or "").strip().partition(" ")
    if scheme.lower() == "bearer":
        offered.append(value.strip())
    elif scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise AuthenticationFailed(
                "the Basic credentials do not decode", code="invalid_token"
            ) from None
        user, _, password = decoded.partition(":")
        offered.extend((user, password))
    return [token for token in offered if token]


class FreshdeskSource(WebhookSource):
    """Freshdesk automation webhooks: ``{"freshdesk_webhook": {...}}`` with the chosen fields."""

    name = "freshdesk"
    settings_fields = (
        "freshdesk_closed_statuses",
        "freshdesk_open_statuses",
        "source_fields_freshdesk",
    )
    doc = SourceDoc(
        summary="Freshdesk automation webhooks, authenticated by a shared token.",
        credentials=(
            Credential(
                TOKEN_HEADER,
                "freshdesk: the shared token (or send it as a Bearer token or as Basic "
                "credentials in Authorization).",
                required=False,
                secret=True,
            ),
            Credential(
                "Authorization",
                f"freshdesk: `Bearer <token>`, or Basic credentials holding the token, instead of "
                f"{TOKEN_HEADER}.",
                required=False,
                secret=True,
            ),
        ),
    )

    def sign(self, *, method: str, url: str, body: bytes, secret: str, now: float) -> SignedParts:
        """Not signed: the shared token travels in :data:`TOKEN_HEADER`."""
        return SignedParts(headers={TOKEN_HEADER: secret}, secret_names=frozenset({TOKEN_HEADER}))

    def authenticate(
        self, request: WebhookRequest, secrets: Sequence[str], now: float, settings: Settings
    ) -> None:
        """Pass when any offered token equals any configured secret (compared in constant time)."""
        offered = offered_tokens(request)
        if not offered:
            raise AuthenticationFailed(
                f"send the token in {TOKEN_HEADER}, as a Bearer token or as Basic credentials",
                code="missing_token",
            )
        if not any_matches(secrets, offered):
            raise AuthenticationFailed("the token does not match", code="invalid_token")

    def parse(self, request: WebhookRequest, settings: Settings) -> Sequence[SourceItem]:
        """One event: a close when the status is Resolved or Closed (4 or 5), a reopen when it
        leaves them for an open status (:func:`~masking_unset.logic.fields.lifecycle`),
        otherwise ignored; a status in neither list is ignored as unrecognised."""
        document = load_json(request.body)
        if not isinstance(document, dict):
            raise MalformedBody("body must be a JSON object")
        fields = read_fields(document, FIELDS, settings.source_fields_freshdesk)
        statuses = KnownStatuses(
            closed=(*CLOSED_STATUSES, *settings.freshdesk_closed_statuses),
            open=(*OPEN_STATUSES, *settings.freshdesk_open_statuses),
            closed_setting="FRESHDESK_CLOSED_STATUSES",
            open_setting="FRESHDESK_OPEN_STATUSES",
        )
        not_closed = "ticket is not resolved or closed"
        change = lifecycle(fields, statuses, not_closed=not_closed)
        # No delivery id: the pipeline keys duplicates on ticket, masking and occurred_at.
        return [lifecycle_item(fields, change, source=self.name, not_closed=not_closed)]
