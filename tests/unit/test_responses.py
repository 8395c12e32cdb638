"""Multi-event answers stay bounded whatever their events carry."""

from __future__ import annotations

import json

from masking_unset.handlers.responses import MAX_ITEM_TEXT, default_response
from masking_unset.logic.webhooks import ItemOutcome
from masking_unset.models.errors import InvalidEvent, UpstreamUnavailable
from masking_unset.models.events import Outcome, UnsetResult
from masking_unset.sources.base import MAX_EVENTS_PER_DELIVERY

LAMBDA_RESPONSE_LIMIT = 6 * 1024 * 1024


def test_the_largest_delivery_answer_fits_lambdas_response_limit() -> None:
    long_id = "\U0001f600" * 256  # the longest id, each character escaped to 12 bytes
    outcomes = [
        ItemOutcome(
            result=UnsetResult(
                status=Outcome.QUEUED if index % 2 else Outcome.IGNORED,
                event_id=long_id,
                ticket_id=long_id,
                reason="\u2028" * 100_000,
            )
        )
        if index % 3
        else ItemOutcome(error=InvalidEvent("\U0001f600" * 100_000))
        for index in range(MAX_EVENTS_PER_DELIVERY)
    ]
    response = default_response(outcomes)
    assert len(response.body.encode()) < LAMBDA_RESPONSE_LIMIT // 4
    for item in json.loads(response.body)["results"]:
        text = item.get("reason") or item["error"]["message"]
        assert len(text) <= MAX_ITEM_TEXT


def test_a_retry_answer_is_bounded_too() -> None:
    outcomes = [ItemOutcome(error=UpstreamUnavailable("down " * 10_000))] * 2
    response = default_response(outcomes)
    assert response.status == 503
    assert all(
        len(item["error"]["message"]) <= MAX_ITEM_TEXT
        for item in json.loads(response.body)["results"]
    )
