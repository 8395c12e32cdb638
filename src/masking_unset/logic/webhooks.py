"""Receiving a webhook: route to its source, authenticate, parse, act on each event."""

from __future__ import annotations

import time
from collections.abc import Callable

from masking_unset.config import Settings
from masking_unset.logic.batch import Sender
from masking_unset.logic.budget import TimeBudget
from masking_unset.logic.failures import classify
from masking_unset.logic.pipeline import SecretReader, UnsetService
from masking_unset.logic.responses import RETRY_KINDS, ItemOutcome, MethodNotAllowed
from masking_unset.logic.retry import Deadline
from masking_unset.models.errors import (
    ConfigurationError,
    InFlight,
    MaskingUnsetError,
    PayloadTooLarge,
    UnknownSource,
    UpstreamUnavailable,
)
from masking_unset.models.events import CloseEvent, Ignored, Outcome, UnsetResult
from masking_unset.models.http import WebhookRequest, WebhookResponse
from masking_unset.observability import count, count_by, logger
from masking_unset.sources import get_source

MAX_BODY_BYTES = 256 * 1024


class WebhookReceiver:
    """Turns one webhook request into expired maskings and the answer its sender expects."""

    def __init__(
        self,
        settings: Settings,
        secrets: SecretReader,
        service: UnsetService,
        *,
        fallback: Sender | None = None,
        clock: Callable[[], float] = time.time,
        budget: TimeBudget | None = None,
    ) -> None:
        self._settings = settings
        self._secrets = secrets
        self._service = service
        self._fallback = fallback
        self._clock = clock
        self._budget = budget or TimeBudget()

    def receive(self, request: WebhookRequest, deadline: Deadline | None = None) -> WebhookResponse:
        """Authenticate and act on ``request``.

        Raises a :class:`MaskingUnsetError` subclass when the request as a whole is refused (wrong
        method, unknown source, too large, unauthenticated, unreadable); failures of single events
        are part of the answer.
        """
        if request.method != "POST":
            raise MethodNotAllowed("only POST is accepted")
        source = get_source(request.source)
        if source is None:
            raise UnknownSource("no such webhook source")
        if len(request.body) > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"the body is over {MAX_BODY_BYTES // 1024} KiB")
        secrets = self.source_secrets(source.name)
        source.authenticate(request, secrets, self._clock(), self._settings)
        items = source.parse(request, self._settings)
        outcomes = [self._act(item, deadline or Deadline()) for item in items]
        return source.respond(outcomes, self._settings.webhook_retry_after_seconds)

    def _act(self, item: CloseEvent | Ignored, deadline: Deadline) -> ItemOutcome:
        if isinstance(item, Ignored):
            count("EventsIgnored")
            logger.info(
                "event ignored",
                extra={
                    "event_id": item.event_id,
                    "ticket_id": item.ticket_id,
                    "reason": item.reason,
                },
            )
            result = UnsetResult(
                status=Outcome.IGNORED,
                event_id=item.event_id,
                ticket_id=item.ticket_id,
                reason=item.reason,
            )
            return ItemOutcome(result=result)
        logger.append_keys(event_id=item.event_id, ticket_id=item.ticket_id)
        try:
            return ItemOutcome(result=self._service.expire(item, deadline))
        except MaskingUnsetError as exc:
            count_by("EventsFailed", "code", exc.code)
            logger.warning("event failed", extra={"code": exc.code, "reason": exc.message})
            error = exc
        except Exception:  # noqa: BLE001 - a bug must not lose the event: queue it
            logger.exception("event failed unexpectedly")
            error = UpstreamUnavailable("the event could not be processed", code="internal_error")
        if isinstance(error, InFlight) or classify(error) not in RETRY_KINDS:
            return ItemOutcome(error=error)
        return self._hand_to_queue(item, error, deadline)

    def _hand_to_queue(
        self, event: CloseEvent, error: MaskingUnsetError, deadline: Deadline
    ) -> ItemOutcome:
        """Nothing is lost when DeepCall is down: the queue retries the event later."""
        if self._fallback is None:
            return ItemOutcome(error=error)
        if deadline.remaining() < self._budget.send:
            # A send cut off by the timeout would lose the answer: the sender retries on the 503.
            logger.warning("no time left to queue the event", extra={"code": error.code})
            return ItemOutcome(error=error)
        try:
            self._fallback.send(
                event.model_dump_json(exclude_none=True),
                group_id=event.ticket_id or event.event_id,
                dedup_id=event.event_id,
            )
        except MaskingUnsetError as exc:
            logger.error("queue fallback failed", extra={"code": exc.code})
            return ItemOutcome(error=error)
        count("EventsQueued")
        logger.info("event queued for retry", extra={"code": error.code})
        result = UnsetResult(
            status=Outcome.QUEUED,
            event_id=event.event_id,
            ticket_id=event.ticket_id,
            reason=error.message,
        )
        return ItemOutcome(result=result)

    def source_secrets(self, source: str) -> list[str]:
        """The secrets configured for ``source``; :class:`UnknownSource` if there are none."""
        if not self._settings.webhook_secrets_id:
            raise ConfigurationError("WEBHOOK_SECRETS_ID is not set")
        document = self._secrets.get_json(
            self._settings.webhook_secrets_id, variable="WEBHOOK_SECRETS_ID"
        )
        configured = document.get(source)
        if isinstance(configured, str):
            configured = [configured]
        if configured is None or configured == []:
            raise UnknownSource("this webhook source is not configured")
        if not isinstance(configured, list) or not all(
            isinstance(item, str) and item for item in configured
        ):
            raise ConfigurationError(
                f'WEBHOOK_SECRETS_ID: the entry for "{source}" must be a list of non-empty strings'
            )
        return configured
