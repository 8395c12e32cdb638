"""Where a webhook source may find each field of its payload: the field names, and the
validated ``SOURCE_FIELDS_<SOURCE>`` overrides (a JMESPath expression per field) that settings
hold. Reading them is :mod:`masking_unset.logic.fields`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Annotated, Any

import jmespath  # type: ignore[import-untyped]
from jmespath.exceptions import JMESPathError  # type: ignore[import-untyped]
from pydantic import BeforeValidator

from masking_unset.models.deepcall import NUMBER_FIELDS

# The fields a source can read; every SOURCE_FIELDS_* key must be one of them.
ID_FIELDS = ("event_id", "ticket_id")
# The lifecycle fields: what the rule says happened (close or reopen), the status the ticket
# had before (a reopen is one only from a closed status), and this close's grace period or
# the moment it expires at.
LIFECYCLE_FIELDS = ("action", "previous_status", "expire_after_minutes", "expire_at")
FIELD_NAMES = (*ID_FIELDS, "status", "closed", *NUMBER_FIELDS, "occurred_at", *LIFECYCLE_FIELDS)
MAX_ID_LENGTH = 256  # the canonical event's own limit on an id


@lru_cache(maxsize=512)
def compiled(expression: str) -> Any:
    """The parsed JMESPath expression (cached: each one is parsed once per container)."""
    return jmespath.compile(expression)


def parse_field_overrides(value: object) -> object:
    """Validate a ``SOURCE_FIELDS_*`` value: a JSON object from field name to a JMESPath
    expression, or to ``null`` to stop reading that field. Errors name the field, never the
    payload."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = None
    if not isinstance(value, Mapping):
        raise ValueError('must be a JSON object such as {"mask": "detail.mask"}')
    overrides: dict[str, str | None] = {}
    for name, expression in value.items():
        if name not in FIELD_NAMES:
            raise ValueError(f"unknown field {str(name)[:40]!r}; known: {', '.join(FIELD_NAMES)}")
        if expression is None:
            overrides[name] = None
            continue
        if not isinstance(expression, str) or not expression.strip():
            raise ValueError(f"the expression for {name} must be a non-empty string or null")
        try:
            compiled(expression)
        except JMESPathError:
            raise ValueError(f"the expression for {name} is not valid JMESPath") from None
        overrides[name] = expression
    return overrides


FieldOverrides = Annotated[dict[str, str | None], BeforeValidator(parse_field_overrides)]
