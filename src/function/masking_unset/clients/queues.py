"""SQS: the main queue (webhook fallback, visibility backoff) and the dead-letter queue."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Final

from botocore.exceptions import BotoCoreError, ClientError

from masking_unset.models.errors import UpstreamUnavailable
from masking_unset.models.queue import fit_attributes, is_sqs_id
from masking_unset.models.redact import displayable

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageAttributeValueTypeDef

MAX_VISIBILITY_SECONDS = 12 * 60 * 60  # SQS's own limit
MAX_DELAY_SECONDS = 900  # SQS's own limit for a message's delay
DEFAULT_GROUP: Final = "default"
# Without a hash key, the FIFO group of every id SQS cannot take: order is kept, one at a time.
UNKEYED_GROUP: Final = "unkeyed"


class QueueClient:
    """Sends to and adjusts one SQS queue.

    ``digest`` is a keyed hash of a text (the deployment's hash key), or None when there is no
    usable key: it stands in for a FIFO id SQS would refuse.
    """

    def __init__(
        self,
        client: SQSClient,
        queue_url: str,
        *,
        digest: Callable[[str], str | None] | None = None,
    ) -> None:
        self._client = client
        self.url = queue_url
        self._digest = digest

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
        knows the queue's own delay); returns its message id. Raises :class:`UpstreamUnavailable`.

        ``body`` must be text SQS takes (:func:`masking_unset.models.queue.sqs_body`). Attribute
        values are made :func:`displayable` and cut to fit the message size, the first ones
        kept longest. On a FIFO queue ``group_id`` and ``dedup_id`` may be any text: one SQS
        would refuse (a space, a non-ASCII letter, over 128 characters) is replaced by its keyed
        hash (:meth:`fifo_id`); a missing ``dedup_id`` stands for the body.
        """
        kwargs: dict[str, object] = {"QueueUrl": self.url, "MessageBody": body}
        if delay_seconds > 0 and not self.is_fifo:
            kwargs["DelaySeconds"] = min(delay_seconds, MAX_DELAY_SECONDS)
        if attributes:
            shown = {name: displayable(value) or "-" for name, value in attributes.items()}
            values: dict[str, MessageAttributeValueTypeDef] = {
                name: {"DataType": "String", "StringValue": value}
                for name, value in fit_attributes(body, shown).items()
            }
            if values:
                kwargs["MessageAttributes"] = values
        if self.is_fifo:
            kwargs["MessageGroupId"] = self.fifo_id("group", group_id or DEFAULT_GROUP)
            kwargs["MessageDeduplicationId"] = (
                self.fifo_id("dedup", dedup_id)
                if dedup_id
                else self.fifo_id("body", body, raw=False)
            )
        try:
            return self._client.send_message(**kwargs)["MessageId"]  # type: ignore[arg-type]
        except (ClientError, BotoCoreError) as exc:
            raise UpstreamUnavailable(
                f"could not send to the queue ({type(exc).__name__})", code="queue_unavailable"
            ) from None

    def fifo_id(self, kind: str, text: str, *, raw: bool = True) -> str:
        """A FIFO ``MessageGroupId`` / ``MessageDeduplicationId`` for ``text``: the text itself
        when SQS takes it (and ``raw``), else the keyed hash of ``kind`` and the text (64 hex
        digits). Without a usable hash key, never a plain hash: a group becomes
        :data:`UNKEYED_GROUP`, a deduplication id a random one."""
        if raw and is_sqs_id(text):
            return text
        digest: str | None = None
        if self._digest is not None:
            try:
                digest = self._digest(f"sqs-{kind}:{text}")
            except Exception:  # noqa: BLE001 - an unreadable key costs the keyed id, not the send
                digest = None
        if digest is not None:
            return digest
        return UNKEYED_GROUP if kind == "group" else uuid.uuid4().hex

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
