"""What every webhook source provides."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from masking_unset.config import Settings
from masking_unset.logic.responses import ItemOutcome, default_response
from masking_unset.models.events import CloseEvent, Ignored
from masking_unset.models.http import WebhookRequest, WebhookResponse


class WebhookSource(ABC):
    """A sender of "ticket closed" webhooks: its authentication, payload shape and answer."""

    name: str

    @abstractmethod
    def authenticate(
        self, request: WebhookRequest, secrets: Sequence[str], now: float, settings: Settings
    ) -> None:
        """Raise :class:`AuthenticationFailed` unless the request comes from the sender.

        ``secrets`` are the values configured for this source in ``WEBHOOK_SECRETS_ID``;
        ``settings`` the container's, for sources whose check depends on them.
        """

    @abstractmethod
    def parse(self, request: WebhookRequest, settings: Settings) -> Sequence[CloseEvent | Ignored]:
        """The events an authenticated request carries: a close to act on, or something else to
        ignore with its reason. Raises :class:`InvalidEvent` for a body it cannot read."""

    def respond(self, outcomes: Sequence[ItemOutcome], retry_after: int) -> WebhookResponse:
        """The answer the sender expects; JSON unless the sender needs another format."""
        return default_response(outcomes, retry_after)
