"""The ticket -> masking table's key: one format, shared by the function that looks it up, its
error messages and the ``mapping`` command that writes it (docs/mapping.md)."""

from __future__ import annotations

from typing import Final

from masking_unset.models.redact import displayable

KEY_ATTRIBUTE: Final = "pk"
EXPIRES_AT_ATTRIBUTE: Final = "expires_at"  # the table's TTL attribute (unix seconds)
_MAX_KEY_SHOWN: Final = 100


def mapping_key(source: str, ticket_id: str) -> str:
    """The partition key of a ticket's item: ``<source>#<ticket id>``, both as the event has
    them (the webhook source in lower case from its URL; on the queue, the body's ``source``)."""
    return f"{source}#{ticket_id}"


def shown_mapping_key(source: str, ticket_id: str) -> str:
    """:func:`mapping_key` made safe for a message: both parts come from the sender, so nothing
    a terminal acts on, and cut short."""
    key = displayable(mapping_key(source, ticket_id))
    return key if len(key) <= _MAX_KEY_SHOWN else key[: _MAX_KEY_SHOWN - 1] + "…"
