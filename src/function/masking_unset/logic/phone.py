"""Phone-number parsing and formatting for DeepCall, on top of ``phonenumbers``."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import phonenumbers

from masking_unset.config import NumberFormat
from masking_unset.models.errors import ForeignNumber, InvalidNumber
from masking_unset.models.redact import redact_number

_MAX_INPUT_LENGTH = 64  # longer text is not a phone number; don't hand it to the parser
_PLUS = "+\uff0b"  # and its fullwidth form
_PUNCTUATION = ".()\uff0e\uff08\uff09"  # and their fullwidth forms; dashes are any Pd character


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    """A parsed number; ``repr`` is redacted so it is safe in logs and tracebacks."""

    country_code: int
    national: str

    @property
    def e164(self) -> str:
        """``+`` country code and national significant number."""
        return f"+{self.country_code}{self.national}"

    def formatted(self, fmt: NumberFormat) -> str:
        """The number written as DeepCall is configured to expect it."""
        match fmt:
            case NumberFormat.NATIONAL:
                return self.national
            case NumberFormat.E164:
                return self.e164
            case NumberFormat.DIGITS:
                return f"{self.country_code}{self.national}"

    @property
    def redacted(self) -> str:
        """Last four digits only."""
        return redact_number(self.national)

    def __repr__(self) -> str:
        return f"PhoneNumber({self.redacted})"

    __str__ = __repr__


def number_text(raw: str, *, field: str) -> str:
    """The number as ``+`` and ASCII digits, or :class:`InvalidNumber` naming ``field``.

    A number is digits (of any script, read as their ASCII value) with an optional leading ``+``
    and spaces, dashes, dots and parentheses between them. Anything else - a letter (vanity
    numbers, a letter O for a zero), an unrendered ``{{placeholder}}``, ``ext.``, a slash - makes
    it no number: the parser must not guess, or another masking may be expired.
    """
    text = raw.strip()
    if not text or len(text) > _MAX_INPUT_LENGTH:
        raise InvalidNumber(f"{field} is not a phone number")
    out: list[str] = []
    for position, ch in enumerate(text):
        if unicodedata.category(ch) == "Nd":
            out.append(str(unicodedata.decimal(ch)))
        elif ch in _PLUS and position == 0:
            out.append("+")
        elif not (ch.isspace() or ch in _PUNCTUATION or unicodedata.category(ch) == "Pd"):
            raise InvalidNumber(
                f"{field} may hold only digits, a leading +, spaces, dashes, dots and parentheses"
            )
    number = "".join(out)
    if not number.lstrip("+"):
        raise InvalidNumber(f"{field} is not a phone number")
    return number


def parse_number(raw: str, *, field: str, region: str) -> PhoneNumber:
    """Parse ``raw`` in local or international notation (see :func:`number_text`).

    Raises :class:`InvalidNumber` naming ``field`` (never the number) when ``raw`` is not a
    possible phone number for ``region``, or when reading it would change its digits beyond the
    country code and national prefix (the national significant number is always the tail of the
    digits given).
    """
    text = number_text(raw, field=field)
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise InvalidNumber(f"{field} is not a phone number") from None
    # "possible" checks the length for the region; "valid" would also reject newly issued
    # ranges missing from the metadata, and leave a real masking active.
    if not phonenumbers.is_possible_number(number):
        raise InvalidNumber(f"{field} ({redact_number(text)}) is not a possible phone number")
    national = phonenumbers.national_significant_number(number)
    if not text.lstrip("+").endswith(national):
        # A national-prefix rewrite (Argentina's 15 -> 9, for one): not the number given.
        raise InvalidNumber(
            f"{field} ({redact_number(text)}) would be rewritten: give it with its country code"
        )
    return PhoneNumber(country_code=int(number.country_code or 0), national=national)


def for_deepcall(number: PhoneNumber, fmt: NumberFormat, *, field: str, region: str) -> str:
    """``number`` written in ``fmt`` for DeepCall. In ``national`` format a number of another
    country than ``region`` would lose its country code and could name someone else's masking:
    :class:`ForeignNumber` instead."""
    if fmt is NumberFormat.NATIONAL and number.country_code != _country_code(region):
        raise ForeignNumber(
            f"{field} ({number.redacted}) is not a {region} number, and DEEPCALL_NUMBER_FORMAT "
            "national cannot say which country it belongs to"
        )
    return number.formatted(fmt)


def _country_code(region: str) -> int:
    return int(phonenumbers.country_code_for_region(region))
