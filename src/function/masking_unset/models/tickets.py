"""The ticket state record (docs/operations.md, "Ticket state") and the one place that hashes
what the product stores about a ticket or an event: no number is ever stored in clear, nor as a
hash anyone without the deployment's key could reverse."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from masking_unset.models.accounts import DEFAULT_ACCOUNT
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
    # The ledger kept on the same item (see :class:`LedgerEntry`), by attribute name.
    ledger: Mapping[str, LedgerEntry] = field(default_factory=dict, compare=False, hash=False)

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
    # Written: the ledger the item held before (read in the same write).
    ledger: Mapping[str, LedgerEntry] = field(default_factory=dict, compare=False, hash=False)


# The ledger: per ticket and masking target, the last action DeepCall confirmed, kept on the
# ticket's state item as one attribute per target, named after a keyed hash of its numbers.
LEDGER_PREFIX = "ledger#"


class LedgerAction(StrEnum):
    """What DeepCall confirmed for a masking."""

    EXPIRED = "expired"  # expired now
    EXPIRY_SET = "expiry_set"  # set to expire later (a grace period, an extension)


def iso_ms(moment_ms: int) -> str:
    """``moment_ms`` (epoch milliseconds) as ISO 8601 in UTC, to the second."""
    return datetime.fromtimestamp(moment_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """The last action DeepCall confirmed for one ticket's masking target, and by which event.

    ``until_ms`` is when the masking expires or expired (``at_ms`` for an expiry now);
    ``event`` the event's id, or its keyed event key (never a number); ``repeat`` the keyed
    digest that makes a later delivery the same close (see
    :func:`masking_unset.logic.idempotency.repeat_keys`); past ``kept_until`` (epoch seconds,
    ``LEDGER_RETENTION_DAYS``) the entry is as good as gone.
    """

    action: LedgerAction
    at_ms: int
    until_ms: int
    event: str
    repeat: str
    kept_until: int
    # The DeepCall account that confirmed it (entries written before accounts existed: default).
    account: str = DEFAULT_ACCOUNT

    def expired(self, now_ms: int) -> bool:
        """Whether the masking is expired by this action at ``now_ms``: expired now, or a
        scheduled expiry whose time has passed."""
        return self.until_ms <= now_ms

    def proof(self) -> str:
        """The reason an ``already_expired`` answer gives: which event expired it, and when."""
        return f"expired by event {self.event} at {iso_ms(self.until_ms)}"


def ledger_names(target: UnsetTarget, keys: HashKeys | None) -> tuple[str, ...]:
    """The attribute names a target's ledger entry may be under, the one written first: a keyed
    hash of its numbers under each hash key."""
    fields = sorted(target.fields().items())
    return tuple(
        LEDGER_PREFIX + value for value in digests(keys, "ledger", *(f"{k}={v}" for k, v in fields))
    )


def ledger_entry(
    ledger: Mapping[str, LedgerEntry], names: tuple[str, ...], now: float
) -> LedgerEntry | None:
    """The target's entry in ``ledger`` (under any of ``names``) unless past its retention."""
    for name in names:
        entry = ledger.get(name)
        if entry is not None and entry.kept_until >= now:
            return entry
    return None
