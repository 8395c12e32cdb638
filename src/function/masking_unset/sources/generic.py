"""``generic``: our own canonical close event, signed with Standard Webhooks v1."""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Mapping, Sequence

from masking_unset.config import Settings
from masking_unset.logic.signatures import (
    MIN_STANDARD_WEBHOOKS_KEY_BYTES,
    standard_webhooks_key,
    standard_webhooks_sign,
    verify_standard_webhooks,
)
from masking_unset.models.errors import InvalidEvent
from masking_unset.models.events import Action, CloseEvent, SourceItem
from masking_unset.models.http import WebhookRequest
from masking_unset.models.json_input import load_json
from masking_unset.models.redact import shown_value
from masking_unset.observability import count_by
from masking_unset.sources.base import Credential, SignedParts, SourceDoc, WebhookSource

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
_ACTIONS = frozenset(action.value for action in Action)


class GenericSource(WebhookSource):
    """The canonical event body, authenticated by a Standard Webhooks signature."""

    name = "generic"
    doc = SourceDoc(
        summary="The canonical close event, signed with Standard Webhooks v1.",
        credentials=(
            Credential(ID_HEADER, "generic (Standard Webhooks): the delivery id."),
            Credential(
                TIMESTAMP_HEADER,
                "generic (Standard Webhooks): unix seconds; at most 5 minutes off.",
                pattern="^[0-9]+$",
            ),
            Credential(
                SIGNATURE_HEADER,
                "generic (Standard Webhooks): space-separated `v1,<base64 HMAC-SHA256>` entries "
                "over `{webhook-id}.{webhook-timestamp}.{raw body}`.",
                signature=True,
            ),
        ),
    )

    def new_secret(self, seed: str) -> str:
        """``whsec_`` and the base64 of 32 bytes derived from ``seed``."""
        key = hashlib.sha256(f"{self.name}:{seed}".encode()).digest()
        return "whsec_" + base64.b64encode(key).decode("ascii")

    def sign(self, *, method: str, url: str, body: bytes, secret: str, now: float) -> SignedParts:
        """A fresh ``webhook-id``, ``webhook-timestamp`` and the ``v1`` signature over both and
        the body."""
        return self._sign(body, secret, now, f"msg_{uuid.uuid4().hex}")

    def resign(
        self,
        *,
        method: str,
        url: str,
        body: bytes,
        secret: str,
        now: float,
        headers: Mapping[str, str],
    ) -> SignedParts:
        """The delivery's own ``webhook-id`` is kept (a sender's retries keep it), signed anew."""
        delivery_id = next((v for k, v in headers.items() if k.lower() == ID_HEADER), "")
        return self._sign(body, secret, now, delivery_id or f"msg_{uuid.uuid4().hex}")

    def _sign(self, body: bytes, secret: str, now: float, delivery_id: str) -> SignedParts:
        if self.secret_problem(secret) is not None:
            raise ValueError("the generic source signs with a whsec_ (base64) secret")
        timestamp = int(now)
        signature = standard_webhooks_sign(secret, delivery_id, timestamp, body)
        return SignedParts(
            headers={
                ID_HEADER: delivery_id,
                TIMESTAMP_HEADER: str(timestamp),
                SIGNATURE_HEADER: signature,
            }
        )

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
            msg_id=request.header(ID_HEADER),
            timestamp=request.header(TIMESTAMP_HEADER),
            signature_header=request.header(SIGNATURE_HEADER),
            body=request.body,
            now=now,
        )

    def parse(self, request: WebhookRequest, settings: Settings) -> Sequence[SourceItem]:
        """The canonical event; the delivery id stands in for a missing ``event_id``. An
        ``action`` other than ``close`` or ``reopen`` is refused naming it (and counted as
        ``UnrecognisedStatus``): this format is the sender's own, and exact."""
        document = load_json(request.body)
        action = document.get("action") if isinstance(document, dict) else None
        if isinstance(action, str) and action not in _ACTIONS:
            count_by("UnrecognisedStatus", "source", self.name)
            raise InvalidEvent(
                f'action \'{shown_value(action)}\' is not a close: send "close" or "reopen"'
            )
        event = CloseEvent.from_document(document, source=self.name)
        if event.event_id is None and (delivery_id := request.header(ID_HEADER)):
            event = event.model_copy(update={"event_id": delivery_id[:256]})
        return [event]
