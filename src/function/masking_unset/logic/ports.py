"""What the domain steps need from the outside world, as Protocols. The clients satisfy them
without importing them (structural typing), and the tests hand in small in-memory fakes."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from masking_unset.models.budget import Deadline
from masking_unset.models.deepcall import DeepCallCredentials, DeepCallReply, UnsetTarget
from masking_unset.models.events import CloseEvent, UnsetResult
from masking_unset.models.tickets import Claimed, LedgerEntry, TicketState


class SecretReader(Protocol):
    """Reads a JSON secret (see :class:`masking_unset.clients.secrets.SecretStore`)."""

    def get_json(
        self, secret_id: str, *, variable: str, refresh: bool = False
    ) -> dict[str, Any]: ...


class UnsetCaller(Protocol):
    """Calls DeepCall (see :class:`masking_unset.clients.deepcall.DeepCallClient`)."""

    def unset(
        self,
        credentials: DeepCallCredentials,
        target: UnsetTarget,
        expiry_duration: int = ...,
        *,
        time_limit: float | None = ...,
    ) -> DeepCallReply:
        """DeepCall's success reply; the attempt takes at most ``time_limit`` seconds."""
        ...


class MaskingMap(Protocol):
    """The ticket -> masking mapping
    (see :class:`masking_unset.clients.masking_map.MaskingMapTable`).
    """

    def lookup(self, source: str, ticket_id: str) -> dict[str, str] | None: ...

    def forget(self, source: str, ticket_id: str) -> None: ...


class TicketStates(Protocol):
    """The newest event applied per ticket, and the ledger of what DeepCall confirmed for each
    of its masking targets (see :class:`masking_unset.clients.ticket_state.TicketStateTable`)."""

    def read(self, key: str) -> TicketState | None:
        """The ticket's recorded state (with its ledger), or None when no event is claimed."""
        ...

    def ledger(self, key: str) -> Mapping[str, LedgerEntry]:
        """The ledger kept for the ticket: entries by attribute name."""
        ...

    def claim(
        self,
        key: str,
        state: TicketState,
        *,
        now: float,
        same_event: Sequence[str] = (),
        needs_close: bool = False,
        closed_elsewhere: bool = False,
    ) -> Claimed:
        """Record ``state`` unless the recorded one wins, in one conditional write. Written when
        nothing is recorded, when it is the same event (same occurred_at and event key, or one
        of ``same_event``: the event's keys under previous hash keys: a retry), or when
        ``state`` is newer and the recorded one is settled or its lease has run out.

        With ``needs_close`` (a reopen its payload does not prove) the proof is part of the same
        write: besides the same event, only over an applied close older than ``state``; over
        nothing recorded only with ``closed_elsewhere`` (an applied close recorded under a
        previous hash key). Not written: the recorded state, read consistently. Written: the
        ledger the ticket held before, read in the same write."""
        ...

    def settle(
        self,
        key: str,
        event_key: str,
        *,
        applied: bool,
        ledger: tuple[str, LedgerEntry] | None = None,
        now: float = 0.0,
    ) -> None:
        """End the lease of ``event_key``'s claim, marking whether DeepCall confirmed it, and
        record the ledger entry ``(name, entry)`` in the same write."""
        ...

    def record(self, key: str, name: str, entry: LedgerEntry, *, now: float) -> None:
        """Record a ledger entry in one write, unless a later one is recorded for the target."""
        ...


class Sender(Protocol):
    """A queue to send to (see :class:`masking_unset.clients.queues.QueueClient`)."""

    @property
    def is_fifo(self) -> bool: ...

    def send(
        self,
        body: str,
        *,
        attributes: Mapping[str, str] | None = None,
        group_id: str | None = None,
        dedup_id: str | None = None,
        delay_seconds: int = 0,
    ) -> str: ...


class VisibilityControl(Protocol):
    """Delays a message's redelivery (see :class:`masking_unset.clients.queues.QueueClient`)."""

    def delay_redelivery(self, receipt_handle: str, seconds: int) -> None: ...


class IdempotencyGuard(Protocol):
    """Runs an action at most once per key within the window (see
    :class:`masking_unset.clients.idempotency.DynamoDBIdempotency`)."""

    def once(
        self, key: str, action: Callable[[], dict[str, Any]], *, previous: Sequence[str] = ()
    ) -> dict[str, Any]:
        """``action()``'s result; on a repeat, the stored result with ``"status": "duplicate"``.
        A record under one of the ``previous`` keys (the event's keys under previous hash keys)
        is a repeat too."""
        ...


class SecretRule(Protocol):
    """Which secrets may authenticate a webhook source (every
    :class:`masking_unset.sources.base.WebhookSource`)."""

    @property
    def name(self) -> str: ...

    def secret_problem(self, secret: str) -> str | None: ...


class EventTrail(Protocol):
    """Where each event's steps are kept (see :class:`masking_unset.clients.trail.TrailTable`)."""

    def append(
        self,
        key: str,
        steps: Sequence[Mapping[str, str | int]],
        *,
        index: Mapping[str, str],
        expires_at: int,
    ) -> None:
        """Add ``steps`` to the end of the event ``key``'s trail in one write, setting the
        ``index`` attributes (ticket, keyed mask hash) and the TTL. Raises on failure: the
        caller decides that a trail never fails an event."""
        ...


class EventExpirer(Protocol):
    """Expires the masking of one event (:class:`masking_unset.logic.expiry.MaskingExpirer`, or
    :class:`masking_unset.logic.accounts.AccountExpirers` in front of one per account)."""

    def expire(self, event: CloseEvent, deadline: Deadline | None = None) -> UnsetResult: ...

    def content_digest(self, text: str) -> str | None: ...
