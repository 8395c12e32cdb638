"""The idempotency key of a close event: what makes two deliveries the same event.

The guard that uses it is :class:`masking_unset.clients.idempotency.DynamoDBIdempotency`;
docs/idempotency-keys.md explains the choice.
"""

from __future__ import annotations

from masking_unset.models.deepcall import UnsetTarget
from masking_unset.models.events import Action, CloseEvent
from masking_unset.models.expire_at import instant_ms
from masking_unset.models.hashing import HashKeys
from masking_unset.models.tickets import digests, epoch_ms


def idempotency_keys(
    event: CloseEvent, target: UnsetTarget | None, keys: HashKeys | None = None
) -> tuple[str, ...]:
    """The keys the event may have been recorded under, the one it is written under first.

    The event id (body ``event_id`` or the sender's delivery id), else an HMAC-SHA256 under each
    hash key (current, then previous) of the ticket id, the target and ``occurred_at``. Scoped by
    source so two senders' ids never collide. Raises ``ConfigurationError`` when a hash is
    needed and ``keys`` is None.
    """
    if event.event_id:
        return (f"{event.scope}:id:{event.event_id}",)
    parts = [
        event.scope,
        event.ticket_id or "",
        *(f"{k}={v}" for k, v in sorted((target.fields() if target else {}).items())),
        event.occurred_at.isoformat() if event.occurred_at else "",
    ]
    if event.action is not Action.CLOSE:
        parts.append(event.action.value)  # a close keeps the key it always had
    # Keyed: the key is stored, and nobody without the hash key may recover a number from it.
    return tuple(f"{event.scope}:hash:" + value for value in digests(keys, *parts))


def idempotency_key(
    event: CloseEvent, target: UnsetTarget | None, keys: HashKeys | None = None
) -> str:
    """The key the event is recorded under (:func:`idempotency_keys`' first)."""
    return idempotency_keys(event, target, keys)[0]


def repeat_keys(event: CloseEvent, target: UnsetTarget, keys: HashKeys | None) -> tuple[str, ...]:
    """What makes a later delivery the same close (or reopen), whatever its event id (a sender
    signs a retry again, a rule fires twice): a keyed digest of the ticket, the target and
    ``occurred_at``, or without ``occurred_at`` of the canonical event fields (the same body;
    ``expire_at`` as its instant, and only when sent, so the keys of other events stay as they
    were). The one written first, then under each previous hash key."""
    parts = [
        "repeat",
        event.scope,
        event.ticket_id or "",
        *(f"{k}={v}" for k, v in sorted(target.fields().items())),
        event.action.value,
    ]
    if event.occurred_at is not None:
        parts.append(str(epoch_ms(event.occurred_at)))  # one instant, however it is written
    else:
        parts += [str(event.expire_after_minutes), str(event.previously_closed)]
        if event.expire_at is not None:
            parts.append("expire_at=" + instant_ms(event.expire_at))
    return digests(keys, *parts)
