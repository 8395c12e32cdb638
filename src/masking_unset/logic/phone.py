"""Phone-number parsing and formatting for DeepCall, on top of ``phonenumbers``."""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers

from masking_unset.config import NumberFormat
from masking_unset.logic.redact import redact_number
from masking_unset.models.errors import InvalidNumber

_MAX_INPUT_LENGTH = 64  # longer text is not a phone number; don't hand it to the parser


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


def parse_number(raw: str, *, field: str, region: str) -> PhoneNumber:
    """Parse ``raw`` in local or international notation.

    Raises :class:`InvalidNumber` naming ``field`` (never the number) when ``raw`` is not a
    possible phone number for ``region``.
    """
    text = raw.strip()
    if not text or len(text) > _MAX_INPUT_LENGTH:
        raise InvalidNumber(f"{field} is not a phone number")
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise InvalidNumber(f"{field} is not a phone number") from None
    # "possible" checks the length for the region; "valid" would also reject newly issued
    # ranges missing from the metadata, and leave a real masking active.
    if not phonenumbers.is_possible_number(number):
        raise InvalidNumber(f"{field} ({redact_number(text)}) is not a possible phone number")
    return PhoneNumber(
        country_code=int(number.country_code or 0),
        national=phonenumbers.national_significant_number(number),
    )
