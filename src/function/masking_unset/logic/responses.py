"""How outcomes become HTTP answers: one table from failure to status code."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from masking_unset.logic.failures import FailureKind, classify
from masking_unset.logic.retry import clamp
from masking_unset.models.errors import (
    AuthenticationFailed,
    InFlight,
    InvalidEvent,
    MaskingUnsetError,
    OutcomeUnknown,
    PayloadTooLarge,
    UnknownSource,
    UnusableTarget,
)
from masking_unset.models.events import Outcome, UnsetResult
from masking_unset.models.http import WebhookResponse

DEFAULT_RETRY_AFTER = 30
# Per event of a multi-event answer: with at most 100 events (MAX_EVENTS_PER_DELIVERY) and ids
# of at most 256 characters, the answer stays far below Lambda's 6 MB response limit.
MAX_ITEM_TEXT = 300


def _bounded(text: str) -> str:
    return text if len(text) <= MAX_ITEM_TEXT else text[: MAX_ITEM_TEXT - 1] + "…"


MAX_RETRY_AFTER = 3600  # whatever DeepCall asked for, a sender is never told to wait longer


class MethodNotAllowed(MaskingUnsetError):
    """Only POST is accepted."""

    code = "method_not_allowed"


# Order matters: subclasses before their bases.
_STATUS: tuple[tuple[type[MaskingUnsetError], int], ...] = (
    (InFlight, 409),
    (OutcomeUnknown, 409),
    (InvalidEvent, 400),
    (AuthenticationFailed, 401),
    (UnknownSource, 404),
    (MethodNotAllowed, 405),
    (PayloadTooLarge, 413),
    (UnusableTarget, 422),
)


@dataclass(frozen=True, slots=True)
class ItemOutcome:
    """The end of one close event of a delivery: a result, or the error that stopped it."""

    result: UnsetResult | None = None
    error: MaskingUnsetError | None = None

    @property
    def retryable(self) -> bool:
        """Whether the sender should deliver this event again."""
        return self.error is not None and classify(self.error) in RETRY_KINDS

    def summary(self) -> dict[str, Any]:
        """A caller-safe JSON summary, its free text bounded."""
        if self.result is not None:
            body = self.result.body()
            if isinstance(reason := body.get("reason"), str):
                body["reason"] = _bounded(reason)
            return body
        assert self.error is not None
        return {
            "status": "failed",
            "error": {"code": self.error.code, "message": _bounded(self.error.message)},
        }


RETRY_KINDS = frozenset(
    {
        FailureKind.RETRYABLE,
        FailureKind.CONFIGURATION,
        FailureKind.CREDENTIALS,
        FailureKind.UNRECOGNISED,
    }
)


def json_response(
    status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> WebhookResponse:
    """A JSON response."""
    return WebhookResponse(status=status, body=json.dumps(body), headers=dict(headers or {}))


def error_response(
    status: int,
    error: MaskingUnsetError | tuple[str, str],
    headers: Mapping[str, str] | None = None,
) -> WebhookResponse:
    """``{"error": {"code", "message"}}`` with ``status``."""
    code, message = (error.code, error.message) if isinstance(error, MaskingUnsetError) else error
    return json_response(status, {"error": {"code": code, "message": message}}, headers)


def retry_after_header(exc: MaskingUnsetError | None, default: int) -> dict[str, str]:
    """``Retry-After`` in whole seconds: what DeepCall asked for, else ``default``."""
    seconds = getattr(exc, "retry_after", None) or default
    return {"Retry-After": str(math.ceil(clamp(float(seconds), 1.0, MAX_RETRY_AFTER)))}


def failure_response(
    exc: MaskingUnsetError, retry_after: int = DEFAULT_RETRY_AFTER
) -> WebhookResponse:
    """The HTTP answer for one failure: 4xx for the caller's mistakes, 502 for a refusal that a
    retry can't fix, 503 with ``Retry-After`` when a later delivery can succeed."""
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            headers = {"Allow": "POST"} if status == 405 else None
            if isinstance(exc, InFlight):  # the first delivery is still running: come back shortly
                headers = {"Retry-After": "5"}
            return error_response(status, exc, headers)
    if classify(exc) in RETRY_KINDS:
        return error_response(503, exc, retry_after_header(exc, retry_after))
    return error_response(502, exc)


def default_response(
    outcomes: Sequence[ItemOutcome], retry_after: int = DEFAULT_RETRY_AFTER
) -> WebhookResponse:
    """One event: its own answer. Several: 200 with each one's result, unless one of them needs
    the sender to retry (503; the ones that succeeded come back as duplicates)."""
    if len(outcomes) == 1:
        [outcome] = outcomes
        if outcome.result is not None:
            status = 202 if outcome.result.status is Outcome.QUEUED else 200
            return json_response(status, outcome.result.body())
        assert outcome.error is not None
        return failure_response(outcome.error, retry_after)
    retry = [o for o in outcomes if o.retryable]
    body = {
        "status": "retry" if retry else "processed",
        "results": [outcome.summary() for outcome in outcomes],
    }
    if retry:
        return json_response(503, body, retry_after_header(retry[0].error, retry_after))
    return json_response(200, body)
