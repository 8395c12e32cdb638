"""What every webhook source provides."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from masking_unset.config import Settings
from masking_unset.logic.responses import ItemOutcome, default_response
from masking_unset.models.errors import PayloadTooLarge
from masking_unset.models.events import SourceItem
from masking_unset.models.http import WebhookRequest, WebhookResponse

MAX_EVENTS_PER_DELIVERY = 100


class WebhookSource(ABC):
    """A sender of "ticket closed" webhooks: its authentication, payload shape and answer."""

    name: str
    # HubSpot and Salesforce send at most 100 events per request; more is not one of theirs.
    max_events: int = MAX_EVENTS_PER_DELIVERY
    # Shorter shared secrets can be guessed; a scheme with its own rule overrides secret_problem.
    min_secret_length: int = 16

    def check_event_count(self, count: int) -> None:
        """Raise :class:`PayloadTooLarge` (``too_many_events``, 413) when a delivery carries more
        events than :attr:`max_events`: checked before any event is read or acted on, so that
        the work, the answer and the logs of one request stay bounded."""
        if count > self.max_events:
            raise PayloadTooLarge(
                f"a delivery may carry at most {self.max_events} events", code="too_many_events"
            )

    def secret_problem(self, secret: str) -> str | None:
        """Why ``secret`` must not authenticate this source (empty, blank or too short for its
        scheme), or None when it may. The answer never contains the value."""
        if not secret.strip():
            return "is empty or blank"
        if len(secret.strip()) < self.min_secret_length:
            return f"is shorter than {self.min_secret_length} characters"
        return None

    @abstractmethod
    def authenticate(
        self, request: WebhookRequest, secrets: Sequence[str], now: float, settings: Settings
    ) -> None:
        """Raise :class:`AuthenticationFailed` unless the request comes from the sender.

        ``secrets`` are the values configured for this source in ``WEBHOOK_SECRETS_ID``;
        ``settings`` the container's, for sources whose check depends on them.
        """

    @abstractmethod
    def parse(self, request: WebhookRequest, settings: Settings) -> Sequence[SourceItem]:
        """The events an authenticated request carries: a close to act on, or something else to
        ignore with its reason. Raises :class:`InvalidEvent` for a body it cannot read."""

    def respond(self, outcomes: Sequence[ItemOutcome], retry_after: int) -> WebhookResponse:
        """The answer the sender expects; JSON unless the sender needs another format."""
        return default_response(outcomes, retry_after)
