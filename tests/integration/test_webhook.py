"""The webhook handler end to end: moto server for secrets, DeepCall stand-in over HTTP."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from masking_unset.handlers.webhook import lambda_handler
from masking_unset_tools.local.deepcall_standin import Fault
from masking_unset_tools.local.lambda_context import LocalLambdaContext
from masking_unset_tools.local.stack import DEMO_SSID, LocalStack
from tests.integration.helpers import gateway_event, response_json
from tests.support.aws import put_secret
from tests.support.deepcall import ScriptedDeepCall

CLOSE = {"event_id": "evt-1", "ticket_id": "T-42", "mask": "+91 80 4000 1234"}


def invoke(event: dict[str, Any]) -> dict[str, Any]:
    return lambda_handler(event, LocalLambdaContext())  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["http", "rest", "url"])
@pytest.mark.parametrize("base64_body", [False, True])
def test_signed_close_event_expires_the_masking(
    stack: LocalStack, deepcall: ScriptedDeepCall, kind: str, base64_body: bool
) -> None:
    response = invoke(gateway_event(CLOSE, kind=kind, base64_body=base64_body))

    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "application/json"
    assert response_json(response) == {
        "status": "unset",
        "event_id": "evt-1",
        "ticket_id": "T-42",
        "target": {"mask": "***1234"},
    }
    [call] = deepcall.unset_calls
    assert call.path == "/api/v2/Masking/unset"
    assert call.json == {"ssid": DEMO_SSID, "mask": "8040001234", "expiry_duration": -1}


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [("national", "9876543210"), ("e164", "+919876543210"), ("digits", "919876543210")],
)
def test_number_format_is_configurable(
    stack: LocalStack,
    deepcall: ScriptedDeepCall,
    monkeypatch: pytest.MonkeyPatch,
    fmt: str,
    expected: str,
) -> None:
    monkeypatch.setenv("DEEPCALL_NUMBER_FORMAT", fmt)
    body = {"ticket_id": "T-1", "m1": "98765 43210", "m2": "+91 91234 56780"}
    assert invoke(gateway_event(body))["statusCode"] == 200
    [call] = deepcall.unset_calls
    assert call.json is not None
    assert call.json["m1"] == expected
    assert "mask" not in call.json


def test_delivery_id_stands_in_for_a_missing_event_id(
    stack: LocalStack, deepcall: ScriptedDeepCall
) -> None:
    body = {"ticket_id": "T-9", "mask": "08040001234"}
    response = invoke(gateway_event(body, msg_id="msg_delivery_9"))
    assert response_json(response)["event_id"] == "msg_delivery_9"


def test_token_credentials_are_sent_without_ssid(
    stack: LocalStack, deepcall: ScriptedDeepCall
) -> None:
    put_secret(stack, stack.deepcall_secret_id, {"userId": "u-1", "token": "tok-1"})
    deepcall.set_credentials({"userId": "u-1", "token": "tok-1"})
    assert invoke(gateway_event(CLOSE))["statusCode"] == 200
    [call] = deepcall.unset_calls
    assert call.json == {
        "userId": "u-1",
        "token": "tok-1",
        "mask": "8040001234",
        "expiry_duration": -1,
    }


@pytest.mark.parametrize(
    ("event_kwargs", "status", "code"),
    [
        ({"sign": False}, 401, "missing_signature"),
        ({"secret": "whsec_" + "d3Jvbmctc2VjcmV0LWtleQ=="}, 401, "invalid_signature"),
        ({"timestamp": -600}, 401, "stale_signature"),
        ({"timestamp": +600}, 401, "stale_signature"),
        ({"source": "nosuchcrm"}, 404, "unknown_source"),
        ({"method": "GET"}, 405, "method_not_allowed"),
    ],
)
def test_rejected_requests_change_nothing(
    stack: LocalStack,
    deepcall: ScriptedDeepCall,
    event_kwargs: dict[str, Any],
    status: int,
    code: str,
) -> None:
    if "timestamp" in event_kwargs:  # an offset from now, taken when the test runs
        event_kwargs = {**event_kwargs, "timestamp": int(time.time()) + event_kwargs["timestamp"]}
    response = invoke(gateway_event(CLOSE, **event_kwargs))
    assert response["statusCode"] == status
    assert response_json(response)["error"]["code"] == code
    assert deepcall.unset_calls == []


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "malformed_body"),
        (b"[]", 400, "malformed_body"),
        (b'{"mask": 8040001234}', 400, "invalid_event"),
        (b'{"event_id": "e-1"}', 422, "no_target"),
        (b'{"ticket_id": "T-1"}', 422, "unresolved_target"),
        (b'{"mask": "12"}', 422, "invalid_number"),
        (b'{"m1": "9876543210", "m2": "+91 98765 43210"}', 422, "same_numbers"),
    ],
)
def test_bad_bodies_get_a_specific_error(
    stack: LocalStack, deepcall: ScriptedDeepCall, body: bytes, status: int, code: str
) -> None:
    response = invoke(gateway_event(body))
    assert response["statusCode"] == status
    error = response_json(response)["error"]
    assert error["code"] == code
    assert "Traceback" not in response["body"]
    assert "9876543210" not in response["body"]
    assert deepcall.unset_calls == []


def test_oversized_body_is_413(stack: LocalStack, deepcall: ScriptedDeepCall) -> None:
    body = {**CLOSE, "padding": "x" * (256 * 1024)}
    response = invoke(gateway_event(body))
    assert response["statusCode"] == 413
    assert response_json(response)["error"]["code"] == "payload_too_large"
    assert deepcall.unset_calls == []


def test_body_at_the_limit_is_accepted(stack: LocalStack, deepcall: ScriptedDeepCall) -> None:
    import json

    base = json.dumps({**CLOSE, "padding": ""})
    body = json.dumps({**CLOSE, "padding": "x" * (256 * 1024 - len(base))})
    assert len(body) == 256 * 1024
    assert invoke(gateway_event(body))["statusCode"] == 200


def test_source_without_secret_is_404(stack: LocalStack, deepcall: ScriptedDeepCall) -> None:
    put_secret(stack, stack.webhook_secrets_id, {"zendesk": ["x"]})
    response = invoke(gateway_event(CLOSE))
    assert response["statusCode"] == 404
    assert deepcall.unset_calls == []


def test_rotated_webhook_secrets_both_verify(stack: LocalStack, deepcall: ScriptedDeepCall) -> None:
    new = "whsec_" + "bmV3LXNpZ25pbmcta2V5LTIwMjYtcm90YXRlZC1pbg=="
    from masking_unset_tools.local.stack import DEMO_WEBHOOK_SECRET

    put_secret(stack, stack.webhook_secrets_id, {"generic": [new, DEMO_WEBHOOK_SECRET]})
    assert invoke(gateway_event(CLOSE, secret=new))["statusCode"] == 200
    other = {**CLOSE, "event_id": "evt-other", "mask": "+91 80 4000 5678"}
    assert invoke(gateway_event(other, secret=DEMO_WEBHOOK_SECRET))["statusCode"] == 200
    assert len(deepcall.unset_calls) == 2


def queued_events(stack: LocalStack) -> list[dict[str, Any]]:
    sqs = stack.aws.client("sqs")
    messages = sqs.receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in messages.get("Messages", [])]


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPCALL_RETRY_BASE_SECONDS", "0")
    monkeypatch.setenv("RETRY_AFTER_CAP_SECONDS", "0")


@pytest.mark.usefixtures("fast_retries")
@pytest.mark.parametrize(
    ("fault", "code"),
    [
        (Fault(status=500, body=b'{"oops": true}'), "upstream_unavailable"),
        (Fault.html(status=502), "upstream_bad_response"),
        (Fault.error(1009, "Something went wrong"), "upstream_rejected"),
        (Fault(reset=True), "upstream_unreachable"),
        (Fault(truncate=True), "upstream_bad_response"),
    ],
)
def test_deepcall_down_hands_the_event_to_the_queue(
    stack: LocalStack, deepcall: ScriptedDeepCall, fault: Fault, code: str
) -> None:
    deepcall.enqueue(fault, fault, fault)
    response = invoke(gateway_event(CLOSE))
    assert response["statusCode"] == 202
    body = response_json(response)
    assert body["status"] == "queued"
    assert body["event_id"] == "evt-1"
    assert len(deepcall.unset_calls) == 3  # the in-function attempts
    # A cut-off answer may follow a request DeepCall did carry out; the others never reached it.
    assert sum(deepcall.expired.values()) == (1 if fault.truncate else 0)
    [queued] = queued_events(stack)
    assert queued == {**CLOSE, "source": "generic"}


@pytest.mark.usefixtures("fast_retries")
def test_queued_event_is_expired_by_the_queue_handler(
    stack: LocalStack, deepcall: ScriptedDeepCall
) -> None:
    from masking_unset.handlers.queue import lambda_handler as queue_handler

    deepcall.enqueue(*[Fault(status=503, body=b"down")] * 3)
    assert invoke(gateway_event(CLOSE))["statusCode"] == 202
    sqs = stack.aws.client("sqs")
    [message] = sqs.receive_message(QueueUrl=stack.queue_url, AttributeNames=["All"])["Messages"]
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {"ApproximateReceiveCount": "1"},
    }
    answer = queue_handler({"Records": [record]}, LocalLambdaContext())  # type: ignore[arg-type]
    assert answer == {"batchItemFailures": []}
    assert list(deepcall.expired) == ["8040001234"]


@pytest.mark.usefixtures("fast_retries")
def test_transient_failure_recovers_within_the_invocation(
    stack: LocalStack, deepcall: ScriptedDeepCall
) -> None:
    deepcall.enqueue(Fault(status=502, body=b"<html/>"), Fault.retry_after(0))
    response = invoke(gateway_event(CLOSE))
    assert response["statusCode"] == 200
    assert response_json(response)["status"] == "unset"
    assert len(deepcall.unset_calls) == 3
    assert queued_events(stack) == []


@pytest.mark.usefixtures("fast_retries")
def test_without_a_queue_a_transient_failure_is_503_with_retry_after(
    stack: LocalStack, deepcall: ScriptedDeepCall, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUEUE_URL", stack.queue_url + "-missing")
    deepcall.enqueue(*[Fault.retry_after(7)] * 3)
    response = invoke(gateway_event(CLOSE))
    assert response["statusCode"] == 503
    assert response["headers"]["Retry-After"] == "7"
    assert response_json(response)["error"]["code"] == "upstream_unavailable"


def test_permanent_deepcall_refusal_is_502(stack: LocalStack, deepcall: ScriptedDeepCall) -> None:
    deepcall.enqueue(Fault.error(1000, "Invalid parameters for 9876543210"))
    response = invoke(gateway_event(CLOSE))
    assert response["statusCode"] == 502
    error = response_json(response)["error"]
    assert error["code"] == "upstream_rejected"
    assert "1000" in error["message"]
    assert "9876543210" not in response["body"]
    assert "***3210" in error["message"]


def test_rotated_deepcall_credential_is_reread_once(
    stack: LocalStack, deepcall: ScriptedDeepCall
) -> None:
    # Warm the cache with the old credential, then rotate at DeepCall and in Secrets Manager.
    assert invoke(gateway_event(CLOSE))["statusCode"] == 200
    deepcall.set_credentials({"ssid": "rotated"})
    put_secret(stack, stack.deepcall_secret_id, {"ssid": "rotated"})

    second = {**CLOSE, "event_id": "evt-2", "mask": "+91 80 4000 5678"}
    assert invoke(gateway_event(second))["statusCode"] == 200
    bodies = [call.json for call in deepcall.unset_calls]
    assert [b["ssid"] for b in bodies if b] == [DEMO_SSID, DEMO_SSID, "rotated"]


def test_refused_credential_after_refresh_is_a_configuration_error(
    stack: LocalStack, deepcall: ScriptedDeepCall
) -> None:
    deepcall.set_credentials({"ssid": "something-else"})
    response = invoke(gateway_event(CLOSE))
    # Kept, not lost: the queue retries once an operator has fixed the secret.
    assert response["statusCode"] == 202
    assert response_json(response)["reason"].startswith("DeepCall refuses the credential")
    assert len(deepcall.unset_calls) == 2
    assert len(queued_events(stack)) == 1


def test_unreadable_credential_secret_is_a_configuration_error(
    stack: LocalStack, deepcall: ScriptedDeepCall
) -> None:
    put_secret(stack, stack.deepcall_secret_id, {"password": "hunter2"})
    response = invoke(gateway_event(CLOSE))
    assert response["statusCode"] == 202
    assert "DEEPCALL_SECRET_ID" in response_json(response)["reason"]
    assert "hunter2" not in response["body"]
    assert deepcall.unset_calls == []


def test_already_expired_masking_is_done(stack: LocalStack, deepcall: ScriptedDeepCall) -> None:
    deepcall.enqueue(Fault.error(4040, "Masking already expired"))
    response = invoke(gateway_event(CLOSE))
    assert response["statusCode"] == 200
    assert response_json(response)["status"] == "already_expired"


def test_not_an_api_event_is_400(stack: LocalStack) -> None:
    response = invoke({"Records": []})
    assert response["statusCode"] == 400
    assert response_json(response)["error"]["code"] == "unsupported_event"


def test_missing_configuration_answers_without_a_stack_trace(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from masking_unset.app import reset_app

    monkeypatch.delenv("DEEPCALL_BASE_URL")
    reset_app()
    response = invoke(gateway_event(CLOSE))
    assert response["statusCode"] == 503
    assert response_json(response)["error"]["code"] == "configuration_error"
    assert "Traceback" not in response["body"]


@pytest.mark.usefixtures("fast_retries")
def test_an_answer_dripped_past_every_attempts_deadline_is_queued_as_a_timeout(
    stack: LocalStack, deepcall: ScriptedDeepCall, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A byte every 0.2 s never trips a 0.5 s read timeout; each attempt's deadline (0.8 s) does.
    monkeypatch.setenv("DEEPCALL_CONNECT_TIMEOUT_SECONDS", "0.3")
    monkeypatch.setenv("DEEPCALL_TIMEOUT_SECONDS", "0.5")
    deepcall.enqueue(*[Fault.slow_drip(0.2)] * 3)
    queued = invoke(gateway_event(CLOSE))
    assert queued["statusCode"] == 202
    assert response_json(queued)["reason"] == "DeepCall did not answer in time"
    assert len(deepcall.unset_calls) == 3
    # About 4 bytes an attempt; the whole answer (51 bytes) never got out.
    assert deepcall.streamed_bytes < 51


@pytest.mark.usefixtures("fast_retries")
def test_read_timeouts_are_retried_then_queued(
    stack: LocalStack, deepcall: ScriptedDeepCall, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEEPCALL_TIMEOUT_SECONDS", "0.2")
    deepcall.enqueue(Fault.timeout(3.0), Fault.timeout(3.0))
    response = invoke(gateway_event(CLOSE))
    assert response["statusCode"] == 200  # third attempt answered in time
    assert len(deepcall.unset_calls) == 3
    deepcall.enqueue(*[Fault.timeout(3.0)] * 3)
    queued = invoke(gateway_event({**CLOSE, "event_id": "evt-slow", "mask": "08040005555"}))
    assert queued["statusCode"] == 202
    assert response_json(queued)["reason"] == "DeepCall did not answer in time"
