"""Reading SQS records of any shape: never an exception, never an id that fails the batch."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from masking_unset.handlers.sqs import message_ids, read_record

VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=8,
)
RECORD_KEYS = st.sampled_from(["messageId", "receiptHandle", "body", "attributes"])
ATTRIBUTES = st.dictionaries(
    st.sampled_from(["ApproximateReceiveCount", "MessageGroupId"]), VALUES | st.text(max_size=12)
)


@given(record=VALUES | st.dictionaries(RECORD_KEYS, VALUES | ATTRIBUTES, max_size=4))
def test_any_record_is_read(record: object) -> None:
    parsed = read_record(record)
    assert isinstance(parsed.body, str)
    assert 0 <= parsed.receive_count <= 999_999_999
    assert parsed.group_id is None or isinstance(parsed.group_id, str)
    assert parsed.reportable == (parsed.message_id != "")


@given(records=st.lists(VALUES | st.dictionaries(RECORD_KEYS, VALUES, max_size=4), max_size=5))
def test_only_real_ids_are_ever_reported(records: list[Any]) -> None:
    assert all(isinstance(i, str) and i for i in message_ids(records))


@pytest.mark.parametrize(
    ("count", "expected"),
    [("3", 3), ("2000", 2000), ("9" * 5000, 1), ("²", 1), ("-1", 1), (" 3", 1), (7, 1)],
)
def test_the_receive_count_is_ascii_digits_or_a_first_delivery(
    count: object, expected: int
) -> None:
    record = {"messageId": "m", "attributes": {"ApproximateReceiveCount": count}}
    assert read_record(record).receive_count == expected


def test_a_record_too_deep_to_write_out_still_has_a_body() -> None:
    nested: list[Any] = []
    for _ in range(100_000):
        nested = [nested]
    assert "cannot be written" in read_record(nested).body
