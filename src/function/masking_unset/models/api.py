"""The webhook API's answer bodies that are not :class:`UnsetResult` itself: the error body and
the answer to a delivery that carried several events. :mod:`masking_unset.handlers.responses`
renders every answer from them, and the OpenAPI document is generated from them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from masking_unset.models.events import UnsetResult


class ErrorDetail(BaseModel):
    """A stable machine code and a caller-safe message (never a number, a secret or a trace)."""

    model_config = ConfigDict(frozen=True)

    code: str = Field(
        description="Stable machine code, e.g. invalid_signature, invalid_number, "
        "upstream_unavailable.",
        examples=["invalid_signature"],
    )
    message: str = Field(description="Human-readable, caller-safe explanation.")


class ErrorBody(BaseModel):
    """``{"error": {"code", "message"}}``: why the request, or its only event, was refused."""

    model_config = ConfigDict(frozen=True)

    error: ErrorDetail


class FailedItem(BaseModel):
    """One event of a multi-event delivery that could not be handled."""

    model_config = ConfigDict(frozen=True)

    status: Literal["failed"] = "failed"
    error: ErrorDetail


class DeliveryResults(BaseModel):
    """The answer to a delivery that carried several events: one entry per event, in order.

    ``retry`` (HTTP 503) means at least one event needs the sender to deliver again; the events
    that succeeded come back as duplicates then.
    """

    model_config = ConfigDict(frozen=True)

    status: Literal["processed", "retry"]
    results: list[UnsetResult | FailedItem]
