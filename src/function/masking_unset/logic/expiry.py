"""Expiring (or extending) the masking a ticket event names, whichever way it came: resolve the
target, check the ticket's newest event, fetch credentials, call DeepCall - at most once per
event, retried within the invocation's time."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from masking_unset.config import Settings
from masking_unset.logic import trail
from masking_unset.logic.failures import disposition, says_masking_gone
from masking_unset.logic.idempotency import idempotency_keys, repeat_keys
from masking_unset.logic.phone import for_deepcall, parse_number
from masking_unset.logic.ports import (
    IdempotencyGuard,
    MaskingMap,
    SecretReader,
    TicketStates,
    UnsetCaller,
)
from masking_unset.logic.retry import RetryPolicy
from masking_unset.models.accounts import DEFAULT_ACCOUNT
from masking_unset.models.budget import Deadline, TimeBudget, ensure_time
from masking_unset.models.deepcall import (
    EXPIRE_NOW_MINUTES,
    NUMBER_FIELDS,
    DeepCallCredentials,
    DeepCallReply,
    SsidCredentials,
    TokenCredentials,
    UnsetTarget,
)
from masking_unset.models.errors import (
    ConfigurationError,
    FutureEvent,
    InFlight,
    InvalidExpiry,
    MaskingUnsetError,
    SameNumbers,
    UnknownAccount,
    UnresolvedTarget,
    UnusableTarget,
    UpstreamError,
)
from masking_unset.models.events import Action, CloseEvent, Outcome, UnsetResult
from masking_unset.models.expire_at import checked_expire_at, minutes_until
from masking_unset.models.hashing import HASH_KEY_VARIABLE, HashKeys, parse_hash_keys
from masking_unset.models.mapping import shown_mapping_key
from masking_unset.models.redact import redact_number
from masking_unset.models.tickets import (
    LedgerAction,
    LedgerEntry,
    TicketState,
    epoch_ms,
    iso_ms,
    ledger_entry,
    ledger_names,
    ticket_keys,
)
from masking_unset.observability import count, count_by, logger, milliseconds, subsegment


def parse_credentials(
    document: dict[str, Any], variable: str = "DEEPCALL_SECRET_ID"
) -> DeepCallCredentials:
    """DeepCall credentials from the secret's JSON: ``{"ssid"}`` or ``{"userId", "token"}``.

    The error says which keys were expected, never which were found: a secret written
    key-for-value (``{"<the ssid>": "ssid"}``) has the credential as its key.
    """
    keys = set(document)
    try:
        if keys == {"ssid"}:
            return SsidCredentials.model_validate(document)
        if keys == {"userId", "token"}:
            return TokenCredentials.model_validate(document)
    except ValidationError:
        raise ConfigurationError(
            f"the secret named by {variable} has empty or non-text values"
        ) from None
    raise ConfigurationError(
        f"the secret named by {variable} must hold exactly the keys "
        '"ssid", or "userId" and "token" ({"ssid": "..."} or {"userId": "...", "token": "..."})'
    )


def target_from_numbers(numbers: dict[str, str], settings: Settings) -> UnsetTarget:
    """Parse ``mask``/``m1``/``m2`` and write them as DeepCall is sent them. Raises
    :class:`UnusableTarget`."""
    region = settings.phone_default_region
    fmt = settings.deepcall_number_format
    formatted: dict[str, str] = {
        field: for_deepcall(
            parse_number(raw, field=field, region=region), fmt, field=field, region=region
        )
        for field in NUMBER_FIELDS
        if (raw := numbers.get(field)) is not None
    }
    if not formatted:
        raise UnusableTarget("the event names no masking: give mask, or m1 and/or m2")
    # Compared as sent: DeepCall refuses two equal numbers (1501).
    if "m1" in formatted and formatted.get("m1") == formatted.get("m2"):
        raise SameNumbers("m1 and m2 are the same number")
    return UnsetTarget(**formatted)


def resolve_numbers(event: CloseEvent, settings: Settings) -> UnsetTarget:
    """The target named in the event's own payload. Raises :class:`UnusableTarget`."""
    return target_from_numbers(
        {f: v for f in NUMBER_FIELDS if (v := getattr(event, f)) is not None}, settings
    )


