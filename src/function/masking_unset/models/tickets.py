"""The ticket state record (docs/operations.md, "Ticket state") and the one place that hashes
what the product stores about a ticket or an event: no number is ever stored in clear, nor as a
hash anyone without the deployment's key could reverse."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from masking_unset.models.deepcall import UnsetTarget
from masking_unset.models.errors import ConfigurationError
from masking_unset.models.events import Action
from masking_unset.models.hashing import HASH_KEY_VARIABLE, HashKeys


def digests(keys: HashKeys | None, *parts: str) -> tuple[str, ...]:
    """The stored stand-ins for ``parts`` (which may hold phone numbers): their HMAC-SHA256 under
    each key, the current one first. Every stored hash goes through here.

    Raises :class:`ConfigurationError` without ``keys``: never a plain hash instead.
    """
    if keys is None:
        raise ConfigurationError(
            f"{HASH_KEY_VARIABLE} is not set: nothing about a number is stored without a hash key"
        )
    return keys.digests(*parts)


def ticket_keys(
    source: str, ticket_id: str | None, target: UnsetTarget | None, keys: HashKeys | None = None
) -> tuple[str, ...]:
    """The partition keys a ticket's state may be under, newest first: ``<source>#ticket#<id>``,
    or without a ticket id ``<source>#target#<keyed hash of the numbers>`` under each key."""
    if ticket_id:
        return (f"{source}#ticket#{ticket_id}",)
    fields = sorted((target.fields() if target else {}).items())
    return tuple(
        f"{source}#target#" + value for value in digests(keys, *(f"{k}={v}" for k, v in fields))
    )


def ticket_key(
    source: str, ticket_id: str | None, target: UnsetTarget | None, keys: HashKeys | None = None
) -> str:
    """The partition key a ticket's state is written under (:func:`ticket_keys`' first)."""
    return ticket_keys(source, ticket_id, target, keys)[0]


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


@dataclass(frozen=True, slots=True)
class Claimed:
    """What a conditional claim of a ticket state came to: ``written``, or not, with the state
    recorded instead (None: nothing is recorded, which proves no reopen)."""

    written: bool
    recorded: TicketState | None = None
