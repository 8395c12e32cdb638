"""A queued close event as the batch processor sees it, and the attributes a parked one carries."""

from __future__ import annotations

from dataclasses import dataclass

# Message attributes of a dead-lettered message: why it was parked (docs/operations.md).
ATTR_ERROR_CODE = "ErrorCode"
ATTR_ERROR_MESSAGE = "ErrorMessage"
ATTR_SOURCE_MESSAGE_ID = "SourceMessageId"
ATTR_RECEIVE_COUNT = "ReceiveCount"


@dataclass(frozen=True, slots=True)
class QueueRecord:
    """The parts of a queue record this service reads (see
    :func:`masking_unset.handlers.sqs.read_record`)."""

    message_id: str
    receipt_handle: str
    body: str
    receive_count: int
    group_id: str | None

    @property
    def reportable(self) -> bool:
        """Whether ``batchItemFailures`` can name this record. An empty or unknown identifier
        there makes Lambda hand back the whole batch, records already expired included."""
        return bool(self.message_id)
