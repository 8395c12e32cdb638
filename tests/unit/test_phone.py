"""Number parsing and formatting, and redaction."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from masking_unset.config import NumberFormat
from masking_unset.logic.phone import for_deepcall, parse_number
from masking_unset.models.errors import ForeignNumber, InvalidNumber
from masking_unset.models.redact import redact_number, scrub


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


# -- a number is digits, a leading +, spaces, dashes, dots and parentheses -------------------


@pytest.mark.parametrize(
    "raw",
    [
        "98765 4321O",  # a letter O for the zero
        "9876CALLME",  # a vanity number
        "{{ticket.ticket_field_360011112222}}",  # an unrendered placeholder
        "+91 98765 43210 ext. 12",
        "98765/43210",
        "tel:+919876543210",
        "+91 +98765 43210",  # a second plus
        "²9876543210",  # a superscript is no decimal digit
    ],
)
def test_anything_but_digits_and_separators_is_not_a_number(raw: str) -> None:
    with pytest.raises(InvalidNumber) as caught:
        parse_number(raw, field="mask", region="IN")
    assert caught.value.code == "invalid_number"
    assert sum(ch.isdigit() for ch in caught.value.message) <= 4


@pytest.mark.parametrize(
    "raw",
    [
        "+91 98765 43210",
        "+91 (98765) 43210",
        "+91.98765.43210",
        "+91\u00a098765\u2013" + "43210",  # a no-break space and an en dash
        "+९१ ९८७६५ ४३२१०",  # Devanagari digits
        # fullwidth
        "\uff0b\uff19\uff11\uff19\uff18\uff17\uff16\uff15\uff14\uff13\uff12\uff11\uff10",
    ],
)
def test_separators_and_digits_of_any_script_are_accepted(raw: str) -> None:
    assert parse_number(raw, field="mask", region="IN").e164 == "+919876543210"


@given(
    raw=st.text(max_size=30),
    letter=st.characters(categories=["Lu", "Ll", "Lt", "Lm", "Lo"]),
    at=st.integers(0, 30),
)
def test_any_text_with_a_letter_is_rejected(raw: str, letter: str, at: int) -> None:
    text = raw[:at] + letter + raw[at:]
    with pytest.raises(InvalidNumber):
        parse_number(text, field="mask", region="IN")


REGIONS = sorted(
    region
    for region in phonenumbers.SUPPORTED_REGIONS
    if phonenumbers.example_number_for_type(region, PhoneNumberType.MOBILE) is not None
)


@given(
    region=st.sampled_from(REGIONS),
    style=st.sampled_from(
        [PhoneNumberFormat.E164, PhoneNumberFormat.INTERNATIONAL, PhoneNumberFormat.NATIONAL]
    ),
    separator=st.sampled_from([" ", "-", ".", "\u00a0", "\u2013", ""]),
    script=st.sampled_from(["0", "\u0966", "\u0660", "\uff10"]),  # ASCII, Devanagari, ...
)
def test_valid_numbers_round_trip(region: str, style: int, separator: str, script: str) -> None:
    example = phonenumbers.example_number_for_type(region, PhoneNumberType.MOBILE)
    written = phonenumbers.format_number(example, style).replace(" ", separator)
    written = "".join(chr(ord(script) + int(ch)) if ch.isdigit() else ch for ch in written)
    if region == "AR" and style == PhoneNumberFormat.NATIONAL:
        # Argentina's national prefix rewrites 15 to 9: refused, the digits would change.
        with pytest.raises(InvalidNumber, match="rewritten"):
            parse_number(written, field="m", region=region)
        return
    number = parse_number(written, field="m", region=region)
    assert number.country_code == example.country_code
    assert number.national == phonenumbers.national_significant_number(example)
    assert number.formatted(NumberFormat.E164) == phonenumbers.format_number(
        example, PhoneNumberFormat.E164
    )


@given(raw=st.text(alphabet="0123456789+ -.()\u0966\u0967\u096f", max_size=30))
def test_the_digits_sent_are_the_digits_given(raw: str) -> None:
    try:
        number = parse_number(raw, field="mask", region="IN")
    except InvalidNumber:
        return
    given_digits = "".join(str(int(ch)) for ch in raw if ch.isdigit())
    # Beyond the country code and national prefix nothing is added, dropped or changed.
    assert given_digits.endswith(number.national)
    for fmt in NumberFormat:
        sent = number.formatted(fmt)
        assert sent.lstrip("+").endswith(number.national)


@pytest.mark.parametrize(
    ("raw", "fmt", "expected"),
    [
        ("+91 98765 43210", NumberFormat.NATIONAL, "9876543210"),
        ("+1 987-654-3210", NumberFormat.E164, "+19876543210"),
        ("+1 987-654-3210", NumberFormat.DIGITS, "19876543210"),
    ],
)
def test_for_deepcall_keeps_the_country(raw: str, fmt: NumberFormat, expected: str) -> None:
    number = parse_number(raw, field="m1", region="IN")
    assert for_deepcall(number, fmt, field="m1", region="IN") == expected


def test_a_foreign_number_cannot_be_written_nationally() -> None:
    number = parse_number("+1 987-654-3210", field="m1", region="IN")
    with pytest.raises(ForeignNumber) as caught:
        for_deepcall(number, NumberFormat.NATIONAL, field="m1", region="IN")
    assert caught.value.code == "foreign_number"
    assert "m1" in caught.value.message
    assert "987" not in caught.value.message


# -- scrub: upstream text made safe ----------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "number ९८७६५४३२१० refused",
        "number ٩٨٧٦٥٤٣٢١٠ refused",
        "number 98765/43210 refused",
        "number 98765_43210 refused",
        "number 98765\u200b43210 refused",  # a zero-width space
        "number 9-8-7-6-5-4-3-2-1-0 refused",
        "number (+91) 98765 — 43210 refused",
    ],
)
def test_scrub_finds_numbers_in_any_script_and_with_any_separator(text: str) -> None:
    cleaned = scrub(text)
    digits = [ch for ch in cleaned if ch.isdigit()]
    assert len(digits) <= 4
    assert cleaned.startswith("number ***") or cleaned.startswith("number (***")
    assert cleaned.endswith(" refused")


def test_scrub_removes_secrets_it_is_given() -> None:
    cleaned = scrub("Invalid parameters: ssid s3cr3t-ssid-value", secrets=["s3cr3t-ssid-value"])
    assert cleaned == "Invalid parameters: ssid [redacted]"


# Secrets as stores hold them: no "[" (so none can pass for the "[redacted]" marker).
secret_text = st.text(
    alphabet=st.characters(categories=["L", "N"], include_characters="-_.:/+="),
    min_size=8,
    max_size=40,
).filter(lambda s: s not in "[redacted]")


@given(
    secret=secret_text,
    before=st.text(max_size=5000),
    after=st.text(max_size=200),
    limit=st.integers(1, 400),
)
def test_scrub_never_shows_a_secret_or_part_of_one_whatever_the_cut(
    secret: str, before: str, after: str, limit: int
) -> None:
    cleaned = scrub(before + secret + after, secrets=[secret], limit=limit)
    assert len(cleaned) <= limit
    # No secret, and no cut-off start of one in place of where it was.
    assert secret not in cleaned
    if secret not in before + after:
        assert not cleaned.removesuffix("…").endswith(secret[: len(secret) // 2 + 1])


def test_known_secrets_are_scrubbed_everywhere() -> None:
    from masking_unset.models.redact import remember_secrets

    remember_secrets(["remembered-webhook-secret-value"])
    assert "remembered" not in scrub("echo: remembered-webhook-secret-value")


@given(national=indian_mobile, cut=st.integers(4090, 4100))
def test_a_number_cut_by_the_length_bound_leaves_no_digits_behind(national: str, cut: int) -> None:
    text = "x" * (cut - 5) + national
    cleaned = scrub(text)
    assert national[:5] not in cleaned
    assert sum(ch.isdigit() for ch in cleaned) <= 4
