"""Redaction: phone numbers never leave this process whole, except in the call to DeepCall."""

from __future__ import annotations

import re

# A run of at least five digits, allowing the separators people put in phone numbers.
_NUMBER_RUN = re.compile(r"\+?\d(?:[\s\-().]*\d){4,}")


def redact_number(value: str | None) -> str:
    """Keep only the last four digits of a phone number: ``+91 80 4000 1234`` -> ``***1234``."""
    if not value:
        return ""
    digits = [ch for ch in value if ch.isdigit()]
    return "***" + "".join(digits[-4:])


def scrub(text: str) -> str:
    """Redact every digit run that could be a phone number inside free text."""
    return _NUMBER_RUN.sub(lambda match: redact_number(match.group(0)), text)
