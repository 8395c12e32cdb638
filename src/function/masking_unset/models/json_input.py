"""The one way JSON from outside is read: webhook bodies, queue messages, their envelopes and
DeepCall's answers. Bounded in size and depth, strict UTF-8, standard JSON only."""

from __future__ import annotations

import json
import re
from typing import Any, NoReturn

from masking_unset.models.errors import MalformedBody, PayloadTooLarge

# Every payload this service reads nests under 10 levels; 64 leaves room for any envelope while
# keeping the C parser, JMESPath and pydantic far from Python's recursion limit.
MAX_DEPTH = 64
MAX_BYTES = 1024 * 1024  # SQS's own limit; webhook bodies are capped lower before this
# A lone surrogate ("\ud800" escaped in the JSON) is no character: it cannot be encoded, logged
# or sent on, so a document holding one is refused here rather than failing later.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def load_json(raw: bytes | str, *, what: str = "body", max_depth: int = MAX_DEPTH) -> Any:
    """The decoded JSON document in ``raw``.

    Raises :class:`MalformedBody` (``malformed_body``) when it is not UTF-8, not standard JSON
    (``NaN`` and ``Infinity`` are refused), nested more than ``max_depth`` levels or holds a lone
    surrogate; :class:`PayloadTooLarge` when it is over :data:`MAX_BYTES`. ``what`` names the
    input in the message (never its content).
    """
    if len(raw) > MAX_BYTES:
        raise PayloadTooLarge(f"{what} is over {MAX_BYTES // 1024} KiB")
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise MalformedBody(f"{what} is not valid UTF-8") from None
    else:
        text = raw
    try:
        document = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise MalformedBody(f"{what} is nested more than {max_depth} levels deep") from None
    except ValueError:  # JSONDecodeError, and integers over Python's digit limit
        raise MalformedBody(f"{what} is not valid JSON") from None
    _check(document, what, max_depth)
    return document


def _check(document: Any, what: str, max_depth: int) -> None:
    # Iterative: a recursive walk would hit the very limit it is checking for.
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if _LONE_SURROGATE.search(value):
                raise MalformedBody(f"{what} holds text that is not valid Unicode")
        elif isinstance(value, dict | list):
            if depth > max_depth:
                raise MalformedBody(f"{what} is nested more than {max_depth} levels deep")
            if isinstance(value, dict):
                stack.extend((key, depth) for key in value)
                stack.extend((item, depth + 1) for item in value.values())
            else:
                stack.extend((item, depth + 1) for item in value)
