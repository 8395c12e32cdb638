"""The ticket state record (docs/operations.md, "Ticket state") and the one place that hashes
what the product stores about a ticket or an event: no number is ever stored in clear."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from masking_unset.models.deepcall import UnsetTarget
from masking_unset.models.events import Action


def digest(*parts: str) -> str:
    """The stored stand-in for ``parts`` (which may hold phone numbers): their SHA-256, hex.

    Every stored hash goes through here, so switching them all to a keyed hash is one change.
    """
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def ticket_key(source: str, ticket_id: str | None, target: UnsetTarget | None) -> str:
    """The partition key of a ticket's state: ``<source>#ticket#<id>``, or without a ticket id
    ``<source>#target#<hash of the numbers>``."""
    if ticket_id:
        return f"{source}#ticket#{ticket_id}"
    fields = sorted((target.fields() if target else {}).items())
    return f"{source}#target#" + digest(*(f"{k}={v}" for k, v in fields))


def epoch_ms(moment: datetime) -> int:
    """``moment`` in whole milliseconds since the epoch: how ``occurred_at`` is compared."""
    return int(moment.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class TicketState:
    """The newest event claimed for a ticket.

    ``applied`` is true once DeepCall confirmed it (or had nothing left to expire);
    ``lease_until`` (epoch seconds) is when a claim whose call never settled stops holding back
    newer events; 0 once settled.
    """

    occurred_at_ms: int
    action: Action
    event_key: str
    applied: bool = False
    lease_until: float = 0.0

    @property
    def closed(self) -> bool:
        """Whether a close was applied: the proof a reopen needs when its payload lacks one."""
        return self.action is Action.CLOSE and self.applied
