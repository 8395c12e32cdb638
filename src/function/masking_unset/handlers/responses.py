"""How outcomes become HTTP answers, rendered from the models in :mod:`masking_unset.models.api`
(the OpenAPI document is generated from the same models). The only place that picks a status."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Protocol

from pydantic import BaseModel

from masking_unset.config import DEFAULT_WEBHOOK_RETRY_AFTER_SECONDS
from masking_unset.logic.failures import disposition
from masking_unset.logic.retry import clamp
from masking_unset.logic.webhooks import ItemOutcome
from masking_unset.models.api import DeliveryResults, ErrorBody, ErrorDetail, FailedItem
from masking_unset.models.errors import (
    AuthenticationFailed,
    FutureEvent,
    InFlight,
    InvalidEvent,
    InvalidExpiry,
    MaskingUnsetError,
    MethodNotAllowed,
    OutcomeUnknown,
    PayloadTooLarge,
    UnknownAccount,
    UnknownSource,
    UnusableTarget,
)
from masking_unset.models.events import Outcome, UnsetResult
from masking_unset.models.http import WebhookResponse

# Per event of a multi-event answer: with at most 100 events (MAX_EVENTS_PER_DELIVERY) and ids
# of at most 256 characters, the answer stays far below Lambda's 6 MB response limit.
MAX_ITEM_TEXT = 300
MAX_RETRY_AFTER = 3600  # whatever DeepCall asked for, a sender is never told to wait longer
IN_FLIGHT_RETRY_AFTER = 5  # the first delivery is still running: come back shortly

# The caller's mistakes, each with its own status; order matters: subclasses before their bases.
# Every other failure is 503 when its disposition says a later delivery can succeed, else 502.
_STATUS: tuple[tuple[type[MaskingUnsetError], int], ...] = (
    (InFlight, 409),
    (OutcomeUnknown, 409),
    (InvalidEvent, 400),
    (AuthenticationFailed, 401),
    (UnknownSource, 404),
    (UnknownAccount, 404),
    (MethodNotAllowed, 405),
    (PayloadTooLarge, 413),
    (UnusableTarget, 422),
    (FutureEvent, 422),
    (InvalidExpiry, 422),
)


class Acknowledging(Protocol):
    """A source whose sender expects its own acknowledgement instead of a JSON answer."""

    def acknowledgement(self, acknowledged: bool) -> str | None:
        """The body that tells the sender whether every event is finished; None for JSON."""
        ...

    @property
    def answer_content_type(self) -> str:
        """The content type of that body."""
        ...


def status_of(error: MaskingUnsetError) -> int:
    """The HTTP status of a request, or its only event, that failed with ``error``."""
    for kind, status in _STATUS:
        if isinstance(error, kind):
            return status
    return 503 if disposition(error).retry else 502


def _bounded(text: str) -> str:
    return text if len(text) <= MAX_ITEM_TEXT else text[: MAX_ITEM_TEXT - 1] + "…"


def _json(model: BaseModel) -> str:
    return json.dumps(model.model_dump(mode="json", exclude_none=True))


def json_response(
    status: int, body: BaseModel, headers: Mapping[str, str] | None = None
) -> WebhookResponse:
    """A JSON response with ``body``."""
    return WebhookResponse(status=status, body=_json(body), headers=dict(headers or {}))


def error_response(
    status: int,
    error: MaskingUnsetError | tuple[str, str],
    headers: Mapping[str, str] | None = None,
) -> WebhookResponse:
    """``{"error": {"code", "message"}}`` with ``status``."""
    code, message = (error.code, error.message) if isinstance(error, MaskingUnsetError) else error
    return json_response(status, ErrorBody(error=ErrorDetail(code=code, message=message)), headers)


def retry_after_header(exc: MaskingUnsetError | None, default: int) -> dict[str, str]:
    """``Retry-After`` in whole seconds: what DeepCall asked for, else ``default``."""
    seconds = getattr(exc, "retry_after", None) or default
    return {"Retry-After": str(math.ceil(clamp(float(seconds), 1.0, MAX_RETRY_AFTER)))}


def failure_response(
    exc: MaskingUnsetError, retry_after: int = DEFAULT_WEBHOOK_RETRY_AFTER_SECONDS
) -> WebhookResponse:
    """The HTTP answer for one failure: 4xx for the caller's mistakes, 502 for a refusal that a
    retry can't fix, 503 with ``Retry-After`` when a later delivery can succeed."""
    status = status_of(exc)
    headers: dict[str, str] = {}
    if isinstance(exc, MethodNotAllowed):
        headers = {"Allow": "POST"}
    elif isinstance(exc, InFlight):
        headers = {"Retry-After": str(IN_FLIGHT_RETRY_AFTER)}
    elif status == 503:
        headers = retry_after_header(exc, retry_after)
    return error_response(status, exc, headers)


def _summary(outcome: ItemOutcome) -> UnsetResult | FailedItem:
    """One event's entry in a multi-event answer, its free text bounded."""
    if outcome.result is not None:
        reason = outcome.result.reason
        if reason is None:
            return outcome.result
        return outcome.result.model_copy(update={"reason": _bounded(reason)})
    assert outcome.error is not None
    detail = ErrorDetail(code=outcome.error.code, message=_bounded(outcome.error.message))
    return FailedItem(error=detail)


def default_response(
    outcomes: Sequence[ItemOutcome], retry_after: int = DEFAULT_WEBHOOK_RETRY_AFTER_SECONDS
) -> WebhookResponse:
    """One event: its own answer. Several: 200 with each one's result, unless one of them needs
    the sender to retry (503; the ones that succeeded come back as duplicates)."""
    if len(outcomes) == 1:
        [outcome] = outcomes
        if outcome.result is not None:
            status = 202 if outcome.result.status is Outcome.QUEUED else 200
            return json_response(status, outcome.result)
        assert outcome.error is not None
        return failure_response(outcome.error, retry_after)
    retry = [o for o in outcomes if o.retryable]
    body = DeliveryResults(
        status="retry" if retry else "processed",
        results=[_summary(outcome) for outcome in outcomes],
    )
    if retry:
        return json_response(503, body, retry_after_header(retry[0].error, retry_after))
    return json_response(200, body)


def respond(
    source: Acknowledging,
    outcomes: Sequence[ItemOutcome],
    retry_after: int = DEFAULT_WEBHOOK_RETRY_AFTER_SECONDS,
) -> WebhookResponse:
    """The answer ``source``'s sender expects: its own acknowledgement (Salesforce's SOAP
    ``Ack``: true when every event is finished - done, ignored, queued or failed for good; false
    with 503 when one needs a retry, and the sender resends them all), else JSON."""
    retry = [outcome for outcome in outcomes if outcome.retryable]
    body = source.acknowledgement(not retry)
    if body is None:
        return default_response(outcomes, retry_after)
    if retry:
        headers = retry_after_header(retry[0].error, retry_after)
        return WebhookResponse(
            status=503, body=body, content_type=source.answer_content_type, headers=headers
        )
    return WebhookResponse(status=200, body=body, content_type=source.answer_content_type)
