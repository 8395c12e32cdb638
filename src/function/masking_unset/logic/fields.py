"""Where a webhook source finds each field of its payload: JMESPath expressions, with defaults per
source that an operator can override per source (``SOURCE_FIELDS_<SOURCE>``)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from jmespath.exceptions import JMESPathError  # type: ignore[import-untyped]
from pydantic import TypeAdapter, ValidationError

from masking_unset.models.deepcall import NUMBER_FIELDS
from masking_unset.models.errors import InvalidEvent
from masking_unset.models.events import Action, CloseEvent, Ignored, Minutes, SourceItem
from masking_unset.models.fields import ID_FIELDS, MAX_ID_LENGTH, compiled
from masking_unset.models.redact import shown_value
from masking_unset.observability import count_by

_MINUTES = TypeAdapter(Minutes)
# Whole minutes as text; Salesforce sends a Number field as "60.0".
_WHOLE_TEXT = re.compile(r"[0-9]{1,9}(?:\.0*)?")
# At most this much of a value a sender wrote is shown back in a reason.


def read_fields(
    document: object, defaults: Mapping[str, str], overrides: Mapping[str, str | None]
) -> dict[str, Any]:
    """Evaluate each field's expression (an override wins over the default) on ``document``.

    Fields without an expression are absent. Raises :class:`InvalidEvent` when an expression
    cannot be applied to this payload (a function given the wrong type, for example).
    """
    expressions = {**defaults, **overrides}
    values: dict[str, Any] = {}
    for name, expression in expressions.items():
        if not expression:
            continue
        try:
            values[name] = compiled(expression).search(document)
        except JMESPathError:
            raise InvalidEvent(
                f"the expression for {name} does not apply to this payload"
            ) from None
    return values


def as_text(value: object, name: str) -> str | None:
    """A field as text: numbers CRMs send as JSON numbers become text, blanks become None.

    Raises :class:`InvalidEvent` naming the field (never its value) for lists, objects, decimals
    and booleans.
    """
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    kind = {bool: "a boolean", float: "a decimal number", list: "a list", dict: "an object"}
    raise InvalidEvent(
        f"{name} must be text or a whole number, not {kind.get(type(value), 'another type')}"
    )


def short_id(value: object, name: str) -> str | None:
    """An id as text, cut to the length the canonical event accepts (for ignored events)."""
    text = as_text(value, name)
    return text[:MAX_ID_LENGTH] if text else None


def safe_id(value: object, name: str) -> str | None:
    """:func:`short_id`, or None for a value that is no id at all (to label an event that is
    already being refused or ignored)."""
    try:
        return short_id(value, name)
    except InvalidEvent:
        return None


def is_true(value: object) -> bool:
    """Whether a flag is set: JSON ``true`` or the text ``true`` (Salesforce sends text)."""
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and value.strip().casefold() in {"true", "1", "yes"}


def status_in(status: str | None, statuses: Iterable[str]) -> bool:
    """Whether ``status`` is one of ``statuses``, ignoring case and surrounding blanks."""
    if status is None:
        return False
    wanted = status.strip().casefold()
    return any(wanted == candidate.strip().casefold() for candidate in statuses)


@dataclass(frozen=True, slots=True)
class KnownStatuses:
    """The statuses a source recognises: ``closed`` and ``open`` (built-in ones and its settings,
    compared ignoring case), and the settings that extend each, named in the reason an
    unrecognised status is ignored with. A status in neither is no close and no reopen."""

    closed: tuple[str, ...]
    open: tuple[str, ...]
    closed_setting: str
    open_setting: str
    noun: str = "status"

    def unrecognised(self, status: str) -> str:
        """Why ``status`` (in neither list) is ignored, naming the settings to add it to."""
        return (
            f"{self.noun} '{shown_value(status)}' is not a close: add it to "
            f"{self.closed_setting}, or to {self.open_setting} if it is open"
        )


def closes(
    fields: Mapping[str, Any], closed_statuses: Iterable[str], *, status_required: bool = False
) -> bool:
    """Whether the fields read from a payload say the ticket closed.

    A true ``closed`` flag or a status among ``closed_statuses`` is a close. With neither a status
    nor a flag, a body written by a CRM rule (trigger, automation, outbound message) counts as a
    close: the rule's own condition chose it. ``status_required`` turns that off for payloads
    that always carry a status.
    """
    flag = fields.get("closed")
    status = as_text(fields.get("status"), "status")
    if is_true(flag):
        return True
    if status is None:
        return flag is None and not status_required
    return status_in(status, closed_statuses)


def as_action(value: object, name: str = "action") -> Action | None:
    """An action as a rule writes it: ``close`` or ``reopen`` (any case, blanks around), None
    when absent or blank. Raises :class:`InvalidEvent` naming the field for anything else."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        wanted = value.strip().casefold()
        for action in Action:
            if wanted == action.value:
                return action
    raise InvalidEvent(f'{name} must be "close" or "reopen"')


