"""The webhook API's answer bodies that are not :class:`UnsetResult` itself: the error body and
the answer to a delivery that carried several events. :mod:`masking_unset.handlers.responses`
renders every answer from them, and the OpenAPI document is generated from them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from masking_unset.models.events import UnsetResult

# Every model here answers only a refused request or a multi-event delivery: pydantic builds
# each validator on first use instead of at import, which a cold start's first event seldom needs.
_ON_FIRST_USE = ConfigDict(frozen=True, defer_build=True)


class ErrorDetail(BaseModel):
    """A stable machine code and a caller-safe message (never a number, a secret or a trace)."""

    model_config = _ON_FIRST_USE

    code: str = Field(
        description="Stable machine code, e.g. invalid_signature, invalid_number, "
        "upstream_unavailable.",
        examples=["invalid_signature"],
    )
    message: str = Field(description="Human-readable, caller-safe explanation.")


class ErrorBody(BaseModel):
    """``{"error": {"code", "message"}}``: why the request, or its only event, was refused."""

    model_config = _ON_FIRST_USE

    error: ErrorDetail


class FailedItem(BaseModel):
    """One event of a multi-event delivery that could not be handled."""

    model_config = _ON_FIRST_USE

    status: Literal["failed"] = "failed"
    error: ErrorDetail


class DeliveryResults(BaseModel):
    """The answer to a delivery that carried several events: one entry per event, in order.

    ``retry`` (HTTP 503) means at least one event needs the sender to deliver again; the events
    that succeeded come back as duplicates then.
    """

    model_config = _ON_FIRST_USE

    status: Literal["processed", "retry"]
    results: list[UnsetResult | FailedItem]
