"""Receiving a webhook: route it to its source, authenticate and read it there, act on its
events (:mod:`masking_unset.logic.webhooks`) and answer as its sender expects."""

from __future__ import annotations

import time
from collections.abc import Callable

from masking_unset.config import Settings
from masking_unset.handlers.responses import respond
from masking_unset.logic.expiry import MaskingExpirer
from masking_unset.logic.ports import SecretReader, Sender
from masking_unset.logic.trail import TrailKeeper
from masking_unset.logic.webhooks import WebhookDelivery
from masking_unset.models.budget import Deadline, TimeBudget
from masking_unset.models.errors import MethodNotAllowed, PayloadTooLarge, UnknownSource
from masking_unset.models.http import MAX_WEBHOOK_BODY_BYTES, WebhookRequest, WebhookResponse
from masking_unset.sources import SOURCE_NAMES, get_source

# The source names are the public routes: listing them tells a sender what to call instead.
_ROUTES = [f"/webhooks/{name}" for name in SOURCE_NAMES]
UNKNOWN_SOURCE = f"no such webhook source: use {', '.join(_ROUTES[:-1])} or {_ROUTES[-1]}"


class WebhookReceiver:
    """Turns one webhook request into expired maskings and the answer its sender expects."""

    def __init__(
        self,
        settings: Settings,
        secrets: SecretReader,
        expirer: MaskingExpirer,
        *,
        fallback: Sender | None = None,
        clock: Callable[[], float] = time.time,
        budget: TimeBudget | None = None,
        trail: TrailKeeper | None = None,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self.delivery = WebhookDelivery(
            settings, secrets, expirer, fallback=fallback, budget=budget, trail=trail
        )

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
            raise UnknownSource(UNKNOWN_SOURCE)
        if len(request.body) > MAX_WEBHOOK_BODY_BYTES:
            raise PayloadTooLarge(f"the body is over {MAX_WEBHOOK_BODY_BYTES // 1024} KiB")
        secrets = self.delivery.source_secrets(source)
        source.authenticate(request, secrets, self._clock(), self._settings)
        items = source.parse(request, self._settings)
        source.check_event_count(len(items))  # sources with arrays check before reading them
        outcomes = self.delivery.act(items, deadline or Deadline())
        return respond(source, outcomes, self._settings.webhook_retry_after_seconds)