def redacted_target(target: UnsetTarget) -> dict[str, str]:
    """The target with each number cut to its last four digits."""
    return {field: redact_number(value) for field, value in target.fields().items()}


# How long a claimed ticket state holds back newer events while its DeepCall call runs: longer
# than any invocation (Lambda's limit is 15 minutes). A failed call ends it at once.
CLAIM_LEASE_SECONDS = 900.0

_UNPROVEN_REOPEN = (
    "reopen ignored: nothing shows the ticket was closed before "
    "(previously_closed, or a close recorded in the ticket state table)"
)


def _reopens_off(event: CloseEvent) -> str:
    """Why a reopen is ignored while ``REOPEN_EXTEND_MINUTES`` is 0, claiming no more than the
    event shows: only a payload that says the ticket was closed before shows a reopen."""
    if event.previously_closed is True:
        return "reopen ignored: REOPEN_EXTEND_MINUTES is 0"
    return "not a close (the ticket is open); reopens are off: REOPEN_EXTEND_MINUTES is 0"


class _Unproven(Exception):
    """A reopen that nothing shows was closed before. Raised out of the idempotency guard, so
    that nothing is recorded for it."""


# Metric counted per outcome of a DeepCall call.
_OUTCOME_METRICS: dict[Outcome, str] = {
    Outcome.UNSET: "MaskingsExpired",
    Outcome.SCHEDULED: "MaskingsScheduled",
    Outcome.EXTENDED: "MaskingsExtended",
    Outcome.ALREADY_DONE: "AlreadyExpired",
    Outcome.TOO_LATE: "ReopenTooLate",
}


@dataclass(frozen=True, slots=True)
class Plan:
    """What an event asks of DeepCall: the ``expiry_duration`` sent, and how it ends."""

    duration: int  # negative: now
    done: Outcome  # DeepCall confirmed
    nothing_active: Outcome  # DeepCall had nothing active to act on
    minutes: int | None  # the new expiry, in minutes from now; None when expired now
    # An expiry at a moment (expire_at, EXPIRY_GRACE_UNTIL): the minutes are those left when
    # the call is made (:meth:`at`), not when the event was read.
    expire_at: datetime | None = None

    @classmethod
    def until(cls, moment: datetime, now: float) -> Plan:
        """A close that expires the masking at ``moment``, as called at ``now``."""
        return cls(EXPIRE_NOW_MINUTES, Outcome.UNSET, Outcome.ALREADY_DONE, None, moment).at(now)

    def at(self, now: float) -> Plan:
        """The call to make at ``now`` (epoch seconds): for an expiry at a moment, the whole
        minutes left, rounded up, or expired now once it has come."""
        if self.expire_at is None:
            return self
        minutes = minutes_until(self.expire_at, now)
        if minutes is None:
            return Plan(
                EXPIRE_NOW_MINUTES, Outcome.UNSET, Outcome.ALREADY_DONE, None, self.expire_at
            )
        return Plan(minutes, Outcome.SCHEDULED, Outcome.ALREADY_DONE, minutes, self.expire_at)


@dataclass(slots=True)
class _Book:
    """The ledger's part in one event: the ticket's item it is kept on, what it held before the
    call, and the entry to record once DeepCall confirmed."""

    state_key: str
    keys: HashKeys
    event: str  # the event's id, or its keyed event key: never a number
    prior: Mapping[str, LedgerEntry] | None = None  # None: not read yet
    names: tuple[str, ...] = ()  # the target's entry names, once the target is known
    repeats: tuple[str, ...] = ()  # the keys that make another delivery the same event
    pending: tuple[str, LedgerEntry] | None = None


def refuse_future(
    event: CloseEvent, settings: Settings, *, clock: str = "now: check the sender's clock"
) -> None:
    """Raise :class:`FutureEvent` when ``occurred_at`` lies further ahead of now than
    ``OCCURRED_AT_MAX_SKEW_SECONDS``: recorded, such an event would stay the ticket's newest
    and make every real one after it stale. Nothing is read or written before. ``clock`` ends
    the message: whose clock it is ahead of."""
    if event.occurred_at is None:
        return
    skew = settings.occurred_at_max_skew_seconds
    if event.occurred_at.timestamp() - time.time() > skew:
        raise FutureEvent(
            f"occurred_at lies more than {skew} s (OCCURRED_AT_MAX_SKEW_SECONDS) ahead of {clock}"
        )


