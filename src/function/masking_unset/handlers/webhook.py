"""Webhook entry point: ``POST /webhooks/{source}`` through HTTP API, REST API or a Function URL."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from masking_unset.config import DEFAULT_WEBHOOK_RETRY_AFTER_SECONDS
from masking_unset.handlers import snapstart
from masking_unset.handlers.apigw import to_event, to_request
from masking_unset.handlers.responses import error_response, failure_response
from masking_unset.models.budget import Deadline
from masking_unset.models.errors import MaskingUnsetError
from masking_unset.models.http import WebhookResponse
from masking_unset.observability import count, count_by, logger, metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

# Lambda's SnapStart runtime calls these hooks around the snapshot; elsewhere a no-op.
snapstart.register()


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Authenticate a "ticket closed" webhook and expire its masking."""
    return to_event(handle(event, context))


@metrics.log_metrics(capture_cold_start_metric=True)
@logger.inject_lambda_context(clear_state=True)
def handle(event: dict[str, Any], context: LambdaContext) -> WebhookResponse:
    """The webhook flow, answering a :class:`WebhookResponse` whatever happens."""
    from masking_unset.app import get_app

    retry_after = DEFAULT_WEBHOOK_RETRY_AFTER_SECONDS
    count("WebhooksReceived")
    try:
        request = to_request(event)
        logger.set_correlation_id(request.request_id or None)
        logger.append_keys(source=request.source)
        app = get_app()
        retry_after = app.settings.webhook_retry_after_seconds
        if app.idempotency is not None:
            app.idempotency.register(context)
        deadline = Deadline(context.get_remaining_time_in_millis)
        # The URL names the account (never the body); one not configured is refused (404).
        account = app.for_account(request.account)
        logger.append_keys(account=account.settings.account)
        response = account.webhook_receiver.receive(request, deadline)
    except MaskingUnsetError as exc:
        count("WebhooksRejected")
        count_by("WebhooksRejected", "reason", exc.code)
        logger.info("webhook refused", extra={"code": exc.code, "reason": exc.message})
        return failure_response(exc, retry_after)
    except Exception:  # noqa: BLE001 - no stack trace may reach the caller
        logger.exception("unexpected failure")
        return error_response(500, ("internal_error", "the event could not be processed"))
    logger.info("webhook answered", extra={"status_code": response.status})
    return response
