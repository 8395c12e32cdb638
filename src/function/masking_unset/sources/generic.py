"""``generic``: our own canonical close event, signed with Standard Webhooks v1."""

from __future__ import annotations

from collections.abc import Sequence

from masking_unset.config import Settings
from masking_unset.logic.signatures import (
    MIN_STANDARD_WEBHOOKS_KEY_BYTES,
    standard_webhooks_key,
    verify_standard_webhooks,
)
from masking_unset.models.events import CloseEvent, SourceItem
from masking_unset.models.http import WebhookRequest
from masking_unset.sources.base import WebhookSource


class GenericSource(WebhookSource):
    """The canonical event body, authenticated by a Standard Webhooks signature."""

    name = "generic"

    def secret_problem(self, secret: str) -> str | None:
        """A Standard Webhooks secret is ``whsec_`` and base64 that decodes to at least 24 bytes."""
        try:
            key = standard_webhooks_key(secret)
        except ValueError:
            return "is not whsec_ followed by base64"
        if len(key) < MIN_STANDARD_WEBHOOKS_KEY_BYTES:
            return f"decodes to fewer than {MIN_STANDARD_WEBHOOKS_KEY_BYTES} bytes"
        return None

    def authenticate(
        self, request: WebhookRequest, secrets: Sequence[str], now: float, settings: Settings
    ) -> None:
        """Verify ``webhook-signature`` over ``{webhook-id}.{webhook-timestamp}.{raw body}``."""
        verify_standard_webhooks(
            secrets=secrets,
            msg_id=request.header("webhook-id"),
            timestamp=request.header("webhook-timestamp"),
            signature_header=request.header("webhook-signature"),
            body=request.body,
            now=now,
        )

    def parse(self, request: WebhookRequest, settings: Settings) -> Sequence[SourceItem]:
        """The canonical event; the delivery id stands in for a missing ``event_id``."""
        event = CloseEvent.from_json(request.body, source=self.name)
        if event.event_id is None and (delivery_id := request.header("webhook-id")):
            event = event.model_copy(update={"event_id": delivery_id[:256]})
        return [event]
