"""The canonical close event and what the pipeline makes of it."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
)

from masking_unset.models.accounts import scoped_source
from masking_unset.models.errors import InvalidEvent, MalformedBody
from masking_unset.models.json_input import load_json


def _id_text(value: object) -> object:
    # Ids are text, but many producers send ticket 42 as a JSON number.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


Identifier = Annotated[StrictStr, BeforeValidator(_id_text), Field(min_length=1, max_length=256)]
NumberText = Annotated[StrictStr, Field(min_length=1, max_length=64)]
# A grace period or extension in minutes: at most 30 days.
Minutes = Annotated[StrictInt, Field(ge=0, le=43_200)]


class Action(StrEnum):
    """What happened to the ticket."""

    CLOSE = "close"  # expire the masking (now, or after the grace period)
    REOPEN = "reopen"  # give the masking its line back for a while


class CloseEvent(BaseModel):
    """A ticket has closed (or reopened): expire (or extend) the masking it names.

    The body of an SQS message and of a ``generic`` webhook. Unknown fields are ignored; at least
    one of ``mask``, ``m1``, ``m2`` is needed to act (checked when the target is resolved).
    ``action`` is ``close`` unless the event says ``reopen``; ``expire_after_minutes`` overrides
    the grace period of this close, ``expire_at`` (ISO 8601 with an offset, checked when the
    close is acted on: :mod:`masking_unset.models.expire_at`) sets its expiry to a moment;
    ``previously_closed`` is the payload's own word that the ticket was closed before a reopen
    (None when it does not say).
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_id: Identifier | None = None
    ticket_id: Identifier | None = None
    mask: NumberText | None = None
    m1: NumberText | None = None
    m2: NumberText | None = None
    occurred_at: AwareDatetime | None = None
    action: Action = Action.CLOSE
    expire_after_minutes: Minutes | None = None
    # Kept as sent: a time without an offset or beyond a year is refused with its own code (422)
    # when the close is acted on, not as a wrong type.
    expire_at: StrictStr | None = None
    previously_closed: bool | None = None
    # Where the event came from: the webhook source (from its URL, never the body), or on the
    # queue whatever the producer names (it keys the ticket mapping); "queue" by default.
    source: Annotated[StrictStr, Field(max_length=64)] = "queue"
    # The DeepCall account (docs/deploying.md): a webhook's is its URL, never the body; on the
    # queue the producer names a configured one. None: the account named "default".
    account: Annotated[StrictStr, Field(max_length=64)] | None = None

    def __repr__(self) -> str:
        # Never let a raw number reach a log or a traceback through repr().
        return (
            f"CloseEvent(event_id={self.event_id!r}, ticket_id={self.ticket_id!r}, "
            f"source={self.source!r}, account={self.account!r})"
        )

    __str__ = __repr__

    @property
    def scope(self) -> str:
        """What the event's stored keys (idempotency, ticket state, ledger, mapping, trail) are
        scoped by: the source, and a named account's name, so that ticket 42 of one brand's CRM
        is never ticket 42 of another's. The default account keeps the keys it always had."""
        return scoped_source(self.source, self.account)

    @property
    def has_numbers(self) -> bool:
        """Whether the payload itself names the masking."""
        return any((self.mask, self.m1, self.m2))

    @classmethod
    def from_json(cls, raw: bytes | str, *, source: str) -> CloseEvent:
        """Parse a JSON body. Raises :class:`MalformedBody` or :class:`InvalidEvent` (naming the
        fields, never their values)."""
        return cls.from_document(load_json(raw), source=source)

    @classmethod
    def from_document(cls, document: object, *, source: str | None) -> CloseEvent:
        """Validate an already decoded JSON document. ``source`` overrides the body's own
        ``source`` (a webhook's source is its URL, never what the body claims)."""
        if not isinstance(document, dict):
            raise MalformedBody("body must be a JSON object")
        try:
            event = cls.model_validate(document)
        except ValidationError as exc:
            raise InvalidEvent(describe_fields(exc)) from None
        return event if source is None else event.model_copy(update={"source": source})


def describe_fields(exc: ValidationError) -> str:
    """A caller-safe summary of a validation error: field names and rules, never input values."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False, include_context=False):
        where = ".".join(str(part) for part in error["loc"]) or "body"
        problems.append(f"{where}: {error['msg']}")
    return "invalid event: " + "; ".join(problems[:10])


class Ignored(BaseModel):
    """A delivery that is not a close (another status, another property): acknowledged, no call."""

    # Built on first use: a close, the usual delivery, never needs it.
    model_config = ConfigDict(frozen=True, defer_build=True)

    reason: str
    event_id: str | None = None
    ticket_id: str | None = None


class UnreadableClose(BaseModel):
    """A close that could not be read (a garbage ``occurredAt``, an id that is a list): it fails
    with ``invalid_event``, never passes as ignored, so the sender and the metrics see it."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True, defer_build=True)

    error: InvalidEvent
    event_id: str | None = None
    ticket_id: str | None = None


# What a webhook source makes of each event of a delivery.
SourceItem = CloseEvent | Ignored | UnreadableClose


class Outcome(StrEnum):
    """How an event ended."""

    UNSET = "unset"  # DeepCall expired the masking
    SCHEDULED = "scheduled"  # a close with a grace period: DeepCall set the masking's expiry
    EXTENDED = "extended"  # a reopen: DeepCall gave the masking a new expiry
    ALREADY_DONE = "already_expired"  # DeepCall had nothing active to expire
    TOO_LATE = "too_late"  # a reopen whose masking is already gone: the ticket needs a new one
    STALE = "stale"  # older than the newest event applied to the ticket; nothing called
    DUPLICATE = "duplicate"  # seen before; nothing called
    QUEUED = "queued"  # handed to the queue for a later attempt
    IGNORED = "ignored"  # not a close event
    DRY_RUN = "dry_run"  # would have called DeepCall


class UnsetResult(BaseModel):
    """What happened to one close event; safe to return to a caller and to log."""

    model_config = ConfigDict(frozen=True)

    status: Outcome
    event_id: str | None = None
    ticket_id: str | None = None
    target: dict[str, str] = Field(default_factory=dict)  # field -> redacted number
    reason: str | None = None
    expires_in_minutes: int | None = None  # scheduled or extended: the masking's new expiry
    expires_at: str | None = None  # the same, ISO 8601 in UTC: DeepCall's confirmation + minutes
    first_status: Outcome | None = None  # on a duplicate: how the first delivery ended

    def body(self) -> dict[str, object]:
        """The JSON body answered to a webhook caller."""
        return self.model_dump(mode="json", exclude_none=True, exclude_defaults=False)
