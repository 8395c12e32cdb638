"""Webhook sources: one module per sender, and the registry everything else derives from (the
route, the signing commands, the demo secrets, the OpenAPI description): docs/sources/README.md.

A webhook imports only the module of the source its URL names (:func:`get_source`): the others'
parsers and signature code would cost milliseconds of every cold start. :data:`SOURCES`, which
the tooling reads, imports them all on first access.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from masking_unset.sources.base import WebhookSource

# Source name -> (module in this package, class), in the order the registry lists them.
_REGISTRY: dict[str, tuple[str, str]] = {
    "generic": ("generic", "GenericSource"),
    "zendesk": ("zendesk", "ZendeskSource"),
    "freshdesk": ("freshdesk", "FreshdeskSource"),
    "hubspot": ("hubspot", "HubSpotSource"),
    "salesforce": ("salesforce", "SalesforceSource"),
}
_built: dict[str, WebhookSource] = {}
# The route's source names, for an answer that lists them (without importing any source).
SOURCE_NAMES: tuple[str, ...] = tuple(_REGISTRY)


def _build(name: str) -> WebhookSource:
    module, class_name = _REGISTRY[name]
    source: WebhookSource = getattr(importlib.import_module(f"{__name__}.{module}"), class_name)()
    return _built.setdefault(name, source)


def get_source(name: str) -> WebhookSource | None:
    """The adapter for ``name``, or None if no such source exists."""
    found = _built.get(name)
    if found is None and name in _REGISTRY:
        found = _build(name)
    return found


def __getattr__(name: str) -> dict[str, WebhookSource]:
    """``SOURCES``: every source by name, imported on first access."""
    if name != "SOURCES":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    sources = {key: _built.get(key) or _build(key) for key in _REGISTRY}
    globals()["SOURCES"] = sources
    return sources