def as_minutes(value: object, name: str = "expire_after_minutes") -> int | None:
    """Whole minutes, 0 or more (a JSON number or its text; ``60.0`` as Salesforce sends a
    Number field), None when absent or blank. Raises :class:`InvalidEvent` naming the field for
    fractions, negatives, booleans, other text and more than 30 days."""
    minutes: int | None = None
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        minutes = value
    elif isinstance(value, float) and value.is_integer():
        minutes = int(value)
    elif isinstance(value, str) and _WHOLE_TEXT.fullmatch(value.strip()):
        minutes = int(value.strip().partition(".")[0])
    if minutes is not None:
        try:
            return _MINUTES.validate_python(minutes)
        except ValidationError:
            pass
    raise InvalidEvent(f"{name} must be a whole number of minutes from 0 to 43200 (30 days)")


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """What a payload says happened to the ticket: ``action`` (None when it is neither a close
    nor a reopen, with the ``reason`` to answer), and for a reopen whether the payload itself
    shows the ticket was closed before (None when it does not say)."""

    action: Action | None
    previously_closed: bool | None = None
    reason: str | None = None
    unrecognised: bool = False  # a status the source knows neither as closed nor as open


def lifecycle(
    fields: Mapping[str, Any],
    closed_statuses: Iterable[str] | KnownStatuses,
    *,
    not_closed: str,
    status_required: bool = False,
) -> Lifecycle:
    """Decide close, reopen or neither from the fields read out of a payload.

    - An ``action`` the rule wrote wins: ``close`` closes; ``reopen`` reopens unless the payload
      shows it is none (the previous status is not closed, or the ticket is still closed).
    - With :class:`KnownStatuses`, a status that is neither closed nor open (and no ``closed``
      flag to decide) is neither, ``unrecognised``: a close the source was not told of, or an
      open status it was not told of, never a reopen. Given only closed statuses, every other
      status counts as open.
    - Otherwise a closed status (or flag, see :func:`closes`) closes, except when the previous
      status was closed too: a solved ticket being closed is no new close, and must not restart
      a grace period. A body with a closed previous status but no status is neither.
    - A status that is not closed reopens when the previous status was closed
      (``previously_closed`` True); with the previous status unknown it is a reopen that the
      ticket state table must prove (``previously_closed`` None); with an open previous status
      it is status churn on an open ticket, answered ``not_closed``.
    """
    known: KnownStatuses | None = None
    if isinstance(closed_statuses, KnownStatuses):
        known, closed_statuses = closed_statuses, closed_statuses.closed
    closed_statuses = tuple(closed_statuses)
    explicit = as_action(fields.get("action"))
    previous = as_text(fields.get("previous_status"), "previous_status")
    was_closed = None if previous is None else status_in(previous, closed_statuses)
    status = as_text(fields.get("status"), "status")
    flag = fields.get("closed")
    if explicit is Action.CLOSE:
        return Lifecycle(Action.CLOSE)
    if (
        known is not None
        and status is not None
        and flag is None
        and not status_in(status, closed_statuses)
        and not status_in(status, known.open)
    ):
        return Lifecycle(None, reason=known.unrecognised(status), unrecognised=True)
    if explicit is Action.REOPEN:
        if was_closed is False:
            return Lifecycle(None, reason="not a reopen: the previous status is not closed")
        if is_true(flag) or status_in(status, closed_statuses):
            return Lifecycle(None, reason="not a reopen: the ticket is still closed")
        return Lifecycle(Action.REOPEN, previously_closed=was_closed)
    if closes(fields, closed_statuses, status_required=status_required):
        if was_closed and status is None and flag is None:
            # Only a reopen rule sends the previous status; without the status it is no close.
            return Lifecycle(None, reason="previous_status is sent without the status")
        if was_closed:
            return Lifecycle(None, reason="ticket was already closed")
        return Lifecycle(Action.CLOSE)
    # Shown open: a status that is not closed, or a closed flag that is set and false.
    shown_open = status is not None or (flag is not None and not is_true(flag))
    if not shown_open or was_closed is False:
        return Lifecycle(None, reason=not_closed)
    return Lifecycle(Action.REOPEN, previously_closed=was_closed)


