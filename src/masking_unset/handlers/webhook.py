"""Webhook entry point: ``POST /webhooks/{source}`` through HTTP API, REST API or a Function URL."""

from __future__ import annotations

import math
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from masking_unset.handlers.apigw import error_response, json_response, to_event, to_request
from masking_unset.logic.failures import FailureKind, classify
from masking_unset.models.errors import (
    AuthenticationFailed,
    InvalidEvent,
    MaskingUnsetError,
    PayloadTooLarge,
    UnknownSource,
    UnusableTarget,
)
from masking_unset.models.http import WebhookResponse
from masking_unset.observability import logger

DEFAULT_RETRY_AFTER = 30

# Order matters: subclasses before their bases.
_STATUS: tuple[tuple[type[MaskingUnsetError], int], ...] = (
    (InvalidEvent, 400),
    (AuthenticationFailed, 401),
    (PayloadTooLarge, 413),
    (UnusableTarget, 422),
)


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Authenticate a "ticket closed" webhook and expire its masking."""
    return to_event(handle(event, context))


@logger.inject_lambda_context(clear_state=True)
def handle(event: dict[str, Any], context: LambdaContext) -> WebhookResponse:
    """The webhook flow, answering a :class:`WebhookResponse` whatever happens."""
    from masking_unset.app import get_app
    from masking_unset.logic.webhooks import MethodNotAllowed, WebhookReceiver

    retry_after = DEFAULT_RETRY_AFTER
    try:
        request = to_request(event)
        logger.set_correlation_id(request.request_id or None)
        logger.append_keys(source=request.source)
        app = get_app()
        retry_after = app.settings.webhook_retry_after_seconds
        receiver = WebhookReceiver(app.settings, app.secrets, app.service)
        result = receiver.receive(request)
    except MethodNotAllowed as exc:
        return error_response(405, exc, {"Allow": "POST"})
    except MaskingUnsetError as exc:
        return _failure(exc, retry_after)
    except Exception:  # noqa: BLE001 - no stack trace may reach the caller
        logger.exception("unexpected failure")
        return error_response(500, ("internal_error", "the event could not be processed"))
    return json_response(200, result.body())


def _failure(exc: MaskingUnsetError, default_retry_after: int) -> WebhookResponse:
    if isinstance(exc, UnknownSource):
        logger.info("webhook rejected", extra={"code": exc.code})
        return error_response(404, exc)
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            logger.info("webhook rejected", extra={"code": exc.code, "reason": exc.message})
            return error_response(status, exc)
    failure = classify(exc)
    logger.warning(
        "unset failed", extra={"code": exc.code, "kind": failure.value, "reason": exc.message}
    )
    if failure in (FailureKind.RETRYABLE, FailureKind.CONFIGURATION, FailureKind.CREDENTIALS):
        retry_after = getattr(exc, "retry_after", None) or default_retry_after
        return error_response(503, exc, {"Retry-After": str(math.ceil(max(1, retry_after)))})
    return error_response(502, exc)
