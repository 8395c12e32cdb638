"""Reading API Gateway events: any input is a request or a 400 with a specific code."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from masking_unset.handlers.apigw import to_request
from masking_unset.models.errors import MalformedBody
from tests.integration.helpers import gateway_event

# Lone surrogates included: a str from a JSON event may hold them.
TEXT = st.text(st.characters(exclude_categories=()), max_size=12)
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(TEXT, children, max_size=3),
    max_leaves=8,
)
KEYS = st.sampled_from(
    [
        "version",
        "requestContext",
        "headers",
        "rawPath",
        "rawQueryString",
        "queryStringParameters",
        "pathParameters",
        "httpMethod",
        "path",
        "body",
        "isBase64Encoded",
    ]
)
CODES = {"unsupported_event", "invalid_encoding", "malformed_body"}


def read(event: object) -> str | None:
    """None when the event is read, else the code of the refusal."""
    try:
        to_request(event)
    except MalformedBody as exc:
        return exc.code
    return None


@given(event=VALUES)
def test_any_value_is_a_request_or_a_specific_400(event: object) -> None:
    assert read(event) in {None, *CODES}


@given(
    kind=st.sampled_from(["http", "rest", "url"]),
    changes=st.dictionaries(KEYS, VALUES, min_size=1, max_size=3),
    context=st.dictionaries(st.sampled_from(["http", "domainName", "requestId"]), VALUES),
)
def test_a_damaged_api_event_is_a_request_or_a_specific_400(
    kind: str, changes: dict[str, Any], context: dict[str, Any]
) -> None:
    event = gateway_event("{}", sign=False, kind=kind)
    event["requestContext"].update(context)
    event.update(changes)
    assert read(event) in {None, *CODES}


def test_what_a_request_holds_is_encodable_text() -> None:
    request = to_request(gateway_event('{"a": "\\ud800"}', sign=False))
    assert request.body == b'{"a": "\\ud800"}'  # an escape is text; the JSON loader judges it
    assert read({**gateway_event("{}", sign=False), "body": "\ud800"}) == "invalid_encoding"
