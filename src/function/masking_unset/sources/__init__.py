"""Webhook sources: one module per sender, and the registry everything else derives from (the
route, the signing commands, the demo secrets, the OpenAPI description): docs/sources/README.md."""

from __future__ import annotations

from masking_unset.sources.base import WebhookSource
from masking_unset.sources.freshdesk import FreshdeskSource
from masking_unset.sources.generic import GenericSource
from masking_unset.sources.hubspot import HubSpotSource
from masking_unset.sources.salesforce import SalesforceSource
from masking_unset.sources.zendesk import ZendeskSource

SOURCES: dict[str, WebhookSource] = {
    source.name: source
    for source in (
        GenericSource(),
        ZendeskSource(),
        FreshdeskSource(),
        HubSpotSource(),
        SalesforceSource(),
    )
}


def get_source(name: str) -> WebhookSource | None:
    """The adapter for ``name``, or None if no such source exists."""
    return SOURCES.get(name)
