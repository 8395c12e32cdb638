"""What every webhook source provides."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from masking_unset.models.events import CloseEvent
from masking_unset.models.http import WebhookRequest


class WebhookSource(Protocol):
    """A sender of "ticket closed" webhooks: its authentication and its payload shape."""

    name: str

    def authenticate(self, request: WebhookRequest, secrets: Sequence[str], now: float) -> None:
        """Raise :class:`AuthenticationFailed` unless the request comes from the sender."""
        ...

    def parse(self, request: WebhookRequest) -> CloseEvent:
        """The close event the (authenticated) request carries."""
        ...