def plan(event: CloseEvent, settings: Settings, now: float | None = None) -> Plan | None:
    """The call an event asks for; None for a reopen while ``REOPEN_EXTEND_MINUTES`` is 0.

    A close's expiry is, first to last: its ``expire_at``, its ``expire_after_minutes``,
    ``EXPIRY_GRACE_UNTIL`` (on the day of ``occurred_at``, else of ``now``), then
    ``EXPIRY_GRACE_MINUTES``. Raises :class:`InvalidExpiry` for an ``expire_at`` that cannot be
    used (a reopen ignores it, as it ignores ``expire_after_minutes``).
    """
    if event.action is Action.REOPEN:
        extend = settings.reopen_extend_minutes
        if extend == 0:
            return None
        return Plan(extend, Outcome.EXTENDED, Outcome.TOO_LATE, extend)
    now = time.time() if now is None else now
    if event.expire_at is not None:
        if event.expire_after_minutes is not None:
            raise InvalidExpiry(
                "send expire_at or expire_after_minutes, not both",
                code="expire_at_with_minutes",
            )
        return Plan.until(checked_expire_at(event.expire_at, now), now)
    daily = settings.expiry_grace_until
    if daily is not None and event.expire_after_minutes is None:
        # The day of the close: a close delivered late is not given the next day's shift.
        day = event.occurred_at or datetime.fromtimestamp(now, UTC)
        return Plan.until(daily.on_day_of(day), now)
    grace = (
        settings.expiry_grace_minutes
        if event.expire_after_minutes is None
        else event.expire_after_minutes
    )
    if grace == 0:
        return Plan(EXPIRE_NOW_MINUTES, Outcome.UNSET, Outcome.ALREADY_DONE, None)
    return Plan(grace, Outcome.SCHEDULED, Outcome.ALREADY_DONE, grace)


