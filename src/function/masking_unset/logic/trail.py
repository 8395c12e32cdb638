"""The trail: what happened to each event, step by step, for ``masking-unset trail``.

The steps of an event are collected in memory while an invocation handles it and written once
at its end (:class:`TrailKeeper`): at most one write per event per invocation. Whoever takes part
(the webhook flow, the batch, the expirer) adds steps with :func:`step` to the event being
handled in this thread; outside one, a step is dropped. Numbers appear only as their last four
digits; the masking number is stored only as a keyed hash under the deployment's hash key, so
``trail --mask`` can find it. A trail that cannot be written never fails or delays an event
beyond the store's short timeout: it is logged and counted (``TrailUnavailable``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime

from masking_unset.config import Settings
from masking_unset.logic.idempotency import idempotency_keys
from masking_unset.logic.phone import parse_number
from masking_unset.logic.ports import EventTrail
from masking_unset.models.accounts import DEFAULT_ACCOUNT
from masking_unset.models.budget import Deadline
from masking_unset.models.deepcall import UnsetTarget
from masking_unset.models.errors import MaskingUnsetError
from masking_unset.models.events import CloseEvent
from masking_unset.models.hashing import HashKeys
from masking_unset.models.redact import displayable, redact_number, scrub
from masking_unset.observability import count, logger

TRIGGER_WEBHOOK = "webhook"
TRIGGER_QUEUE = "queue"
# What the keyed hash of a masking number is taken of: a label, then the number in E.164.
MASK_HASH_LABEL = "trail-mask"
# The item attributes the table's indexes are on (template.yaml, TrailTable).
TICKET_ATTRIBUTE = "ticket"
MASK_ATTRIBUTE = "mask_hash"
MAX_TEXT = 300  # a reason or an id longer than this is cut: the trail is for reading
# A write is tried only while this much of the invocation is left (the store's own timeouts are
# shorter): the event's answer always comes first.
MIN_SECONDS_TO_WRITE = 1.5

StepValue = str | int


@dataclass
class _Collected:
    """The steps of one event while an invocation handles it."""

    function: str
    steps: list[dict[str, StepValue]] = field(default_factory=list)
    event: CloseEvent | None = None
    # Held in memory only, for the keyed hash of its masking number.
    target: UnsetTarget | None = None


_current: ContextVar[_Collected | None] = ContextVar("masking_unset_trail", default=None)


def now_text(clock: Callable[[], float] = time.time) -> str:
    """The time of a step: UTC, to the millisecond, so that steps sort as they happened."""
    moment = datetime.fromtimestamp(clock(), UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _value(name: str, value: object) -> StepValue:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return round(value)
    if name in _FREE_TEXT:
        # Words from outside (DeepCall's, an error's) may hold a number: cut to four digits.
        return scrub(str(value), limit=MAX_TEXT)
    # An id is kept as the sender wrote it (it is what the trail is looked up by), shown safely.
    return displayable(str(value))[:MAX_TEXT]


_FREE_TEXT = frozenset({"reason", "message"})


def step(kind: str, **fields: object) -> None:
    """Add a step to the trail of the event this thread is handling; None fields are left out.
    Outside an event (no trail kept, a command's own call) it does nothing."""
    collected = _current.get()
    if collected is None:
        return
    entry: dict[str, StepValue] = {"at": now_text(), "fn": collected.function, "step": kind}
    entry.update({name: _value(name, value) for name, value in fields.items() if value is not None})
    collected.steps.append(entry)


def note_target(target: UnsetTarget) -> None:
    """The masking the event acts on: shown redacted in its steps, its masking number indexed
    by a keyed hash when the trail is written."""
    collected = _current.get()
    if collected is not None:
        collected.target = target


def redacted(target: UnsetTarget) -> str:
    """``mask=***1234``: the target as a trail shows it."""
    return " ".join(f"{name}={redact_number(value)}" for name, value in target.fields().items())


def mask_digests(e164: str, keys: HashKeys) -> tuple[str, ...]:
    """The stored stand-ins of a masking number (E.164) under every hash key, the current first:
    what ``trail --mask`` looks up."""
    return keys.digests(MASK_HASH_LABEL, e164)


def e164(value: str, region: str) -> str | None:
    """``value`` in E.164 (read with ``region`` when it has no country code), or None."""
    try:
        return parse_number(value, field="mask", region=region).e164
    except MaskingUnsetError:
        return None


def trail_key(event: CloseEvent, keys: HashKeys | None, target: UnsetTarget | None) -> str | None:
    """The key of an event's trail: its idempotency key (the sender's event id, scoped by source;
    else the keyed hash of ticket, target and ``occurred_at``); None when it has no id and no
    hash key is at hand."""
    if event.event_id:
        return idempotency_keys(event, None)[0]
    if keys is None:
        return None
    return idempotency_keys(event, target, keys)[0]


class TrailKeeper:
    """Collects each event's steps during an invocation and writes them once, at its end."""

    def __init__(
        self,
        store: EventTrail | None,
        *,
        settings: Settings,
        hash_keys: Callable[[], HashKeys],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._settings = settings
        self._hash_keys = hash_keys
        self._retention_seconds = settings.trail_retention_days * 86_400
        self._clock = clock

    @property
    def enabled(self) -> bool:
        """Whether a trail is kept (``TRAIL_TABLE`` is set)."""
        return self._store is not None

    @contextmanager
    def event(self, function: str, deadline: Deadline | None = None) -> Iterator[None]:
        """Around the handling of one event by ``function`` (webhook, queue) in this thread: the
        steps added meanwhile are written once when it ends, if :meth:`received` named the
        event."""
        if self._store is None:
            yield
            return
        collected = _Collected(function=function)
        token = _current.set(collected)
        try:
            yield
        finally:
            _current.reset(token)
            self._write(collected, deadline)

    def received(self, event: CloseEvent, *, trigger: str, **fields: object) -> None:
        """The first step of an invocation's handling of ``event``: which event, how it came."""
        collected = _current.get()
        if collected is None:
            return
        collected.event = event
        step(
            "received",
            trigger=trigger,
            source=event.source,
            account=event.account or DEFAULT_ACCOUNT,
            ticket_id=event.ticket_id,
            event_id=event.event_id,
            action=event.action.value,
            **fields,
        )

    def _write(self, collected: _Collected, deadline: Deadline | None) -> None:
        event = collected.event
        if event is None or not collected.steps:
            return  # never named (an unreadable record): nothing to find it by
        assert self._store is not None
        if deadline is not None and deadline.remaining() < MIN_SECONDS_TO_WRITE:
            self._unavailable("no time left to write the trail")
            return
        try:
            keys = self._keys()
            target = collected.target or self._payload_target(event)
            key = trail_key(event, keys, target)
            if key is None:
                logger.info("no trail: the event has no id and no hash key is at hand")
                return
            index = {"source": event.source, "account": event.account or DEFAULT_ACCOUNT}
            if event.event_id:
                index["event_id"] = event.event_id[:MAX_TEXT]
            if event.ticket_id:
                index[TICKET_ATTRIBUTE] = f"{event.scope}:{event.ticket_id}"[:1024]
            number = self._e164(target.mask) if target is not None and target.mask else None
            if number is not None and keys is not None:
                index[MASK_ATTRIBUTE] = mask_digests(number, keys)[0]
            expires_at = int(self._clock()) + self._retention_seconds
            self._store.append(key, collected.steps, index=index, expires_at=expires_at)
        except Exception as exc:  # noqa: BLE001 - a trail never fails an event
            why = exc.message if isinstance(exc, MaskingUnsetError) else type(exc).__name__
            self._unavailable(f"trail not written: {why}")

    def _keys(self) -> HashKeys | None:
        """The deployment's hash keys, or None when they cannot be read (then an event without
        an id gets no trail, and no masking number is indexed)."""
        if not self._settings.hash_key_secret_id:
            return None
        try:
            return self._hash_keys()
        except MaskingUnsetError:
            return None

    def _payload_target(self, event: CloseEvent) -> UnsetTarget | None:
        """The target the event's own payload names, as its idempotency key is made of."""
        from masking_unset.logic.expiry import resolve_numbers  # expiry records steps here

        if not event.has_numbers:
            return None
        try:
            return resolve_numbers(event, self._settings)
        except MaskingUnsetError:
            return None

    def _e164(self, value: str) -> str | None:
        """A number as DeepCall is sent it, in E.164: what the masking number's hash is of."""
        return e164(value, self._settings.phone_default_region)

    @staticmethod
    def _unavailable(message: str) -> None:
        count("TrailUnavailable")
        logger.warning(message)
