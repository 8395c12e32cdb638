"""Unwrapping the envelopes that fan-out services put around a close event."""

from __future__ import annotations

from typing import Any

from masking_unset.models.json_input import load_json


def unwrap(document: Any) -> Any:
    """The close event inside an SNS notification (``"Type": "Notification"``, JSON ``Message``)
    or an EventBridge event (``detail``); anything else is returned as it is."""
    if not isinstance(document, dict):
        return document
    if document.get("Type") == "Notification" and isinstance(document.get("Message"), str):
        return unwrap(load_json(document["Message"], what="the SNS notification's Message"))
    if "detail-type" in document and isinstance(document.get("detail"), dict):
        return document["detail"]
    return document
