"""SQS: the main queue (webhook fallback, visibility backoff) and the dead-letter queue."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from masking_unset.models.errors import UpstreamUnavailable

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageAttributeValueTypeDef

MAX_VISIBILITY_SECONDS = 12 * 60 * 60  # SQS's own limit
MAX_DELAY_SECONDS = 900  # SQS's own limit for a message's delay


class QueueClient:
    """Sends to and adjusts one SQS queue."""

    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._client = client
        self.url = queue_url

    @property
    def is_fifo(self) -> bool:
        """FIFO queues need a message group (and deduplication) id on every send."""
        return self.url.endswith(".fifo")

    def send(
        self,
        body: str,
        *,
        attributes: Mapping[str, str] | None = None,
        group_id: str | None = None,
        dedup_id: str | None = None,
        delay_seconds: int = 0,
    ) -> str:
        """Send one message, hidden for ``delay_seconds`` (not on a FIFO queue, where SQS only
        knows the queue's own delay); returns its message id. Raises
        :class:`UpstreamUnavailable`."""
        kwargs: dict[str, object] = {"QueueUrl": self.url, "MessageBody": body}
        if delay_seconds > 0 and not self.is_fifo:
            kwargs["DelaySeconds"] = min(delay_seconds, MAX_DELAY_SECONDS)
        if attributes:
            values: dict[str, MessageAttributeValueTypeDef] = {
                name: {"DataType": "String", "StringValue": value or "-"}
                for name, value in attributes.items()
            }
            kwargs["MessageAttributes"] = values
        if self.is_fifo:
            kwargs["MessageGroupId"] = group_id or "default"
            if dedup_id:
                kwargs["MessageDeduplicationId"] = dedup_id[:128]
        try:
            return self._client.send_message(**kwargs)["MessageId"]  # type: ignore[arg-type]
        except (ClientError, BotoCoreError) as exc:
            raise UpstreamUnavailable(
                f"could not send to the queue ({type(exc).__name__})", code="queue_unavailable"
            ) from None

    def delay_redelivery(self, receipt_handle: str, seconds: int) -> None:
        """Keep a failed message invisible for ``seconds`` (SQS has no backoff of its own)."""
        try:
            self._client.change_message_visibility(
                QueueUrl=self.url,
                ReceiptHandle=receipt_handle,
                VisibilityTimeout=max(0, min(seconds, MAX_VISIBILITY_SECONDS)),
            )
        except (ClientError, BotoCoreError) as exc:
            raise UpstreamUnavailable(
                f"could not change visibility ({type(exc).__name__})", code="queue_unavailable"
            ) from None
