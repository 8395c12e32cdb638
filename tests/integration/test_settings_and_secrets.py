"""An operator's setting and a stored secret are input too (issue 19, items 1-5), end to end on
the moto server and the DeepCall stand-in, through the real handlers: a base URL that would send
the credentials elsewhere or reach nothing, timeouts that leave the webhook no time, a secret
written key-for-value or stored as binary, and a container without an AWS region or credentials.
Each is a configuration error naming its variable; the event is kept; no secret is echoed."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from masking_unset.app import reset_app
from masking_unset.handlers.queue import lambda_handler as queue_handler
from masking_unset.handlers.webhook import lambda_handler as webhook_handler
from masking_unset_tools.cli import EXIT_USAGE, main
from masking_unset_tools.local.lambda_context import LocalLambdaContext
from masking_unset_tools.local.stack import (
    DEMO_HASH_KEY,
    DEMO_SSID,
    DEMO_WEBHOOK_SECRET,
    LocalStack,
)
from tests.conftest import sqs_record
from tests.integration.helpers import gateway_event, response_json
from tests.support.aws import put_secret
from tests.support.deepcall import ScriptedDeepCall
from tests.support.logs import captured_logs as support_logs

CLOSE = {"event_id": "evt-cfg", "ticket_id": "T-19", "mask": "+91 80 4000 1919"}


def webhook(event: dict[str, Any]) -> dict[str, Any]:
    return webhook_handler(event, LocalLambdaContext())  # type: ignore[arg-type]


def queue(*records: dict[str, Any]) -> dict[str, Any]:
    return queue_handler({"Records": list(records)}, LocalLambdaContext())  # type: ignore[arg-type]


def dead_letters(stack: LocalStack) -> list[dict[str, Any]]:
    messages = (
        stack.aws.client("sqs")
        .receive_message(
            QueueUrl=stack.dead_letter_queue_url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            WaitTimeSeconds=0,
        )
        .get("Messages", [])
    )
    return [
        {"body": m["Body"], **{k: v["StringValue"] for k, v in m["MessageAttributes"].items()}}
        for m in messages
    ]


def queued(stack: LocalStack) -> list[str]:
    messages = (
        stack.aws.client("sqs")
        .receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        .get("Messages", [])
    )
    return [m["Body"] for m in messages]


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    with support_logs() as stream:
        yield stream


def configure(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reset_app()


def assert_refused_configuration(answer: dict[str, Any], *names: str) -> str:
    """A 503 configuration_error naming every one of ``names``; its message."""
    assert answer["statusCode"] == 503, answer
    error = response_json(answer)["error"]
    assert error["code"] == "configuration_error"
    for name in names:
        assert name in error["message"]
    assert "Traceback" not in answer["body"]
    return str(error["message"])


# -- 1. A base URL with a query, a fragment or a user part -----------------------------------


@pytest.mark.parametrize("suffix", ["#x", "/#", "?v=2", "/?", "/v2;params", "/a/../b"], ids=repr)
def test_a_base_url_that_moves_the_unset_path_is_a_configuration_error(
    stack: LocalStack, deepcall: ScriptedDeepCall, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    configure(monkeypatch, DEEPCALL_BASE_URL=deepcall.base_url + suffix)
    answer = webhook(gateway_event(CLOSE))
    assert_refused_configuration(answer, "DEEPCALL_BASE_URL")
    # Nothing was sent anywhere, and the event was not answered as done.
    assert deepcall.requests == []
    assert queue(sqs_record(CLOSE, "m-url")) == {"batchItemFailures": [{"itemIdentifier": "m-url"}]}
    assert deepcall.requests == []


def test_a_base_url_with_credentials_in_it_is_refused_without_echoing_them(
    stack: LocalStack, deepcall: ScriptedDeepCall, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = deepcall.base_url.removeprefix("http://")
    configure(monkeypatch, DEEPCALL_BASE_URL=f"http://operator:pa55word-91x@{host}")
    message = assert_refused_configuration(webhook(gateway_event(CLOSE)), "DEEPCALL_BASE_URL")
    assert "pa55word-91x" not in message
    assert deepcall.requests == []


# -- 2. A base URL no request can reach; timeouts that leave no time -------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:99999",
        "http://127.0.0.1:0",
        "http:///api",
        "http://127.0.0. 1:8080",
        "http://127.0.0.1:80:81",
        "http://[::1",
        "http://[::1]x:80",
        "http://[fe80::1%25eth0]:80",
        "http://999.0.0.1",
        "http://bad_host!.example",
    ],
    ids=repr,
)
def test_a_base_url_no_request_can_reach_is_a_configuration_error_not_an_outage(
    stack: LocalStack, deepcall: ScriptedDeepCall, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    configure(monkeypatch, DEEPCALL_BASE_URL=url)
    assert_refused_configuration(webhook(gateway_event(CLOSE)), "DEEPCALL_BASE_URL")
    assert queued(stack) == []  # not queued as if DeepCall were down
    assert queue(sqs_record(CLOSE, "m-unreach")) == {
        "batchItemFailures": [{"itemIdentifier": "m-unreach"}]
    }
    assert dead_letters(stack) == []  # never parked as "unreachable"


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"DEEPCALL_TIMEOUT_SECONDS": "14"}, ("DEEPCALL_TIMEOUT_SECONDS", "16.5 s", "25 s")),
        (
            {"DEEPCALL_CONNECT_TIMEOUT_SECONDS": "10", "DEEPCALL_TIMEOUT_SECONDS": "10"},
            ("DEEPCALL_CONNECT_TIMEOUT_SECONDS", "DEEPCALL_TIMEOUT_SECONDS", "16.5 s"),
        ),
        (
            {"DEEPCALL_TIMEOUT_SECONDS": "13", "DEEPCALL_MAX_RPS": "5"},
            ("DEEPCALL_TIMEOUT_SECONDS", "DEEPCALL_MAX_RPS", "16.5 s"),
        ),
    ],
)
def test_deepcall_timeouts_that_leave_the_webhook_no_time_are_refused(
    stack: LocalStack,
    deepcall: ScriptedDeepCall,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    names: tuple[str, ...],
) -> None:
    configure(monkeypatch, **env)
    assert_refused_configuration(webhook(gateway_event(CLOSE)), *names)
    assert queued(stack) == []
    assert deepcall.requests == []


# -- 3. A secret written key-for-value -------------------------------------------------------


def test_a_deepcall_secret_written_key_for_value_is_never_echoed(
    stack: LocalStack,
    deepcall: ScriptedDeepCall,
    captured_logs: io.StringIO,
    capsys: pytest.CaptureFixture[str],
) -> None:
    put_secret(stack, stack.deepcall_secret_id, {DEMO_SSID: "ssid"})
    answer = webhook(gateway_event(CLOSE))
    assert answer["statusCode"] == 202  # kept for the queue, as any unusable DeepCall secret
    reason = response_json(answer)["reason"]
    assert "DEEPCALL_SECRET_ID" in reason
    assert '"ssid"' in reason
    assert '"userId"' in reason
    assert '"token"' in reason
    # The queue keeps it too, and parks it with its reason once its deliveries run out.
    assert queue(sqs_record(CLOSE, "m-kv")) == {"batchItemFailures": [{"itemIdentifier": "m-kv"}]}
    queue(sqs_record(CLOSE, "m-kv", ApproximateReceiveCount="5"))
    shown = {
        "answer": answer["body"],
        "logs": captured_logs.getvalue(),
        "stdout": capsys.readouterr().out,
        "dead letters": json.dumps(dead_letters(stack)),
    }
    assert "DEEPCALL_SECRET_ID" in shown["logs"]
    for where, text in shown.items():
        assert DEMO_SSID not in text, where
    assert deepcall.unset_calls == []


@pytest.mark.parametrize("which", ["webhook", "hash"])
def test_other_secrets_written_key_for_value_are_never_echoed(
    stack: LocalStack,
    deepcall: ScriptedDeepCall,
    captured_logs: io.StringIO,
    capsys: pytest.CaptureFixture[str],
    which: str,
) -> None:
    if which == "webhook":
        put_secret(stack, stack.webhook_secrets_id, {"generic": {DEMO_WEBHOOK_SECRET: "secret"}})
        secret, variable = DEMO_WEBHOOK_SECRET, "WEBHOOK_SECRETS_ID"
    else:
        put_secret(stack, stack.hash_key_secret_id, {DEMO_HASH_KEY: "key"})
        secret, variable = DEMO_HASH_KEY, "HASH_KEY_SECRET_ID"
    answer = webhook(gateway_event(CLOSE))
    assert answer["statusCode"] in {202, 503}
    assert variable in answer["body"]
    for text in (answer["body"], captured_logs.getvalue(), capsys.readouterr().out):
        assert secret not in text
    assert deepcall.unset_calls == []


# -- 4. A secret stored as binary that is no UTF-8 JSON object -------------------------------

NOT_UTF8 = b"\xff\xfe\x00\x9c not text"


def put_binary(stack: LocalStack, secret_id: str, value: bytes) -> None:
    client = stack.aws.client("secretsmanager")
    client.put_secret_value(SecretId=secret_id, SecretBinary=value)


@pytest.mark.parametrize(
    "value",
    [NOT_UTF8, b'["ssid"]', b"{not json", b"[" * 100_000],
    ids=["not-utf8", "json-list", "not-json", "too-deep"],
)
def test_an_unreadable_deepcall_secret_is_a_configuration_error_and_the_event_is_kept(
    stack: LocalStack, deepcall: ScriptedDeepCall, captured_logs: io.StringIO, value: bytes
) -> None:
    put_binary(stack, stack.deepcall_secret_id, value)
    answer = webhook(gateway_event(CLOSE))
    assert answer["statusCode"] == 202, answer
    assert "DEEPCALL_SECRET_ID" in response_json(answer)["reason"]
    assert len(queued(stack)) == 1
    # The queue hands the record back, with the reason in its log line: no internal_error.
    assert queue(sqs_record(CLOSE, "m-bin")) == {"batchItemFailures": [{"itemIdentifier": "m-bin"}]}
    logs = captured_logs.getvalue()
    assert "DEEPCALL_SECRET_ID" in logs
    assert "internal_error" not in logs
    assert "Traceback" not in logs
    assert deepcall.unset_calls == []


@pytest.mark.parametrize("value", [NOT_UTF8, b'"a string"'], ids=["not-utf8", "json-string"])
def test_an_unreadable_webhook_secret_is_a_configuration_error(
    stack: LocalStack, deepcall: ScriptedDeepCall, value: bytes
) -> None:
    put_binary(stack, stack.webhook_secrets_id, value)
    assert_refused_configuration(webhook(gateway_event(CLOSE)), "WEBHOOK_SECRETS_ID")
    assert deepcall.unset_calls == []


def test_an_unreadable_hash_key_secret_is_a_configuration_error_and_the_event_is_kept(
    stack: LocalStack, deepcall: ScriptedDeepCall
) -> None:
    put_binary(stack, stack.hash_key_secret_id, NOT_UTF8)
    answer = webhook(gateway_event(CLOSE))
    assert answer["statusCode"] in {202, 503}, answer
    assert "HASH_KEY_SECRET_ID" in answer["body"]
    assert "internal_error" not in answer["body"]
    assert queue(sqs_record(CLOSE, "m-hk")) == {"batchItemFailures": [{"itemIdentifier": "m-hk"}]}
    assert deepcall.unset_calls == []


def test_a_binary_secret_that_is_utf8_json_still_works(
    stack: LocalStack, deepcall: ScriptedDeepCall
) -> None:
    put_binary(stack, stack.deepcall_secret_id, json.dumps({"ssid": DEMO_SSID}).encode())
    assert webhook(gateway_event(CLOSE))["statusCode"] == 200
    assert len(deepcall.unset_calls) == 1


# -- 5. No AWS region, no credentials --------------------------------------------------------


def without_region(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    reset_app()


def without_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    reset_app()


SETUPS = {
    "no-region": (without_region, "AWS_REGION"),
    "no-credentials": (without_credentials, "AWS_ACCESS_KEY_ID"),
}


@pytest.mark.parametrize("setup", list(SETUPS))
def test_a_missing_aws_setup_is_a_configuration_error_with_a_hint_on_the_webhook(
    stack: LocalStack,
    deepcall: ScriptedDeepCall,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    setup: str,
) -> None:
    prepare, hint = SETUPS[setup]
    prepare(monkeypatch, tmp_path)
    assert_refused_configuration(webhook(gateway_event(CLOSE)), "AWS configuration", hint)
    assert deepcall.unset_calls == []


@pytest.mark.parametrize("setup", list(SETUPS))
def test_a_missing_aws_setup_hands_queue_records_back_with_the_reason(
    stack: LocalStack,
    deepcall: ScriptedDeepCall,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    captured_logs: io.StringIO,
    setup: str,
) -> None:
    prepare, hint = SETUPS[setup]
    prepare(monkeypatch, tmp_path)
    answer = queue(sqs_record(CLOSE, "m-aws"), sqs_record({**CLOSE, "event_id": "e2"}, "m-aws2"))
    assert answer == {
        "batchItemFailures": [{"itemIdentifier": "m-aws"}, {"itemIdentifier": "m-aws2"}]
    }
    logs = captured_logs.getvalue()
    assert "AWS configuration" in logs
    assert hint in logs
    assert "Traceback" not in logs
    assert deepcall.unset_calls == []


@pytest.mark.parametrize("setup", list(SETUPS))
def test_a_missing_aws_setup_is_a_usage_error_of_invoke_live(
    stack: LocalStack,
    deepcall: ScriptedDeepCall,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    setup: str,
) -> None:
    prepare, hint = SETUPS[setup]
    prepare(monkeypatch, tmp_path)
    event = tmp_path / "event.json"
    event.write_text(json.dumps(gateway_event(CLOSE)))

    code = main(["invoke", str(event), "--live"])

    captured = capsys.readouterr()
    assert code == EXIT_USAGE
    assert captured.err.startswith("error: AWS configuration: ")
    assert hint in captured.err
    assert "Traceback" not in captured.err + captured.out
    assert deepcall.unset_calls == []
