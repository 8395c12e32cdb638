"""Queue entry point: SQS batches of close events, answered with a partial batch response."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from masking_unset.models.errors import MaskingUnsetError
from masking_unset.models.events import CloseEvent
from masking_unset.observability import logger


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Expire the masking of every record; ``batchItemFailures`` lists exactly those that failed."""
    from masking_unset.app import get_app

    records = event.get("Records") or []
    try:
        service = get_app().service
    except MaskingUnsetError as exc:
        logger.error("cannot process the batch", extra={"code": exc.code, "reason": exc.message})
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in records]}
    failures: list[dict[str, str]] = []
    for record in records:
        message_id = record.get("messageId", "")
        try:
            close = CloseEvent.from_json(record.get("body") or "", source="queue")
            if close.event_id is None:
                close = close.model_copy(update={"event_id": message_id})
            result = service.expire(close)
            logger.info(
                "record done", extra={"message_id": message_id, "status": result.status.value}
            )
        except MaskingUnsetError as exc:
            logger.warning(
                "record failed",
                extra={"message_id": message_id, "code": exc.code, "reason": exc.message},
            )
            failures.append({"itemIdentifier": message_id})
        except Exception:  # noqa: BLE001 - one bad record must not fail the batch
            logger.exception("record failed unexpectedly", extra={"message_id": message_id})
            failures.append({"itemIdentifier": message_id})
    return {"batchItemFailures": failures}
