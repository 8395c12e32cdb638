"""The OpenAPI 3.1 document of the webhook API, generated from the pydantic models and the source
registry (each source's credentials and content types, :data:`masking_unset.sources.SOURCES`).

``masking-unset openapi`` writes it to ``docs/openapi.json``; ``--check`` fails when the committed
file differs, so the document cannot drift from the models.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

from pydantic.json_schema import models_json_schema

from masking_unset.handlers.receiver import UNKNOWN_SOURCE
from masking_unset.models.accounts import ACCOUNT_NAME
from masking_unset.models.api import DeliveryResults, ErrorBody
from masking_unset.models.errors import (
    AuthenticationFailed,
    InFlight,
    InvalidEvent,
    InvalidNumber,
    MaskingUnsetError,
    MethodNotAllowed,
    PayloadTooLarge,
    UnknownAccount,
    UnknownSource,
    UpstreamRejected,
    UpstreamUnavailable,
)
from masking_unset.models.events import CloseEvent, UnsetResult
from masking_unset.models.expire_at import EXAMPLE as EXPIRE_AT_EXAMPLE
from masking_unset.models.http import MAX_WEBHOOK_BODY_BYTES as MAX_BODY_BYTES
from masking_unset.sources import SOURCES
from masking_unset.sources.base import JSON, MAX_EVENTS_PER_DELIVERY, Credential
from masking_unset_tools.ops.console import Out
from masking_unset_tools.ops.errors import OperationFailed, UsageError

API_VERSION: Final = "1.0.0"
DOCUMENT_PATH: Final = Path("docs") / "openapi.json"
_REF = "#/components/schemas/{model}"


def _schemas() -> dict[str, Any]:
    _, top = models_json_schema(
        [
            (CloseEvent, "validation"),
            (UnsetResult, "serialization"),
            (ErrorBody, "serialization"),
            (DeliveryResults, "serialization"),
        ],
        ref_template=_REF,
    )
    schemas: dict[str, Any] = top["$defs"]
    # A webhook's source is its URL; the body's own "source" is ignored, so it is not offered.
    close = schemas["CloseEvent"]
    close["properties"].pop("source", None)
    close["properties"].pop("account", None)  # likewise the account: /webhooks/{source}/{account}
    close["description"] = (
        "The canonical close event, the body of the `generic` source. Unknown fields are ignored. "
        "At least one of `mask`, `m1`, `m2` is needed, unless a masking was recorded for "
        "`ticket_id`. Ids may also be sent as JSON numbers."
    )
    # Kept as text by the model (a bad one is a 422 with its own code, not a wrong type).
    close["properties"]["expire_at"].update(
        description="A close's expiry as a moment: ISO 8601 with an offset, at most 366 days "
        "ahead; a moment already past expires the masking now. DeepCall is sent the whole "
        "minutes left at the call, rounded up. Not with expire_after_minutes.",
        examples=[EXPIRE_AT_EXAMPLE],
    )
    schemas["UnsetResult"]["properties"]["expires_at"]["description"] = (
        "scheduled or extended: when the masking expires, ISO 8601 in UTC (DeepCall's "
        "confirmation plus expires_in_minutes)."
    )
    return dict(sorted(schemas.items()))


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(model=name)}


def _json(schema: dict[str, Any], example: Any = None) -> dict[str, Any]:
    content: dict[str, Any] = {"schema": schema}
    if example is not None:
        content["example"] = example
    return {"application/json": content}


def _error_response(description: str, code: str, message: str) -> dict[str, Any]:
    example = {"error": {"code": code, "message": message}}
    return {"description": description, "content": _json(_ref("ErrorBody"), example)}


_RETRY_AFTER: Final = {
    "description": "Seconds to wait before delivering again.",
    "required": True,
    "schema": {"type": "string", "pattern": "^[0-9]+$"},
}


# OpenAPI ignores header parameters of these names (RFC 9110 fields it describes itself).
_IGNORED_HEADERS: Final = frozenset({"accept", "content-type", "authorization"})


def _credential(credential: Credential) -> dict[str, Any]:
    # Required by its own source only, so optional for the operation every source shares.
    schema: dict[str, Any] = {"type": "string"}
    if credential.pattern:
        schema["pattern"] = credential.pattern
    return {
        "name": credential.name.lower() if credential.location == "header" else credential.name,
        "in": credential.location,
        "required": False,
        "description": credential.description,
        "schema": schema,
    }


def _parameters(*, account: bool = False) -> list[dict[str, Any]]:
    parameters = [
        {
            "name": "source",
            "in": "path",
            "required": True,
            "description": "Who sends the webhook; decides how it is authenticated and read.",
            "schema": {"type": "string", "enum": list(SOURCES)},
        }
    ]
    if account:
        parameters.append(
            {
                "name": "account",
                "in": "path",
                "required": True,
                "description": "The DeepCall account (DEEPCALL_ACCOUNTS) whose masking it is.",
                "schema": {"type": "string", "pattern": f"^{ACCOUNT_NAME.pattern}$"},
            }
        )
    seen: set[tuple[str, str]] = set()
    for source in SOURCES.values():
        for credential in source.doc.credentials:
            key = (credential.location, credential.name.lower())
            ignored = credential.location == "header" and key[1] in _IGNORED_HEADERS
            if key not in seen and not ignored:
                seen.add(key)
                parameters.append(_credential(credential))
    return parameters


def _media_types(kind: str) -> list[str]:
    """The sources' media types other than JSON (``request`` or ``answer``), parameters left
    out, in registry order."""
    found: dict[str, None] = {}
    for source in SOURCES.values():
        content_type = getattr(source.doc, f"{kind}_content_type").split(";")[0].strip()
        if content_type != JSON:
            found[content_type] = None
    return list(found)


def _text(kind: str) -> dict[str, Any]:
    return {media_type: {"schema": {"type": "string"}} for media_type in _media_types(kind)}


def _payloads() -> str:
    summaries = " ".join(f"{name}: {source.doc.summary}" for name, source in SOURCES.items())
    return f"What the source's sender sends; the JSON schema is CloseEvent. {summaries}"


def _responses() -> dict[str, Any]:
    answer = {"anyOf": [_ref("UnsetResult"), _ref("DeliveryResults")]}
    return {
        "200": {
            "description": "Handled: expired, already expired, a duplicate, ignored (not a "
            "close) or a dry run. A delivery of several events answers each one's result. "
            "Salesforce receives its SOAP acknowledgement instead.",
            "content": {
                **_json(
                    answer,
                    {
                        "status": "unset",
                        "event_id": "evt-1001",
                        "ticket_id": "T-1001",
                        "target": {"mask": "***1234"},
                    },
                ),
                **_text("answer"),
            },
        },
        "202": {
            "description": "DeepCall is unavailable: the event was queued and will be retried.",
            "content": _json(_ref("UnsetResult")),
        },
        "400": _error_response(
            "The body cannot be read (not JSON, wrong shape or types).",
            InvalidEvent.code,
            "invalid event: mask: Input should be a valid string",
        ),
        "401": _error_response(
            "The signature or token is missing, wrong or stale.",
            AuthenticationFailed.code,
            "signature does not match",
        ),
        "404": _error_response(
            f"No such source, or no secret configured for it (`{UnknownSource.code}`); or no "
            f"such DeepCall account (`{UnknownAccount.code}`).",
            UnknownSource.code,
            UNKNOWN_SOURCE,
        ),
        "405": {
            **_error_response(
                "Only POST is accepted.", MethodNotAllowed.code, "only POST is accepted"
            ),
            "headers": {"Allow": {"required": True, "schema": {"type": "string", "const": "POST"}}},
        },
        "409": {
            **_error_response(
                "The same event is being processed by an earlier delivery (`in_progress`, with "
                "`Retry-After`), or an earlier attempt ended without recording whether the "
                "masking was expired and it is not sent to DeepCall again within the idempotency "
                "window (`outcome_unknown`, without `Retry-After`: see docs/idempotency.md).",
                InFlight.code,
                "the event is already being processed",
            ),
            "headers": {"Retry-After": {**_RETRY_AFTER, "required": False}},
        },
        "413": _error_response(
            f"The body is over {MAX_BODY_BYTES // 1024} KiB (payload_too_large), or the delivery "
            f"carries more than {MAX_EVENTS_PER_DELIVERY} events (too_many_events).",
            PayloadTooLarge.code,
            f"the body is over {MAX_BODY_BYTES // 1024} KiB",
        ),
        "422": _error_response(
            "Well-formed, but names no usable masking (no number, a number that is not only "
            "digits and separators, another country's number in national format, m1 = m2 as "
            "sent, no masking recorded for the ticket), or its occurred_at lies further ahead "
            "of now than OCCURRED_AT_MAX_SKEW_SECONDS (future_occurred_at), or its expire_at "
            "cannot be used: not an ISO 8601 time (invalid_expire_at), without an offset "
            "(expire_at_without_offset), more than 366 days ahead (expire_at_too_far), or sent "
            "with expire_after_minutes (expire_at_with_minutes).",
            InvalidNumber.code,
            "mask is not a phone number",
        ),
        "502": _error_response(
            "DeepCall refused the unset in a way a retry cannot fix.",
            UpstreamRejected.code,
            "DeepCall refused the request (code 1000)",
        ),
        "503": {
            "description": "Not done now, but a later delivery can succeed (DeepCall or AWS "
            "unavailable, a configuration being fixed). Deliver again after Retry-After. A "
            "multi-event delivery answers each one's result; Salesforce receives Ack false.",
            "headers": {"Retry-After": _RETRY_AFTER},
            "content": {
                **_json(
                    {"anyOf": [_ref("ErrorBody"), _ref("DeliveryResults")]},
                    {
                        "error": {
                            "code": UpstreamUnavailable.code,
                            "message": "DeepCall is unavailable",
                        }
                    },
                ),
                **_text("answer"),
            },
        },
        "500": _error_response(
            "A fault of the function itself (a bug): the body never holds a trace, a secret or "
            "a number. The sender may deliver again; the logs of the request id say what failed.",
            MaskingUnsetError.code,
            "the event could not be processed",
        ),
    }


def _operation(operation_id: str, *, account: bool = False) -> dict[str, Any]:
    summary = "A ticket closed: expire its masking"
    return {
        "operationId": operation_id,
        "summary": summary + (" at a named DeepCall account" if account else ""),
        "parameters": _parameters(account=account),
        "requestBody": {
            "required": True,
            "description": _payloads(),
            "content": {
                **_json(
                    _ref("CloseEvent"),
                    {"event_id": "evt-1001", "ticket_id": "T-1001", "mask": "+91 80 4000 1234"},
                ),
                **_text("request"),
            },
        },
        "responses": _responses(),
    }


def build_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``POST /webhooks/{source}``."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "masking-unset webhook API",
            "version": API_VERSION,
            "description": "Expire a DeepCall phone-number masking the moment a support ticket "
            "closes. Each source authenticates its own way (see the header and query parameters); "
            "numbers never come back whole, only their last four digits. Generated from the "
            "service's pydantic models by `masking-unset openapi`.",
        },
        "servers": [
            {"url": "http://127.0.0.1:8080", "description": "masking-unset serve (local)"},
            {
                "url": "https://{apiId}.execute-api.{region}.amazonaws.com",
                "description": "the deployed HTTP API",
                "variables": {
                    "apiId": {"default": "example"},
                    "region": {"default": "ap-south-1"},
                },
            },
        ],
        "paths": {
            "/webhooks/{source}": {"post": _operation("receiveWebhook")},
            "/webhooks/{source}/{account}": {
                "post": _operation("receiveAccountWebhook", account=True)
            },
        },
        "components": {"schemas": _schemas()},
    }


def render(document: dict[str, Any]) -> str:
    """The document as committed: indented JSON with a final newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def write_or_check(path: Path, *, check: bool, out: Out) -> None:
    """Write the document to ``path``, or with ``check`` raise :class:`OperationFailed` when the
    file there differs from what the models generate."""
    text = render(build_document())
    if not check:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"{path}: cannot be written ({exc.strerror or exc})") from None
        out(f"wrote {path}")
        return
    try:
        committed = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise OperationFailed(f"{path} does not exist: run `masking-unset openapi`") from None
    if committed != text:
        raise OperationFailed(f"{path} is out of date: run `masking-unset openapi` and commit it")
    out(f"{path} is up to date")
