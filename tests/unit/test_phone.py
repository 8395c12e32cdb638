"""Number parsing and formatting, and redaction."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from masking_unset.config import NumberFormat
from masking_unset.logic.phone import parse_number
from masking_unset.logic.redact import redact_number, scrub
from masking_unset.models.errors import InvalidNumber


@pytest.mark.parametrize(
    ("raw", "fmt", "expected"),
    [
        ("+91 80 4000 1234", NumberFormat.NATIONAL, "8040001234"),
        ("080-4000-1234", NumberFormat.NATIONAL, "8040001234"),
        ("9876543210", NumberFormat.E164, "+919876543210"),
        ("(098765) 43210", NumberFormat.DIGITS, "919876543210"),
        ("+1 415 555 0100", NumberFormat.E164, "+14155550100"),
        ("+1 415 555 0100", NumberFormat.NATIONAL, "4155550100"),
    ],
)
def test_formats(raw: str, fmt: NumberFormat, expected: str) -> None:
    assert parse_number(raw, field="mask", region="IN").formatted(fmt) == expected


@pytest.mark.parametrize("raw", ["", "   ", "abc", "12345", "+91 98765", "9" * 80, "+0 123"])
def test_unparsable_numbers_are_rejected_without_echoing_them(raw: str) -> None:
    with pytest.raises(InvalidNumber) as caught:
        parse_number(raw, field="m1", region="IN")
    assert "m1" in caught.value.message
    assert raw.strip() == "" or raw not in caught.value.message
    # At most the last four digits may appear.
    assert sum(ch.isdigit() for ch in caught.value.message.replace("m1", "")) <= 4


def test_region_changes_the_meaning_of_a_national_number() -> None:
    assert parse_number("4155550100", field="m", region="US").e164 == "+14155550100"
    assert parse_number("9876543210", field="m", region="IN").e164 == "+919876543210"


def test_repr_is_redacted() -> None:
    number = parse_number("+91 98765 43210", field="m", region="IN")
    assert "98765" not in repr(number)
    assert repr(number).endswith("3210)")


indian_mobile = st.builds(
    lambda first, rest: f"{first}{rest:09d}", st.sampled_from("6789"), st.integers(0, 10**9 - 1)
)


@given(
    national=indian_mobile,
    style=st.sampled_from(["{n}", "+91{n}", "+91 {a} {b}", "0{n}", "91-{n}"]),
)
def test_every_notation_of_a_number_normalises_to_the_same_value(national: str, style: str) -> None:
    raw = style.format(n=national, a=national[:5], b=national[5:])
    number = parse_number(raw, field="mask", region="IN")
    assert number.formatted(NumberFormat.NATIONAL) == national
    assert number.formatted(NumberFormat.E164) == "+91" + national
    assert number.formatted(NumberFormat.DIGITS) == "91" + national


@given(raw=st.text(max_size=70))
def test_parser_never_raises_anything_but_invalid_number(raw: str) -> None:
    try:
        number = parse_number(raw, field="mask", region="IN")
    except InvalidNumber:
        return
    assert number.national.isdigit()


def test_redact_number_keeps_last_four_digits() -> None:
    assert redact_number("+91 80 4000 1234") == "***1234"
    assert redact_number(None) == ""


@given(national=indian_mobile)
def test_scrub_removes_every_full_number_from_text(national: str) -> None:
    text = f"masking {national} and +91 {national[:5]} {national[5:]} failed"
    cleaned = scrub(text)
    assert national not in cleaned
    assert national[:5] not in cleaned
    assert cleaned.count("***" + national[-4:]) == 2
