"""The one JSON loader for input from outside, and every reader that goes through it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from masking_unset.config import Settings
from masking_unset.logic.batch import parse_record
from masking_unset.logic.envelopes import unwrap
from masking_unset.models.errors import MalformedBody, PayloadTooLarge
from masking_unset.models.events import CloseEvent
from masking_unset.models.http import WebhookRequest
from masking_unset.models.json_input import MAX_BYTES, MAX_DEPTH, load_json
from masking_unset.sources import get_source

SETTINGS = Settings.from_env(
    {
        "DEEPCALL_BASE_URL": "https://api.example.com",
        "DEEPCALL_SECRET_ID": "arn:secret",
        "HUBSPOT_CLOSED_STAGES": "4",
    }
)


def nested(depth: int) -> str:
    """``depth`` levels: arrays inside an object, the shape of a real payload gone wrong."""
    return '{"a": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"


HOSTILE = {
    "200000 brackets": "[" * 200_000,
    "deep objects": '{"a":' * 50_000 + "1" + "}" * 50_000,
    "one level too deep": nested(MAX_DEPTH + 1),
    "lone surrogate": '{"mask": "\\ud800"}',
    "lone surrogate in a key": '{"\\udfff": 1}',
    "NaN": '{"occurred_at": NaN}',
    "Infinity": "[-Infinity]",
    "5000-digit integer": '{"mask": ' + "9" * 5000 + "}",
    "not JSON": "{'a': 1}",
    "empty": "",
}


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_documents_are_malformed(text: str) -> None:
    for raw in (text, text.encode("utf-8", "surrogatepass")):
        with pytest.raises(MalformedBody) as caught:
            load_json(raw)
        assert caught.value.code == "malformed_body"


def test_invalid_utf8_and_raw_lone_surrogates_are_malformed() -> None:
    with pytest.raises(MalformedBody, match="UTF-8"):
        load_json(b'{"a": "\xff"}')
    with pytest.raises(MalformedBody, match="Unicode"):
        load_json('{"a": "\ud800"}')


def test_the_depth_limit_is_exact_and_pairs_of_surrogates_are_text() -> None:
    assert load_json(nested(MAX_DEPTH)) is not None
    assert load_json('"\\ud83d\\ude00"') == "\U0001f600"
    assert load_json(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}  # a UTF-8 byte order mark


def test_oversized_input_is_refused_before_it_is_parsed() -> None:
    with pytest.raises(PayloadTooLarge):
        load_json(b" " * (MAX_BYTES + 1))


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    # Lone surrogates are refused on purpose; every other character is text.
    | st.text(st.characters(exclude_categories=["Cs"])),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(st.characters(exclude_categories=["Cs"])), children, max_size=4)
    ),
    max_leaves=20,
)


@given(value=JSON_VALUES)
def test_every_json_document_round_trips(value: Any) -> None:
    assert load_json(json.dumps(value).encode()) == value
    assert load_json(json.dumps(value, ensure_ascii=False)) == value


@given(raw=st.binary(max_size=300))
def test_any_bytes_are_a_document_or_malformed(raw: bytes) -> None:
    code = None
    try:
        load_json(raw)
    except MalformedBody as exc:
        code = exc.code
    assert code in {None, "malformed_body"}


# --- every reader of outside JSON goes through it ---------------------------------------------

DEEP = "[" * 200_000


def test_the_generic_event_parser_refuses_deep_json() -> None:
    with pytest.raises(MalformedBody):
        CloseEvent.from_json(DEEP, source="generic")


@pytest.mark.parametrize(
    "body",
    ["[" * 200_000, '{"mask": "\\ud800"}', nested(MAX_DEPTH + 1)],
    ids=["deep", "lone", "too-deep"],
)
def test_a_queue_body_that_cannot_be_read_is_malformed(body: str) -> None:
    with pytest.raises(MalformedBody):
        parse_record(body)


def test_an_sns_message_is_read_with_the_same_bounds() -> None:
    with pytest.raises(MalformedBody, match="SNS"):
        unwrap({"Type": "Notification", "Message": DEEP})
    with pytest.raises(MalformedBody):
        parse_record(json.dumps({"Type": "Notification", "Message": '{"mask": "\\udc00"}'}))


@pytest.mark.parametrize("source", ["generic", "zendesk", "freshdesk", "hubspot"])
@pytest.mark.parametrize("body", [DEEP.encode(), b'{"a": "\\ud800"}'], ids=["deep", "lone"])
def test_every_json_source_refuses_unreadable_json(source: str, body: bytes) -> None:
    adapter = get_source(source)
    assert adapter is not None
    request = WebhookRequest(method="POST", path="/", source=source, headers={}, body=body)
    with pytest.raises(MalformedBody):
        adapter.parse(request, SETTINGS)
