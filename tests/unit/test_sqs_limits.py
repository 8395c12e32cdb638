"""The SQS-limits double refuses exactly what SQS's documentation says SQS refuses
(shared/reference fleet.md; the SQS API reference): property-based over strings."""

from __future__ import annotations

import base64
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tests.support.sqs_limits import MAX_MESSAGE_BYTES, refusal

QUEUE = "http://127.0.0.1:1/123456789012/q"
FIFO = QUEUE + ".fifo"
# Any code point, lone surrogates and U+FFFE / U+FFFF included.
any_text = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=40)
id_text = st.one_of(any_text, st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=127)))


def sqs_takes_text(text: str) -> bool:
    """The documented set, written as code point ranges."""
    allowed = ((0x9, 0x9), (0xA, 0xA), (0xD, 0xD), (0x20, 0xD7FF), (0xE000, 0xFFFD))
    return all(
        ord(ch) >= 0x10000 or any(low <= ord(ch) <= high for low, high in allowed) for ch in text
    )


def sqs_takes_id(text: str) -> bool:
    printable = "".join(chr(code) for code in range(0x21, 0x7F))  # ! to ~
    return 1 <= len(text) <= 128 and all(ch in printable for ch in text)


def send(**params: Any) -> Any:
    return refusal("SendMessage", {"QueueUrl": QUEUE, "MessageBody": "b", **params})


@given(any_text)
def test_a_body_is_refused_exactly_when_sqs_refuses_its_characters(body: str) -> None:
    refused = send(MessageBody=body)
    assert (refused is None) == (bool(body) and sqs_takes_text(body))
    if refused is not None:
        assert refused.status == 400


@given(any_text)
def test_a_string_attribute_is_refused_exactly_when_empty_or_sqs_refuses_a_character(
    value: str,
) -> None:
    refused = send(MessageAttributes={"Reason": {"DataType": "String", "StringValue": value}})
    assert (refused is None) == (bool(value) and sqs_takes_text(value))
    if refused is not None:
        assert refused.code == "InvalidParameterValue"


@given(id_text, id_text)
def test_fifo_ids_are_refused_exactly_when_not_1_to_128_printable_ascii(
    group: str, dedup: str
) -> None:
    refused = refusal(
        "SendMessage",
        {
            "QueueUrl": FIFO,
            "MessageBody": "b",
            "MessageGroupId": group,
            "MessageDeduplicationId": dedup,
        },
    )
    assert (refused is None) == (sqs_takes_id(group) and sqs_takes_id(dedup))


def test_the_id_limits_at_their_edges() -> None:
    def group(value: str) -> Any:
        return refusal(
            "SendMessage", {"QueueUrl": FIFO, "MessageBody": "b", "MessageGroupId": value}
        )

    assert group("x" * 128) is None
    assert group("!~") is None
    for bad in ("", "x" * 129, "a b", "é", "a\tb", "\x7f"):
        refused = group(bad)
        assert refused is not None, bad
        assert refused.code == "InvalidParameterValue", bad


def test_a_fifo_send_without_a_group_is_refused() -> None:
    assert refusal("SendMessage", {"QueueUrl": FIFO, "MessageBody": "b"}) is not None


@given(st.integers(min_value=0, max_value=400))
def test_the_message_size_counts_body_and_every_attribute_name_type_and_value(
    spare: int,
) -> None:
    name, value = "ErrorMessage", "é" * 100  # 200 bytes of value
    attribute_bytes = len(name) + len("String") + 200
    body = "x" * (MAX_MESSAGE_BYTES - attribute_bytes - 200 + spare)
    refused = send(
        MessageBody=body, MessageAttributes={name: {"DataType": "String", "StringValue": value}}
    )
    assert (refused is None) == (spare <= 200)


def test_binary_attributes_count_their_decoded_bytes_and_bad_names_are_refused() -> None:
    raw = base64.b64encode(b"\x00" * 10).decode()
    assert send(MessageAttributes={"Bin": {"DataType": "Binary", "BinaryValue": raw}}) is None
    for name in ("AWS.x", "a..b", ".a", "a b", "x" * 257):
        attributes = {name: {"DataType": "String", "StringValue": "v"}}
        assert send(MessageAttributes=attributes) is not None, name
    eleven = {f"a{i}": {"DataType": "String", "StringValue": "v"} for i in range(11)}
    assert send(MessageAttributes=eleven) is not None


def test_a_batch_is_checked_entry_by_entry_and_as_a_whole() -> None:
    def batch(*entries: dict[str, Any]) -> Any:
        return refusal("SendMessageBatch", {"QueueUrl": QUEUE, "Entries": list(entries)})

    assert batch({"Id": "1", "MessageBody": "ok"}) is None
    assert batch({"Id": "1", "MessageBody": "\x00"}) is not None
    assert batch() is not None
    assert batch(*({"Id": str(i), "MessageBody": "b"} for i in range(11))) is not None
    assert batch({"Id": "1", "MessageBody": "b"}, {"Id": "1", "MessageBody": "c"}) is not None
    half = "x" * (MAX_MESSAGE_BYTES // 2 + 1)
    refused = batch({"Id": "1", "MessageBody": half}, {"Id": "2", "MessageBody": half})
    assert refused is not None
    assert refused.code == "BatchRequestTooLong"


@given(st.integers(min_value=-5, max_value=50_000))
def test_a_visibility_timeout_is_refused_outside_0_to_12_hours(seconds: int) -> None:
    single = refusal("ChangeMessageVisibility", {"QueueUrl": QUEUE, "VisibilityTimeout": seconds})
    entries = [{"Id": "1", "ReceiptHandle": "r", "VisibilityTimeout": seconds}]
    batch = refusal("ChangeMessageVisibilityBatch", {"QueueUrl": QUEUE, "Entries": entries})
    assert (single is None) == (batch is None) == (0 <= seconds <= 43_200)


def test_other_operations_are_not_checked() -> None:
    assert refusal("ReceiveMessage", {"QueueUrl": QUEUE, "MessageBody": "\x00"}) is None
