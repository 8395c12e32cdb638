"""Webhook sources: one small module per sender, each an adapter for its auth and payload."""

from __future__ import annotations

from masking_unset.sources.base import WebhookSource
from masking_unset.sources.generic import GenericSource

SOURCES: dict[str, WebhookSource] = {source.name: source for source in (GenericSource(),)}


def get_source(name: str) -> WebhookSource | None:
    """The adapter for ``name``, or None if no such source exists."""
    return SOURCES.get(name)
