"""Translation of SQS event records into :class:`QueueRecord`, whatever their shape."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from masking_unset.models.queue import (
    ATTR_DEFERRALS,
    ATTR_DEFERRED_SINCE,
    ATTR_NOT_BEFORE,
    QueueRecord,
)


def read_record(record: object) -> QueueRecord:
    """Read an SQS event record of any shape: what is missing or of the wrong type is left
    blank. A record without a ``messageId`` is not :attr:`QueueRecord.reportable`."""
    fields: Mapping[str, Any] = record if isinstance(record, Mapping) else {}
    attributes = fields.get("attributes")
    if not isinstance(attributes, Mapping):
        attributes = {}
    message_id, receipt, group = (
        fields.get("messageId"),
        fields.get("receiptHandle"),
        attributes.get("MessageGroupId"),
    )
    custom = fields.get("messageAttributes")
    if not isinstance(custom, Mapping):
        custom = {}
    sent_ms = _number(attributes.get("SentTimestamp"))
    deferrals = _number(_string_attribute(custom, ATTR_DEFERRALS))
    return QueueRecord(
        message_id=message_id if isinstance(message_id, str) else "",
        receipt_handle=receipt if isinstance(receipt, str) else "",
        body=_body_text(record),
        receive_count=_receive_count(attributes.get("ApproximateReceiveCount")),
        group_id=group if isinstance(group, str) else None,
        sent_at=sent_ms / 1000 if sent_ms is not None else None,
        deferred_since=_number(_string_attribute(custom, ATTR_DEFERRED_SINCE)),
        not_before=_number(_string_attribute(custom, ATTR_NOT_BEFORE)),
        deferrals=int(deferrals) if deferrals is not None else 0,
    )


def _string_attribute(attributes: Mapping[str, Any], name: str) -> object:
    value = attributes.get(name)
    return value.get("stringValue") if isinstance(value, Mapping) else None


def _number(value: object) -> float | None:
    # Whole, non-negative decimal numbers only (SQS timestamps, our own attributes): anyone can
    # send a message, so anything else counts as absent.
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 15:
        return float(value)
    return None


def _body_text(record: object) -> str:
    # The body as SQS gives it; anything else as JSON, so that a dead letter shows what came.
    body = record.get("body") if isinstance(record, Mapping) else record
    if isinstance(body, str):
        return body
    if body is None and isinstance(record, Mapping):
        return ""
    try:
        return json.dumps(body, default=repr)
    except (ValueError, RecursionError):  # circular or too deep to write out
        return f"<a {type(body).__name__} that cannot be written as JSON>"


def _receive_count(value: object) -> int:
    # SQS sends a decimal string; anything else (or absurdly large) counts as a first delivery.
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 9:
        return int(value)
    return 1


def message_ids(records: Sequence[object]) -> list[str]:
    """The ids of the records that ``batchItemFailures`` can name."""
    return [parsed.message_id for r in records if (parsed := read_record(r)).reportable]
