"""Receiving a webhook: route to its source, authenticate, parse, expire."""

from __future__ import annotations

import time
from collections.abc import Callable

from masking_unset.config import Settings
from masking_unset.logic.pipeline import SecretReader, UnsetService
from masking_unset.models.errors import ConfigurationError, PayloadTooLarge, UnknownSource
from masking_unset.models.events import UnsetResult
from masking_unset.models.http import WebhookRequest
from masking_unset.observability import logger
from masking_unset.sources import get_source

MAX_BODY_BYTES = 256 * 1024


class MethodNotAllowed(UnknownSource):
    """Only POST is accepted."""

    code = "method_not_allowed"


class WebhookReceiver:
    """Turns one authenticated webhook request into an expired masking."""

    def __init__(
        self,
        settings: Settings,
        secrets: SecretReader,
        service: UnsetService,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._secrets = secrets
        self._service = service
        self._clock = clock

    def receive(self, request: WebhookRequest) -> UnsetResult:
        """Authenticate and act on ``request``; raises a :class:`MaskingUnsetError` subclass."""
        if request.method != "POST":
            raise MethodNotAllowed("only POST is accepted")
        source = get_source(request.source)
        if source is None:
            raise UnknownSource("no such webhook source")
        if len(request.body) > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"the body is over {MAX_BODY_BYTES // 1024} KiB")
        secrets = self.source_secrets(source.name)
        source.authenticate(request, secrets, self._clock())
        event = source.parse(request)
        logger.append_keys(event_id=event.event_id, ticket_id=event.ticket_id)
        return self._service.expire(event)

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
