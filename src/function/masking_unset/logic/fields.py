"""Where a webhook source finds each field of its payload: JMESPath expressions, with defaults per
source that an operator can override per source (``SOURCE_FIELDS_<SOURCE>``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from jmespath.exceptions import JMESPathError  # type: ignore[import-untyped]

from masking_unset.models.deepcall import NUMBER_FIELDS
from masking_unset.models.errors import InvalidEvent
from masking_unset.models.fields import ID_FIELDS, MAX_ID_LENGTH, compiled


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


def event_document(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical event's fields from values read out of a payload: ids and numbers as text,
    ``occurred_at`` as given (ISO-8601 text, or unix seconds or milliseconds)."""
    document: dict[str, Any] = {
        name: text
        for name in (*ID_FIELDS, *NUMBER_FIELDS)
        if (text := as_text(fields.get(name), name))
    }
    if fields.get("occurred_at") not in (None, ""):
        document["occurred_at"] = fields["occurred_at"]
    return document
