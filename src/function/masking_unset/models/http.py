"""A webhook request as the pipeline sees it, whichever API Gateway flavour delivered it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

WEBHOOK_ROUTE = "POST /webhooks/{source}"  # the route of every source, in API Gateway's notation
# The same sources for a named DeepCall account (DEEPCALL_ACCOUNTS).
ACCOUNT_WEBHOOK_ROUTE = "POST /webhooks/{source}/{account}"
# The source (and account) in a request path; a stage or mapping prefix before /webhooks/ is
# allowed.
_SOURCE_IN_PATH = re.compile(r"/webhooks/([^/?]+)(?:/([^/?]+))?/?$")
MAX_WEBHOOK_BODY_BYTES = 256 * 1024  # a larger webhook body is refused (413) before it is read


def source_in_path(path: str) -> str | None:
    """The ``{source}`` of a ``/webhooks/{source}`` path (a prefix allowed), or None."""
    match = _SOURCE_IN_PATH.search(path)
    return match.group(1) if match else None


def account_in_path(path: str) -> str | None:
    """The ``{account}`` of a ``/webhooks/{source}/{account}`` path, or None."""
    match = _SOURCE_IN_PATH.search(path)
    return match.group(2) if match else None


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """One HTTP request. ``headers`` keys are lower-case; ``body`` is the raw bytes as sent."""

    method: str
    path: str
    source: str
    headers: Mapping[str, str]
    body: bytes
    query: Mapping[str, str] = field(default_factory=dict)
    raw_query: str = ""
    domain: str = ""
    request_id: str = ""
    # The DeepCall account its URL names (None: the account named "default").
    account: str | None = None

    def header(self, name: str) -> str | None:
        """A header by case-insensitive name."""
        return self.headers.get(name.lower())

    def __repr__(self) -> str:
        return f"WebhookRequest({self.method} {self.path}, {len(self.body)} bytes)"


@dataclass(frozen=True, slots=True)
class WebhookResponse:
    """What a webhook answers; serialised into the API Gateway response format."""

    status: int
    body: str
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)