def note_unrecognised(change: Lifecycle, source: str) -> None:
    """Count (``UnrecognisedStatus`` by source) a status ``change`` found unrecognised: most
    often a close the settings do not list, and the masking stays active until they do."""
    if change.unrecognised:
        count_by("UnrecognisedStatus", "source", source)


def unproven_reopen(change: Lifecycle) -> bool:
    """Whether ``change`` is a reopen that only the ticket state table can prove (the payload
    does not say the ticket was closed). Most such events are status churn on an open ticket:
    one that cannot be read is ignored with its reason rather than failed."""
    return change.action is Action.REOPEN and change.previously_closed is None


def event_document(fields: Mapping[str, Any], change: Lifecycle | None = None) -> dict[str, Any]:
    """The canonical event's fields from values read out of a payload: ids and numbers as text,
    ``occurred_at`` as given (ISO-8601 text, or unix seconds or milliseconds), the grace period
    in whole minutes, ``expire_at`` as text (checked when the close is acted on), and the action
    (and ``previously_closed`` of a reopen) of ``change``."""
    document: dict[str, Any] = {
        name: text
        for name in (*ID_FIELDS, *NUMBER_FIELDS)
        if (text := as_text(fields.get(name), name))
    }
    if fields.get("occurred_at") not in (None, ""):
        document["occurred_at"] = fields["occurred_at"]
    minutes = as_minutes(fields.get("expire_after_minutes"))
    if minutes is not None:
        document["expire_after_minutes"] = minutes
    if (expire_at := as_text(fields.get("expire_at"), "expire_at")) is not None:
        document["expire_at"] = expire_at
    if change is not None and change.action is not None:
        document["action"] = change.action.value
        if change.previously_closed is not None:
            document["previously_closed"] = change.previously_closed
    return document


def ignored(reason: str, fields: Mapping[str, Any]) -> Ignored:
    """An ignored event, labelled with the ids read so far."""
    return Ignored(
        reason=reason,
        event_id=short_id(fields.get("event_id"), "event_id"),
        ticket_id=short_id(fields.get("ticket_id"), "ticket_id"),
    )


def lifecycle_item(
    fields: Mapping[str, Any], change: Lifecycle, *, source: str, not_closed: str
) -> SourceItem:
    """The event a status change means: the close or reopen of ``change``, or ignored with its
    reason. A reopen only the ticket state table could prove that cannot be read is ignored
    (:func:`unproven_reopen`); any other unreadable event raises :class:`InvalidEvent`."""
    if change.action is None:
        note_unrecognised(change, source)
        return ignored(change.reason or not_closed, fields)
    try:
        return CloseEvent.from_document(event_document(fields, change), source=source)
    except InvalidEvent as exc:
        if not unproven_reopen(change):
            raise
        return ignored(f"unreadable event: {exc.message}", fields)
