"""The idempotency key of a close event: what makes two deliveries the same event.

The guard that uses it is :class:`masking_unset.clients.idempotency.DynamoDBIdempotency`;
docs/idempotency-keys.md explains the choice.
"""

from __future__ import annotations

import hashlib

from masking_unset.models.deepcall import UnsetTarget
from masking_unset.models.events import CloseEvent


def idempotency_key(event: CloseEvent, target: UnsetTarget | None) -> str:
    """The event id (body ``event_id`` or the sender's delivery id), else a hash of the ticket id,
    the target and ``occurred_at``. Scoped by source so two senders' ids never collide."""
    if event.event_id:
        return f"{event.source}:id:{event.event_id}"
    parts = [
        event.source,
        event.ticket_id or "",
        *(f"{k}={v}" for k, v in sorted((target.fields() if target else {}).items())),
        event.occurred_at.isoformat() if event.occurred_at else "",
    ]
    # Hashed: the key is stored, and it must not hold phone numbers.
    return f"{event.source}:hash:" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
