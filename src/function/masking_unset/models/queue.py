"""A queued close event as the batch processor sees it, the attributes a parked one carries, and
what SQS itself refuses (real SQS refuses what moto accepts: docs/security.md, "What SQS
refuses")."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

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


# SQS's documented limits: a FIFO id is 1-128 characters of printable ASCII; a message (body plus
# every attribute's name, type and value) is at most 256 KiB.
MAX_ID_CHARS: Final = 128
MAX_MESSAGE_BYTES: Final = 256 * 1024
ATTRIBUTE_TYPE: Final = "String"
_CUT: Final = "…"


def is_sqs_id(text: str) -> bool:
    """Whether SQS takes ``text`` as a ``MessageGroupId`` / ``MessageDeduplicationId``."""
    return 0 < len(text) <= MAX_ID_CHARS and all("!" <= ch <= "~" for ch in text)


def sqs_allows(ch: str) -> bool:
    """Whether an SQS body or String attribute may hold ``ch``: #x9 #xA #xD #x20-#xD7FF
    #xE000-#xFFFD #x10000-#x10FFFF (XML 1.0's characters)."""
    code = ord(ch)
    return (
        0x20 <= code <= 0xD7FF
        or code in (0x9, 0xA, 0xD)
        or 0xE000 <= code <= 0xFFFD
        or code >= 0x10000
    )


def sqs_body(text: str) -> str:
    """``text`` with every character SQS refuses in a body written as its JSON escape
    (``\\u0000``): a JSON document stays the same document, any other text stays readable.
    Text SQS takes is returned unchanged."""
    if all(sqs_allows(ch) for ch in text):
        return text
    return "".join(ch if sqs_allows(ch) else f"\\u{ord(ch):04x}" for ch in text)


def attribute_bytes(name: str, value: str) -> int:
    """What one String attribute counts towards the message size: name, type and value."""
    return len(name.encode()) + len(ATTRIBUTE_TYPE) + len(value.encode())


def fit_attributes(body: str, attributes: Mapping[str, str]) -> dict[str, str]:
    """The attributes that fit in one message beside ``body``, in the order given (the first
    matter most): a value that does not fit whole is cut (ending in "…"), one with no room
    left is dropped. Values must be non-empty and already hold only what SQS allows."""
    room = MAX_MESSAGE_BYTES - len(body.encode("utf-8", "surrogatepass"))
    kept: dict[str, str] = {}
    for name, value in attributes.items():
        spare = room - attribute_bytes(name, "")
        if spare <= 0:
            continue
        if len(value.encode()) > spare:
            if spare <= len(_CUT.encode()):
                continue
            value = value.encode()[: spare - len(_CUT.encode())].decode("utf-8", "ignore") + _CUT
        kept[name] = value
        room -= attribute_bytes(name, value)
    return kept
