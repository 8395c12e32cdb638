"""Queue entry point: SQS batches of close events, answered with a partial batch response."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from masking_unset.handlers import snapstart
from masking_unset.observability import count, logger, metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

# Lambda's SnapStart runtime calls these hooks around the snapshot; elsewhere a no-op.
snapstart.register()


@metrics.log_metrics(capture_cold_start_metric=True)
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Expire the masking of every record; ``batchItemFailures`` lists exactly those that SQS
    must deliver again. Never raises, whatever the event: an exception would hand back the whole
    batch."""
    from masking_unset.app import get_app
    from masking_unset.handlers.sqs import message_ids, read_record
    from masking_unset.models.budget import Deadline

    records: object = event.get("Records") if isinstance(event, Mapping) else None
    if not isinstance(records, list):
        logger.warning("not an SQS event: nothing to process", extra={"type": type(event).__name__})
        records = []
    count("RecordsReceived", len(records))
    try:
        app = get_app()
        if app.idempotency is not None:
            app.idempotency.register(context)
        deadline = Deadline(context.get_remaining_time_in_millis)
        failed = app.batch.process([read_record(r) for r in records], deadline)
    except Exception as exc:  # noqa: BLE001 - configuration or a bug: every record comes back
        logger.error(
            "cannot process the batch",
            extra={"error": type(exc).__name__, "reason": getattr(exc, "message", "")},
        )
        failed = message_ids(records)
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}
