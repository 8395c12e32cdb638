"""A queued close event as the batch processor sees it, and the attributes a parked one carries."""

from __future__ import annotations

from dataclasses import dataclass

# Message attributes of a dead-lettered message: why it was parked (docs/operations.md).
ATTR_ERROR_CODE = "ErrorCode"
ATTR_ERROR_MESSAGE = "ErrorMessage"
ATTR_SOURCE_MESSAGE_ID = "SourceMessageId"
ATTR_RECEIVE_COUNT = "ReceiveCount"
# Message attributes of a deferred copy (a record DeepCall could not take, sent again).
ATTR_DEFERRED_SINCE = "DeferredSince"  # epoch seconds the event first waited on DeepCall
ATTR_NOT_BEFORE = "NotBefore"  # epoch seconds before which it is not tried again
ATTR_DEFERRALS = "Deferrals"  # how many times it was deferred


@dataclass(frozen=True, slots=True)
class QueueRecord:
    """The parts of a queue record this service reads (see
    :func:`masking_unset.handlers.sqs.read_record`)."""

    message_id: str
    receipt_handle: str
    body: str
    receive_count: int
    group_id: str | None
    sent_at: float | None = None  # when SQS first accepted this message, epoch seconds
    deferred_since: float | None = None
    not_before: float | None = None
    deferrals: int = 0

    @property
    def reportable(self) -> bool:
        """Whether ``batchItemFailures`` can name this record. An empty or unknown identifier
        there makes Lambda hand back the whole batch, records already expired included."""
        return bool(self.message_id)
