"""Redaction: phone numbers never leave this process whole, except in the call to DeepCall, and
secrets never leave it at all."""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable

from masking_unset.models.queue import sqs_allows

MIN_DIGITS = 5  # fewer digits in a row are a code or a count, not a phone number
_MAX_SEPARATORS = 3  # "98765 - 43210" is one number; a sentence between digits is not
_MAX_INPUT = 4096  # text is cut to this before it is scanned (callers cut the result shorter)
_MAX_KNOWN_SECRETS = 256
_MIN_KNOWN_SECRET = 4  # shorter values would blank out ordinary words; callers pass their own
REDACTED = "[redacted]"

# What a terminal acts on: ANSI/VT escape sequences (CSI, OSC, DCS and the like, 7- and 8-bit) and
# the bidirectional overrides and isolates that make text read other than it is stored.
_ESCAPE_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"  # CSI
    r"|(?:\x1b[\]P^_X]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # OSC, DCS...
    r"|\x1b[ -/]*[0-~]?"  # any other escape
)
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
_LINE_BREAKS = frozenset("\t\n\v\f\r\x1c\x1d\x1e\x85\u2028\u2029")

_known_lock = threading.Lock()
_known_secrets: dict[str, None] = {}  # insertion-ordered set: the oldest is dropped first


def redact_number(value: str | None) -> str:
    """Keep only the last four digits of a phone number: ``+91 80 4000 1234`` -> ``***1234``."""
    if not value:
        return ""
    digits = [ch for ch in value if ch.isdigit()]
    return "***" + "".join(digits[-4:])


def remember_secrets(values: Iterable[object]) -> None:
    """Add secret values (credentials, webhook secrets) to those :func:`scrub` removes from any
    text, for the life of the container. Whoever reads a secret calls this."""
    with _known_lock:
        for value in values:
            if (
                isinstance(value, str)
                and len(value.strip()) >= _MIN_KNOWN_SECRET
                and value not in _known_secrets
            ):
                _known_secrets[value] = None
                if len(_known_secrets) > _MAX_KNOWN_SECRETS:
                    del _known_secrets[next(iter(_known_secrets))]


def _secrets(extra: Iterable[str]) -> list[str]:
    with _known_lock:
        known = list(_known_secrets)
    # Longest first, so that a secret containing another is removed whole.
    return sorted({*known, *(s for s in extra if s)}, key=len, reverse=True)


def _drop_cut_tail(text: str, secrets: list[str]) -> str:
    """Text cut short may end in part of a secret or of a number: drop that part."""
    text = _drop_secret_start(text, secrets)
    end = len(text)
    while end and (text[end - 1].isdigit() or _is_separator(text[end - 1])):
        end -= 1
    return _drop_secret_start(text[:end], secrets)


def _drop_secret_start(text: str, secrets: list[str]) -> str:
    longest = 0
    for secret in secrets:
        for k in range(min(len(secret) - 1, len(text)), longest, -1):
            if text.endswith(secret[:k]):
                longest = k
                break
    return text[: len(text) - longest]


def _is_separator(ch: str) -> bool:
    # Anything that is neither a letter nor a digit may sit between the digits of a number:
    # spaces of any kind, dashes, dots, slashes, invisible format characters.
    return not ch.isalnum()


def _redact_numbers(text: str) -> str:
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if not text[i].isdigit():
            out.append(text[i])
            i += 1
            continue
        start = end = i
        digits = 0
        k = i
        while k < n:
            if text[k].isdigit():
                digits += 1
                k += 1
                end = k
                continue
            gap = k
            while gap < n and gap - k < _MAX_SEPARATORS and _is_separator(text[gap]):
                gap += 1
            if gap == k or gap >= n or not text[gap].isdigit():
                break
            k = gap
        run = text[start:end]
        if digits < MIN_DIGITS:
            out.append(run)
        else:
            if out and out[-1] == "+":
                out.pop()  # "+91 98765 43210" -> "***3210", the sign with its number
            out.append(redact_number(run))
        i = end
    return "".join(out)


def displayable(text: str) -> str:
    """``text`` made safe to store in an SQS attribute and to show on a terminal: escape
    sequences and bidirectional controls removed, line and tab breaks made spaces, every other
    control character (C0, DEL, C1) and everything SQS refuses (lone surrogates, U+FFFE, U+FFFF)
    removed. Text without any of these is returned unchanged."""
    if text.isprintable():  # no control, format, surrogate or unassigned character at all
        return text
    text = _ESCAPE_SEQUENCE.sub("", text)
    return "".join(
        " " if ch in _LINE_BREAKS else ch for ch in text if ch in _LINE_BREAKS or _shown(ch)
    )


def _shown(ch: str) -> bool:
    return sqs_allows(ch) and unicodedata.category(ch) != "Cc" and ch not in _BIDI_CONTROLS


def scrub(text: str, *, secrets: Iterable[str] = (), limit: int = _MAX_INPUT) -> str:
    """``text`` from outside (an upstream answer) made safe to show: every known secret and
    every one of ``secrets`` replaced, every run of digits that could be a phone number (any
    script's digits, any separators) cut to its last four digits, nothing SQS cannot store or
    a terminal would act on (:func:`displayable`), and the result at most ``limit``
    characters. Text is never cut through a secret or a number before they are removed."""
    known = _secrets(secrets)
    if len(text) > _MAX_INPUT:
        text = _drop_cut_tail(text[:_MAX_INPUT], known) + "…"
    for secret in known:
        text = text.replace(secret, REDACTED)
    # Controls between the parts of a secret or the digits of a number must not hide them.
    shown = displayable(text)
    if shown != text:
        text = shown
        for secret in known:
            text = text.replace(secret, REDACTED)
    text = _redact_numbers(text)
    if len(text) > limit:
        text = text[: max(0, limit - 1)] + "…"
    return text


# A sender's value (a status, a stage) quoted back in a reason: at most this many characters.
SHOWN_VALUE_LENGTH = 40
_SCANNED_LENGTH = 256  # a longer value is cut before it is cleaned (and cut again after)


def shown_value(value: str) -> str:
    """A value a sender wrote (a status, a stage), made fit to quote back in a reason: no control
    or bidirectional character, blanks collapsed, every run of digits that could be a phone
    number cut to its last four digits, at most :data:`SHOWN_VALUE_LENGTH` characters (the last
    one ``…`` when cut), then backslashes and single quotes escaped."""
    text = displayable(value[:_SCANNED_LENGTH])
    # Anything else unprintable (zero-width, other spaces) becomes a blank, and blanks are
    # collapsed before numbers are looked for: afterwards, either could join two short runs of
    # digits into one long one that was never checked.
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    text = scrub(text, limit=SHOWN_VALUE_LENGTH).strip()
    return text.replace("\\", "\\\\").replace("'", "\\'")
