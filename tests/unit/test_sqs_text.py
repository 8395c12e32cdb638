"""What the functions send to SQS is what SQS takes, whatever the input (issue 19, items 10 and
11): checked against the SQS-limits double's own reading of SQS's limits."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from masking_unset.clients.queues import UNKEYED_GROUP, QueueClient
from masking_unset.models.hashing import keyed_digest
from masking_unset.models.queue import MAX_MESSAGE_BYTES, fit_attributes, sqs_body
from masking_unset.models.redact import displayable, scrub
from tests.support.sqs_limits import refusal

KEY = b"k" * 32
any_text = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=300)
FIFO = "https://sqs.example/123/q.fifo"


class RecordingSqs:
    """The one SQS call QueueClient.send makes, recorded (a unit test of a single class)."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send_message(self, **kwargs: Any) -> dict[str, str]:
        self.sent.append(kwargs)
        return {"MessageId": "m"}


def client(url: str = FIFO, *, keyed: bool = True) -> tuple[QueueClient, RecordingSqs]:
    sqs = RecordingSqs()
    digest = (lambda text: keyed_digest(KEY, text)) if keyed else (lambda text: None)
    return QueueClient(sqs, url, digest=digest), sqs  # type: ignore[arg-type]


def terminal_safe(text: str) -> bool:
    return all(
        unicodedata.category(ch) not in {"Cc", "Cs"} and ch not in "\u202a\u202b\u202d\u202e"
        for ch in text
    )


@given(any_text, st.one_of(st.none(), any_text.filter(bool)), any_text)
def test_a_fifo_send_has_ids_sqs_takes_whatever_the_ids(
    group: str, dedup: str | None, reason: str
) -> None:
    queue, sqs = client()
    queue.send("{}", attributes={"ErrorMessage": reason}, group_id=group, dedup_id=dedup)
    [sent] = sqs.sent
    assert refusal("SendMessage", sent) is None


@given(any_text.filter(bool))
def test_an_id_sqs_refuses_becomes_its_keyed_hash_the_same_each_time(text: str) -> None:
    queue, _ = client()
    derived = queue.fifo_id("group", text)
    assert derived == queue.fifo_id("group", text)
    if derived != text:
        assert derived == keyed_digest(KEY, f"sqs-group:{text}")
        assert derived != hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def test_different_ids_sqs_refuses_get_different_stand_ins() -> None:
    queue, _ = client()
    assert queue.fifo_id("dedup", "evt é 1") != queue.fifo_id("dedup", "evt é 2")
    assert queue.fifo_id("group", "ok-id") == "ok-id"  # what SQS takes is kept as it is


def test_without_a_hash_key_a_refused_id_is_never_a_plain_hash() -> None:
    queue, _ = client(keyed=False)
    assert queue.fifo_id("group", "Ticket é") == UNKEYED_GROUP
    first, second = queue.fifo_id("dedup", "evt é"), queue.fifo_id("dedup", "evt é")
    assert first != second  # random: SQS's deduplication does not apply to such an id
    assert first != hashlib.sha256("evt é".encode()).hexdigest()


@given(any_text)
def test_displayable_text_is_what_sqs_stores_and_no_terminal_acts_on(text: str) -> None:
    shown = displayable(text)
    assert refusal("SendMessage", {"QueueUrl": "q", "MessageBody": shown or "-"}) is None
    assert terminal_safe(shown)
    assert "\x1b" not in shown
    if text.isprintable():
        assert shown == text


def test_escape_sequences_go_whole_and_breaks_become_spaces() -> None:
    assert displayable("\x1b[31mred\x1b[0m \x1b]0;title\x07ok") == "red ok"
    assert displayable("a\tb\nc\r\nd") == "a b c  d"
    assert displayable("\u202eevil\u2066") == "evil"
    assert displayable("NUL\x00 \uffff\ufffe end") == "NUL  end"


@given(any_text)
def test_scrubbed_text_is_displayable(text: str) -> None:
    assert displayable(scrub(text)) == scrub(text)


def test_a_control_character_inside_a_number_does_not_hide_it() -> None:
    assert scrub("call 9876\x1b[0m543210 now") == "call ***3210 now"


@given(st.dictionaries(st.text(alphabet="abcdefgh", min_size=1), any_text, max_size=20))
def test_a_json_body_stays_the_same_document_and_sqs_takes_it(document: dict[str, str]) -> None:
    body = sqs_body(json.dumps(document, ensure_ascii=False))
    assert refusal("SendMessage", {"QueueUrl": "q", "MessageBody": body or "-"}) is None
    assert json.loads(body) == document


@given(st.integers(min_value=0, max_value=5000), st.text(min_size=1, max_size=2000))
def test_attributes_are_cut_to_fit_the_message_first_ones_kept_longest(
    spare: int, reason: str
) -> None:
    reason = displayable(reason) or "-"
    body = "x" * (MAX_MESSAGE_BYTES - spare)
    attributes = {"ErrorCode": "upstream_rejected", "ErrorMessage": reason, "ReceiveCount": "5"}
    fitted = fit_attributes(body, attributes)
    params = {
        "QueueUrl": "q",
        "MessageBody": body,
        "MessageAttributes": {
            name: {"DataType": "String", "StringValue": value} for name, value in fitted.items()
        },
    }
    assert refusal("SendMessage", params) is None
    if spare >= 100:
        assert fitted["ErrorCode"] == "upstream_rejected"
    assert list(fitted) == [name for name in attributes if name in fitted]


def test_dlq_list_shows_no_escape_sequence_or_bidi_override_of_a_parked_message() -> None:
    # Anyone who may send to the dead-letter queue may write there: the listing scrubs again.
    from masking_unset_tools.ops.dlq import parked_message

    message = {
        "MessageId": "m-1",
        "Body": '\x1b[2J{"event_id": "evt"}',
        "MessageAttributes": {
            "ErrorCode": {"DataType": "String", "StringValue": "upstream_rejected"},
            "ErrorMessage": {"DataType": "String", "StringValue": "\x1b]0;title\x07why \u202e"},
        },
    }
    shown = parked_message(message)
    assert shown.body == '{"event_id": "evt"}'
    assert shown.reason == "why "
