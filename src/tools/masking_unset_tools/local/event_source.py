"""Lambda's SQS event source played against a local queue: receive a batch (long polling, so
delayed messages are waited for on SQS, not with sleeps), invoke the queue function with it in
the shape Lambda gives, and delete what the function did not report as failed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from masking_unset_tools.local.lambda_context import LocalLambdaContext

BATCH_SIZE = 10  # SQS hands out at most 10 messages per receive


def lambda_records(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """SQS messages as received through the API, in the shape Lambda's event source gives."""
    return [
        {
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "attributes": dict(m.get("Attributes", {})),
            "messageAttributes": {
                name: {"stringValue": value.get("StringValue"), "dataType": value["DataType"]}
                for name, value in m.get("MessageAttributes", {}).items()
            },
            "eventSource": "aws:sqs",
        }
        for m in messages
    ]


@dataclass
class Delivery:
    """One poll of the queue: how many messages were received, and which of them the function
    reported as failed (left on the queue for SQS to deliver again)."""

    received: int = 0
    failed: list[str] = field(default_factory=list)


def deliver_once(
    sqs: Any,
    queue_url: str,
    handler: Callable[[dict[str, Any], Any], Any],
    *,
    wait_seconds: int = 1,
) -> Delivery:
    """Receive up to one batch (waiting up to ``wait_seconds`` on SQS for a message to become
    visible), invoke ``handler`` with it and delete every message it did not report failed."""
    messages = sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=BATCH_SIZE,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
        WaitTimeSeconds=wait_seconds,
    ).get("Messages", [])
    if not messages:
        return Delivery()
    answer = handler({"Records": lambda_records(messages)}, LocalLambdaContext())
    failed = [item["itemIdentifier"] for item in (answer or {}).get("batchItemFailures", [])]
    done = [m for m in messages if m["MessageId"] not in failed]
    if done:
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)
            ],
        )
    return Delivery(received=len(messages), failed=failed)