class MaskingExpirer:
    """Expires (or extends) the masking a ticket event names: once, retried, or not at all with
    a reason."""

    def __init__(
        self,
        settings: Settings,
        secrets: SecretReader,
        deepcall: UnsetCaller,
        *,
        mapping: MaskingMap | None = None,
        idempotency: IdempotencyGuard | None = None,
        retry: RetryPolicy | None = None,
        budget: TimeBudget | None = None,
        states: TicketStates | None = None,
    ) -> None:
        self._settings = settings
        self._secrets = secrets
        self._deepcall = deepcall
        self._mapping = mapping
        self.idempotency = idempotency
        self._retry = retry or RetryPolicy()
        self._budget = budget or TimeBudget()
        self._states = states

    def credentials(self, *, refresh: bool = False) -> DeepCallCredentials:
        """The DeepCall credentials, from the (cached) secret."""
        variable = self._settings.secret_variable
        document = self._secrets.get_json(
            self._settings.deepcall_secret_id, variable=variable, refresh=refresh
        )
        return parse_credentials(document, variable)

    def _keyed(self, event: CloseEvent) -> bool:
        """Whether handling ``event`` writes or looks up records keyed by hashes (idempotency,
        ticket state). A dry run writes nothing: only a reopen's proof reads the ticket state."""
        if self._settings.dry_run:
            reopen = event.action is Action.REOPEN and event.previously_closed is not True
            return reopen and self._states is not None
        return self.idempotency is not None or self._states is not None

    def hash_keys(self) -> HashKeys:
        """The keys of every stored hash, from the (cached) secret ``HASH_KEY_SECRET_ID`` names.
        Raises :class:`ConfigurationError` naming the variable when it is unset or the secret
        holds no usable key."""
        secret_id = self._settings.hash_key_secret_id
        if not secret_id:
            raise ConfigurationError(
                f"{HASH_KEY_VARIABLE} is not set: the idempotency and ticket state tables "
                "store only keyed hashes"
            )
        return parse_hash_keys(self._secrets.get_json(secret_id, variable=HASH_KEY_VARIABLE))

    def content_digest(self, text: str) -> str | None:
        """A keyed hash of ``text`` (which may hold numbers) when a hash key is configured and
        readable, else None: never a plain hash."""
        if not self._settings.hash_key_secret_id:
            return None
        try:
            return self.hash_keys().digest(text)
        except MaskingUnsetError:
            return None

    def expire(self, event: CloseEvent, deadline: Deadline | None = None) -> UnsetResult:
        """Act on a close (expire now, or after the grace period) or a proven reopen (extend),
        unless this event was already handled or a newer one was applied to the ticket.

        Raises a :class:`MaskingUnsetError` subclass when it could not be done; nothing is recorded
        then, so a later delivery of the same event tries again.
        """
        deadline = deadline or Deadline()
        if (event.account or DEFAULT_ACCOUNT) != self._settings.account:
            # Routed by AccountExpirers: never sent with another account's credentials.
            raise UnknownAccount("the event is for another DeepCall account")
        self._refuse_future(event)
        wanted = plan(event, self._settings)  # refuses an expire_at that cannot be used
        if wanted is None:
            return self._ignored(event, _reopens_off(event))
        payload_target = resolve_numbers(event, self._settings) if event.has_numbers else None
        if payload_target is None and not (self._mapping and event.ticket_id):
            raise UnusableTarget("the event names no masking: give mask, or m1 and/or m2")
        keys: HashKeys | None = None
        if self._keyed(event):
            ensure_time(deadline, self._budget.aws_step, "reading the hash key")
            keys = self.hash_keys()
        # Newest first: written under the first, found under any (a rotated hash key).
        state_keys: tuple[str, ...] = ()
        if self._states is not None and keys is not None:
            state_keys = ticket_keys(event.scope, event.ticket_id, payload_target, keys)
        event_keys = idempotency_keys(event, payload_target, keys) if keys is not None else ()
        key = event_keys[0] if event_keys else ""  # unused: nothing is recorded
        book = None
        if state_keys and keys is not None and not self._settings.dry_run:
            book = _Book(state_keys[0], keys, event.event_id or key)
        # An ordered reopen's proof is read in the same conditional write as its claim (_apply):
        # read apart, a close still in flight could be read, and the newer reopen lost.
        if (
            event.action is Action.REOPEN
            and not self._ordered(event, state_keys)
            and not self._proven_closed(event, event_keys, state_keys, deadline)
        ):
            return self._ignored(event, _UNPROVEN_REOPEN)

        def action() -> dict[str, Any]:
            return self._apply(
                event, payload_target, wanted, event_keys, state_keys, deadline, book
            ).body()

        if not self._settings.dry_run:
            # Nothing is written unless the event can be seen through, or handed on, in time.
            ensure_time(deadline, self._budget.event_start, "this event")
        try:
            if self._settings.dry_run or self.idempotency is None:
                body = action()
            else:
                body = self.idempotency.once(key, action, previous=event_keys[1:])
        except _Unproven:
            # Raised, not returned: nothing is recorded, so a later delivery may be proven.
            return self._ignored(event, _UNPROVEN_REOPEN)
        result = UnsetResult.model_validate(body)
        if result.status is Outcome.DUPLICATE:
            count("Duplicates")
            logger.info("duplicate event: nothing called", extra=self._ids(event))
        return result

    def _refuse_future(self, event: CloseEvent) -> None:
        refuse_future(event, self._settings)

    def _ignored(self, event: CloseEvent, reason: str) -> UnsetResult:
        count("ReopensIgnored")
        logger.info("reopen ignored", extra={**self._ids(event), "reason": reason})
        ids = {"event_id": event.event_id, "ticket_id": event.ticket_id}
        return UnsetResult(status=Outcome.IGNORED, reason=reason, **ids)

    def _ordered(self, event: CloseEvent, state_keys: tuple[str, ...]) -> bool:
        """Whether ``event`` is claimed in the ticket state table before its call: a table, an
        ``occurred_at`` to order by, and not a dry run."""
        return (
            self._states is not None
            and bool(state_keys)
            and event.occurred_at is not None
            and not self._settings.dry_run
        )

    def _proven_closed(
        self,
        event: CloseEvent,
        event_keys: tuple[str, ...],
        state_keys: tuple[str, ...],
        deadline: Deadline,
    ) -> bool:
        """Whether the ticket is shown to have been closed: by the payload, or by a close the
        ticket state table records as applied. Mere status churn must never extend a masking.
        A reopen the table records as this very event was proven when it was claimed: a retry
        (after a failed call, or from the queue) is let through to the same outcome. Only for
        reopens that are not ordered (no ``occurred_at``, a dry run): an ordered one is proven
        by its claim."""
        if event.previously_closed is True:
            return True
        if self._states is None or not state_keys:
            return False
        for state_key in state_keys:
            ensure_time(deadline, self._budget.aws_step, "reading the ticket state")
            recorded = self._states.read(state_key)
            if recorded is not None:
                return recorded.closed or recorded.event_key in event_keys
        return False

    def _apply(
        self,
        event: CloseEvent,
        payload_target: UnsetTarget | None,
        wanted: Plan,
        event_keys: tuple[str, ...],
        state_keys: tuple[str, ...],
        deadline: Deadline,
        book: _Book | None = None,
    ) -> UnsetResult:
        """Claim the ticket's state (when kept, and the event can be ordered), then call.

        The claim is written before the call, so concurrent events for one ticket are decided
        by the conditional write; it is settled after it (applied or not). A failed call leaves
        the claim in place with its lease ended: a retry of the same event is let through, an
        older one stays stale. A reopen its payload does not prove is proven by the same write
        (an older close, applied); while an older event is in flight it waits, as any event.
        Raises :class:`_Unproven` when nothing shows the ticket was closed before.

        The ledger is read in the claim and recorded in the settling write; unordered, it is
        read before the call and recorded in one write after it.
        """
        if not self._ordered(event, state_keys):
            # Without occurred_at an event cannot be ordered: applied unchecked, not claimed.
            result = self._expire_now(event, payload_target, wanted, deadline, book)
            self._record(book)
            return result
        assert self._states is not None
        assert event.occurred_at is not None
        now = time.time()
        state_key, key = state_keys[0], event_keys[0]
        claim = TicketState(
            occurred_at_ms=epoch_ms(event.occurred_at),
            action=event.action,
            event_key=key,
            lease_until=now + CLAIM_LEASE_SECONDS,
        )
        needs_close = event.action is Action.REOPEN and event.previously_closed is not True
        recorded, closed_elsewhere = self._earlier_state(
            state_keys[1:], claim, event_keys, now, deadline
        )
        written = False
        if recorded is None:
            ensure_time(deadline, self._budget.aws_step, "claiming the ticket state")
            answer = self._states.claim(
                state_key,
                claim,
                now=now,
                same_event=event_keys[1:],
                needs_close=needs_close,
                closed_elsewhere=closed_elsewhere,
            )
            written, recorded = answer.written, answer.recorded
            if book is not None:
                book.prior = answer.ledger
        if not written:
            # The same close signed again (another event id, the same occurred_at) is no stale
            # event: the ledger shows it confirmed.
            if (
                book is not None
                and payload_target is not None
                and recorded is not None
                and recorded.occurred_at_ms == claim.occurred_at_ms
            ):
                again = self._repeated(event, payload_target, recorded.ledger, book)
                if again is not None:
                    return again
            return self._refused(event, claim, recorded, needs_close=needs_close, now=now)
        applied = False
        try:
            result = self._expire_now(event, payload_target, wanted, deadline, book)
            applied = True
            return result
        finally:
            try:
                pending = book.pending if book is not None else None
                self._states.settle(
                    state_key, key, applied=applied, ledger=pending, now=time.time()
                )
            except MaskingUnsetError as exc:
                # The lease then runs out by itself; the outcome stands.
                logger.warning("ticket state not settled", extra={"code": exc.code})

    def _refused(
        self,
        event: CloseEvent,
        claim: TicketState,
        recorded: TicketState | None,
        *,
        needs_close: bool,
        now: float,
    ) -> UnsetResult:
        """Why ``claim`` was not written: ``stale`` behind a newer event; :class:`_Unproven`
        for a reopen that nothing shows was closed before; :class:`InFlight` while an older
        event is being applied (or was settled just after the write was refused)."""
        if recorded is None:
            raise _Unproven()
        if recorded.occurred_at_ms >= claim.occurred_at_ms:
            count("StaleEvents")
            logger.info(
                "stale event: a newer one was applied to the ticket",
                extra={**self._ids(event), "newer_action": recorded.action.value},
            )
            return UnsetResult(
                status=Outcome.STALE,
                event_id=event.event_id,
                ticket_id=event.ticket_id,
                reason=f"a newer {recorded.action.value} event was applied to the ticket",
            )
        settled = recorded.applied or recorded.lease_until < now
        if needs_close and settled and not recorded.closed:
            raise _Unproven()
        raise InFlight("an older event for this ticket is still being applied")

    def _earlier_state(
        self,
        state_keys: tuple[str, ...],
        claim: TicketState,
        event_keys: tuple[str, ...],
        now: float,
        deadline: Deadline,
    ) -> tuple[TicketState | None, bool]:
        """A state recorded under a previous hash key that wins over ``claim`` by the table's
        own rule (see :meth:`TicketStates.claim`), or None; and whether the first state found
        there proves a reopen (an applied close, or this very event)."""
        assert self._states is not None
        proof: bool | None = None
        for state_key in state_keys:
            ensure_time(deadline, self._budget.aws_step, "reading the ticket state")
            recorded = self._states.read(state_key)
            if recorded is None:
                continue
            same = (
                recorded.occurred_at_ms == claim.occurred_at_ms and recorded.event_key in event_keys
            )
            superseded = recorded.occurred_at_ms < claim.occurred_at_ms and (
                recorded.applied or recorded.lease_until < now
            )
            if proof is None:
                proof = same or recorded.closed
            if not (same or superseded):
                return recorded, False
        return None, bool(proof)

    def _expire_now(
        self,
        event: CloseEvent,
        payload_target: UnsetTarget | None,
        wanted: Plan,
        deadline: Deadline,
        book: _Book | None = None,
    ) -> UnsetResult:
        target, from_mapping = payload_target, False
        if target is None:
            ensure_time(deadline, self._budget.aws_step, "the ticket mapping lookup")
            target, from_mapping = self._mapped_target(event), True
        shown = redacted_target(target)
        trail.note_target(target)
        log = {**self._ids(event), "target": shown, "action": event.action.value}
        if self._settings.dry_run:
            count("DryRuns")
            logger.info("dry run: unset not sent", extra=log)
            return self._result(Outcome.DRY_RUN, event, shown)
        if book is not None:
            if book.prior is None:  # not read in a claim
                book.prior = self._read_ledger(book.state_key, deadline)
            again = self._repeated(event, target, book.prior, book)
            if again is not None:
                return again
        # Read (or find cached) before the first attempt, whose budget holds DeepCall only.
        ensure_time(deadline, self._budget.aws_step, "reading the DeepCall secret")
        self.credentials()
        minutes = wanted.minutes
        reason: str | None = None
        expires_at: str | None = None

        def attempt() -> Plan:
            sent = wanted.at(time.time())  # an expiry at a moment: the minutes left now
            self._call(target, sent.duration, deadline)
            return sent

        try:
            sent = self._retry.run(attempt, deadline)
            status, minutes = sent.done, sent.minutes
            if event.action is Action.CLOSE and event.occurred_at is not None:
                lag = (time.time() - event.occurred_at.timestamp()) * 1000
                milliseconds("ExpiryLag", max(lag, 0.0))
            logger.info("deepcall confirmed", extra={**log, "status": status.value})
            confirmed_at = time.time()
            self._confirmed(book, minutes, confirmed_at)
            if minutes is not None:
                # As the ledger records it: from DeepCall's confirmation, the minutes it was sent.
                expires_at = iso_ms(int(confirmed_at * 1000) + minutes * 60_000)
        except UpstreamError as exc:
            codes = self._settings.deepcall_already_done_codes
            if not disposition(exc, already_done_codes=codes).done:
                # DeepCall's "nothing active" alone is no proof; the ledger's record that this
                # deployment expired this ticket's target is.
                reason = self._proof(exc, book)
                if reason is None:
                    raise
            status, minutes = wanted.nothing_active, None
            extra = {**log, "status": status.value, "proof": reason}
            logger.info("nothing active to act on", extra=extra)
        count(_OUTCOME_METRICS[status])
        count_by(_OUTCOME_METRICS[status], "account", self._settings.account)
        trail.step("outcome", status=status.value, target=trail.redacted(target), minutes=minutes)
        if from_mapping and minutes is None:
            # Gone for good: its numbers should be too. A masking that still lives keeps its
            # entry, so a reopen can find it.
            self._forget(event)
        result = self._result(status, event, shown)
        update = {"expires_in_minutes": minutes, "expires_at": expires_at, "reason": reason}
        return result.model_copy(update=update)

    def _read_ledger(self, state_key: str, deadline: Deadline) -> Mapping[str, LedgerEntry]:
        """The ledger on the ticket's item; empty when it cannot be read (the event is then
        handled as without a ledger: sent to DeepCall, no proof)."""
        assert self._states is not None
        ensure_time(deadline, self._budget.aws_step, "reading the ledger")
        try:
            return self._states.ledger(state_key)
        except MaskingUnsetError as exc:
            logger.warning("ledger not read", extra={"code": exc.code})
            return {}

    def _repeated(
        self,
        event: CloseEvent,
        target: UnsetTarget,
        ledger: Mapping[str, LedgerEntry],
        book: _Book,
    ) -> UnsetResult | None:
        """A ``duplicate`` answer when the ledger's last confirmed action for the ticket's
        target was this same event delivered before (another event id, the same ticket, target
        and occurred_at), else None: any other event is sent to DeepCall.

        Without occurred_at the same body names no moment: it may be a later close of a masking
        made since (a pooled number reused). It is spared the call only while the expiry it
        repeats is still ahead (within the idempotency window); an expired one is sent, and
        DeepCall's "nothing active" then ends it as already_expired, with the ledger's proof."""
        book.names = ledger_names(target, book.keys)
        book.repeats = repeat_keys(event, target, book.keys)
        now = time.time()
        entry = ledger_entry(ledger, book.names, now)
        if entry is None or entry.repeat not in book.repeats:
            return None
        now_ms = int(now * 1000)
        window_ms = self._settings.idempotency_window_seconds * 1000
        if event.occurred_at is None and (
            entry.expired(now_ms) or entry.at_ms < now_ms - window_ms
        ):
            return None
        if entry.action is LedgerAction.EXPIRED:
            first, reason = Outcome.UNSET, entry.proof()
        else:
            first = Outcome.EXTENDED if event.action is Action.REOPEN else Outcome.SCHEDULED
            reason = f"expiry set by event {entry.event} for {iso_ms(entry.until_ms)}"
        count("Duplicates")
        logger.info("repeated event: nothing called", extra={**self._ids(event), "by": entry.event})
        return UnsetResult(
            status=Outcome.DUPLICATE,
            event_id=event.event_id,
            ticket_id=event.ticket_id,
            target=redacted_target(target),
            reason=reason,
            first_status=first,
        )

    def _confirmed(self, book: _Book | None, minutes: int | None, now: float | None = None) -> None:
        """Note what DeepCall confirmed (at ``now``), to record in the ledger."""
        if book is None or not book.names:
            return
        now = time.time() if now is None else now
        at_ms = int(now * 1000)
        action = LedgerAction.EXPIRED if minutes is None else LedgerAction.EXPIRY_SET
        entry = LedgerEntry(
            action=action,
            at_ms=at_ms,
            until_ms=at_ms + (minutes or 0) * 60_000,
            event=book.event,
            repeat=book.repeats[0],
            kept_until=int(now) + self._settings.ledger_retention_days * 86_400,
            account=self._settings.account,
        )
        book.pending = (book.names[0], entry)

    def _proof(self, exc: UpstreamError, book: _Book | None) -> str | None:
        """Why DeepCall's "nothing active" means done: the ledger shows this deployment expired
        this ticket's target with no extension since, or set an expiry that has passed."""
        codes = self._settings.deepcall_already_done_codes
        if book is None or not says_masking_gone(exc, already_done_codes=codes):
            return None
        now = time.time()
        entry = ledger_entry(book.prior or {}, book.names, now)
        if entry is None or not entry.expired(int(now * 1000)):
            return None
        return entry.proof()

    def _record(self, book: _Book | None) -> None:
        """Record what DeepCall confirmed for an event not claimed: one write."""
        if book is None or book.pending is None:
            return
        assert self._states is not None
        try:
            self._states.record(book.state_key, *book.pending, now=time.time())
        except MaskingUnsetError as exc:
            # The outcome stands; a later "nothing active" only lacks its proof.
            logger.warning("ledger not recorded", extra={"code": exc.code})

    def _mapped_target(self, event: CloseEvent) -> UnsetTarget:
        assert self._mapping is not None
        assert event.ticket_id is not None
        numbers = self._mapping.lookup(event.scope, event.ticket_id)
        if not numbers:
            key = shown_mapping_key(event.scope, event.ticket_id)
            raise UnresolvedTarget(
                "no number in the event and no masking recorded under mapping key "
                f"'{key}' (MASKING_MAP_TABLE)"
            )
        return target_from_numbers(numbers, self._settings)

    def _forget(self, event: CloseEvent) -> None:
        assert self._mapping is not None
        assert event.ticket_id is not None
        try:
            self._mapping.forget(event.scope, event.ticket_id)
        except MaskingUnsetError as exc:
            # The masking is expired; a stale entry only waits for its TTL.
            logger.warning("mapping entry not removed", extra={"code": exc.code})

    def _call(self, target: UnsetTarget, duration: int, deadline: Deadline) -> DeepCallReply:
        try:
            return self._measured_unset(self.credentials(), target, duration, deadline)
        except UpstreamError as exc:
            if not disposition(exc).refresh:
                raise
            budget = self._budget
            if deadline.remaining() < budget.aws_call + budget.deepcall_attempt + budget.hand_on:
                raise  # no time to re-read and call again: handed on, retried later
            logger.warning("deepcall refused the credential; re-reading the secret")
        try:
            return self._measured_unset(self.credentials(refresh=True), target, duration, deadline)
        except UpstreamError as exc:
            if disposition(exc).refresh:
                raise ConfigurationError(
                    f"DeepCall refuses the credential in {self._settings.secret_variable} "
                    f"(code {exc.deepcall_code}); rotate the secret"
                ) from None
            raise

    def _measured_unset(
        self,
        credentials: DeepCallCredentials,
        target: UnsetTarget,
        duration: int,
        deadline: Deadline,
    ) -> DeepCallReply:
        started = time.perf_counter()
        # However slowly DeepCall answers, the attempt leaves the time to hand the event on.
        time_limit = deadline.remaining() - self._budget.hand_on
        with subsegment("## deepcall.unset", fields=",".join(target.fields())) as segment:
            try:
                reply = self._deepcall.unset(credentials, target, duration, time_limit=time_limit)
            except UpstreamError as exc:
                code = str(exc.deepcall_code) if exc.deepcall_code is not None else exc.code
                count_by("UpstreamErrors", "code", code)
                if segment is not None:
                    segment.put_annotation(key="error_code", value=code)
                latency = (time.perf_counter() - started) * 1000
                trail.step("deepcall", code=code, http_status=exc.http_status, latency_ms=latency)
                raise
            finally:
                milliseconds("DeepCallLatency", (time.perf_counter() - started) * 1000)
        latency = (time.perf_counter() - started) * 1000
        trail.step("deepcall", code=reply.code or "ok", http_status=200, latency_ms=latency)
        return reply

    @staticmethod
    def _ids(event: CloseEvent) -> dict[str, Any]:
        return {
            "event_id": event.event_id,
            "ticket_id": event.ticket_id,
            "source": event.source,
            "account": event.account,
        }

    @staticmethod
    def _result(status: Outcome, event: CloseEvent, shown: dict[str, str]) -> UnsetResult:
        return UnsetResult(
            status=status, event_id=event.event_id, ticket_id=event.ticket_id, target=shown
        )
