"""The ``masking-unset`` command without servers: parsing, exit codes, signing, event building,
and the redrive poll loop over a scripted ListMessageMoveTasks."""

from __future__ import annotations

import base64
import json
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from masking_unset.config import Settings
from masking_unset.logic.signatures import verify_standard_webhooks
from masking_unset.models.errors import AuthenticationFailed
from masking_unset.models.http import WebhookRequest
from masking_unset.sources import SOURCES
from masking_unset_tools.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main, printer
from masking_unset_tools.local.demo_secret import shell_command
from masking_unset_tools.local.events import http_api_event
from masking_unset_tools.local.stack import DEMO_SOURCE_SECRETS
from masking_unset_tools.ops.console import function_logs, function_stdout
from masking_unset_tools.ops.dlq import MoveTask, parked_message, wait_for_task
from masking_unset_tools.ops.errors import OperationFailed, UsageError
from masking_unset_tools.ops.invoke import Invocation, ensure_succeeded, guess_function
from masking_unset_tools.ops.serve import http_answer

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
BODY = b'{"event_id": "evt-1", "mask": "+91 80 4000 1234"}'
COMMANDS = ["demo", "resign", "invoke", "serve", "sign", "expire", "redrive", "openapi"]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    body = tmp_path / "body.json"
    body.write_bytes(BODY)
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET + "\n")
    return {"body": body, "secret": secret, "dir": tmp_path}


def signed_headers(stdout: str) -> tuple[str, dict[str, str], str]:
    """(request line, headers, curl line) from ``sign``'s output."""
    head, _, curl = stdout.strip().partition("\n\n")
    request_line, *header_lines = head.splitlines()
    headers = dict(line.split(": ", 1) for line in header_lines)
    return request_line, headers, curl


def lowered(headers: dict[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


# --- parsing and exit codes


def test_help_lists_every_command_and_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == EXIT_OK
    out = capsys.readouterr().out
    for command in [*COMMANDS, "dlq", "mapping", "local"]:
        assert f"    {command}" in out
    assert "exit codes:" in out
    assert "2  usage or configuration error" in out


@pytest.mark.parametrize(
    "command",
    [*COMMANDS, "dlq list", "mapping put", "mapping get", "mapping delete", "local env"],
)
def test_every_command_documents_its_exit_codes(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*command.split(), "--help"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "exit codes:" in out
    assert "1  the operation failed" in out


def test_an_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == EXIT_USAGE
    assert "invalid choice" in capsys.readouterr().err


def test_a_missing_event_file_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["invoke", str(tmp_path / "missing.json")]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.strip() == f"error: {tmp_path / 'missing.json'}: no such file"


def test_an_event_file_that_is_not_json_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event = tmp_path / "event.json"
    event.write_text("{not json")
    assert main(["invoke", str(event)]) == EXIT_USAGE
    assert "not valid JSON" in capsys.readouterr().err


def test_an_event_of_unknown_shape_asks_for_the_function(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event = tmp_path / "event.json"
    event.write_text('{"detail": {}}')
    assert main(["invoke", str(event)]) == EXIT_USAGE
    assert "cannot tell which function this event is for" in capsys.readouterr().err


@pytest.mark.parametrize("function", ["queue", "webhook"])
def test_a_bare_body_is_refused_by_either_function_and_sign_is_offered(
    function: str, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # The queue handler answers a body with nothing to do: that must not exit 0.
    assert main(["invoke", str(files["body"]), "--function", function]) == EXIT_USAGE
    captured = capsys.readouterr()
    assert captured.err.startswith(f"error: the {function} function cannot run this file: ")
    assert "`sign --source SOURCE --demo-secret FILE`" in captured.err
    assert "handler answered" not in captured.out


def test_records_handed_back_by_the_queue_handler_are_a_failure() -> None:
    invocation = Invocation("queue", {"batchItemFailures": [{"itemIdentifier": "m-1"}]})
    with pytest.raises(OperationFailed) as caught:
        ensure_succeeded(invocation)
    assert caught.value.exit_code == EXIT_FAILED
    assert "handed 1 record(s) back" in caught.value.message


@pytest.mark.parametrize(
    ("event", "function"),
    [
        ({"Records": [{"eventSource": "aws:sqs"}]}, "queue"),
        ({"version": "2.0", "rawPath": "/webhooks/generic"}, "webhook"),
        ({"httpMethod": "POST", "path": "/webhooks/generic"}, "webhook"),
        ({"requestContext": {"http": {"method": "POST"}}}, "webhook"),
    ],
)
def test_the_function_is_guessed_from_the_event_shape(event: dict[str, Any], function: str) -> None:
    assert guess_function(event) == function


def test_an_unrecognised_event_is_not_guessed() -> None:
    with pytest.raises(UsageError):
        guess_function({"source": "aws.events"})


# --- sign


def test_generic_signature_verifies_and_the_secret_is_not_printed(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["sign", "--source", "generic", "--secret-file", str(files["secret"]), str(files["body"])]
    )

    out = capsys.readouterr().out
    assert code == EXIT_OK
    request_line, headers, curl = signed_headers(out)
    assert request_line == "POST http://127.0.0.1:8080/webhooks/generic"
    verify_standard_webhooks(
        secrets=[SECRET],
        msg_id=headers["webhook-id"],
        timestamp=headers["webhook-timestamp"],
        signature_header=headers["webhook-signature"],
        body=BODY,
        now=time.time(),
    )
    assert curl.startswith("curl -sS -i -X POST http://127.0.0.1:8080/webhooks/generic ")
    assert f"--data-binary @{files['body']}" in curl
    assert SECRET not in out
    assert SECRET.removeprefix("whsec_") not in out


def test_the_secret_file_may_be_the_webhook_secrets_document(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    document = files["dir"] / "secrets.json"
    document.write_text(json.dumps({"zendesk": ["z"], "generic": [SECRET, "whsec_b2xk"]}))

    code = main(["sign", "--source", "generic", "--secret-file", str(document), str(files["body"])])

    assert code == EXIT_OK
    _, headers, _ = signed_headers(capsys.readouterr().out)
    verify_standard_webhooks(
        secrets=[SECRET],
        msg_id=headers["webhook-id"],
        timestamp=headers["webhook-timestamp"],
        signature_header=headers["webhook-signature"],
        body=BODY,
        now=time.time(),
    )


def test_a_tampered_body_does_not_verify_with_the_printed_signature(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # The check above must be able to fail: the printed signature covers this body only.
    main(["sign", "--source", "generic", "--secret-file", str(files["secret"]), str(files["body"])])
    _, headers, _ = signed_headers(capsys.readouterr().out)
    with pytest.raises(AuthenticationFailed):
        verify_standard_webhooks(
            secrets=[SECRET],
            msg_id=headers["webhook-id"],
            timestamp=headers["webhook-timestamp"],
            signature_header=headers["webhook-signature"],
            body=BODY + b" ",
            now=time.time(),
        )


def test_zendesk_signature_is_accepted_by_the_zendesk_source(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from masking_unset.sources.zendesk import ZendeskSource

    secret = files["dir"] / "zendesk.txt"
    secret.write_text("dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ==")
    code = main(["sign", "--source", "zendesk", "--secret-file", str(secret), str(files["body"])])

    assert code == EXIT_OK
    _, headers, _ = signed_headers(capsys.readouterr().out)
    request = WebhookRequest("POST", "/webhooks/zendesk", "zendesk", lowered(headers), BODY)
    settings = Settings.model_validate(
        {"DEEPCALL_BASE_URL": "https://deepcall.example", "DEEPCALL_SECRET_ID": "s"}
    )
    ZendeskSource().authenticate(request, [secret.read_text()], time.time(), settings)


def test_hubspot_needs_the_url_it_signs(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["sign", "--source", "hubspot", "--secret-file", str(files["secret"]), str(files["body"])]
    )
    assert code == EXIT_USAGE
    assert "pass --url" in capsys.readouterr().err


def test_hubspot_signature_is_accepted_by_the_hubspot_source(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from masking_unset.sources.hubspot import HubSpotSource

    url = "https://hooks.example.com/webhooks/hubspot?portal=7"
    code = main(
        [
            "sign",
            "--source",
            "hubspot",
            "--secret-file",
            str(files["secret"]),
            str(files["body"]),
            "--url",
            url,
        ]
    )

    assert code == EXIT_OK
    _, headers, _ = signed_headers(capsys.readouterr().out)
    settings = Settings.model_validate(
        {"DEEPCALL_BASE_URL": "https://deepcall.example", "DEEPCALL_SECRET_ID": "s"}
    )
    request = WebhookRequest(
        "POST",
        "/webhooks/hubspot",
        "hubspot",
        lowered(headers),
        BODY,
        raw_query="portal=7",
        domain="hooks.example.com",
    )
    HubSpotSource().authenticate(request, [SECRET], time.time(), settings)


def test_a_token_source_never_prints_the_token(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    token = files["dir"] / "token.txt"
    token.write_text("tok-9f8e7d6c5b4a\n")

    code = main(["sign", "--source", "freshdesk", "--secret-file", str(token), str(files["body"])])

    out = capsys.readouterr().out
    assert code == EXIT_OK
    assert "tok-9f8e7d6c5b4a" not in out
    _, headers, curl = signed_headers(out)
    assert headers["X-Webhook-Token"] == "<secret from the secret file>"
    assert f'-H "X-Webhook-Token: $(cat {token})"' in curl


def test_salesforce_token_goes_in_the_query_and_is_hidden(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    token = files["dir"] / "token.txt"
    token.write_text("sf-token-123456")

    code = main(["sign", "--source", "salesforce", "--secret-file", str(token), str(files["body"])])

    out = capsys.readouterr().out
    assert code == EXIT_OK
    request_line, headers, curl = signed_headers(out)
    assert request_line == "POST http://127.0.0.1:8080/webhooks/salesforce?token=<secret>"
    assert headers["content-type"].startswith("text/xml")
    assert "sf-token-123456" not in out
    assert f"'http://127.0.0.1:8080/webhooks/salesforce?token='\"$(cat {token})\"" in curl


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_the_demo_secret_signs_for_every_source(
    source: str, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:8080/webhooks/{source}"  # hubspot signs it: always given
    code = main(["sign", "--source", source, "--demo-secret", str(files["body"]), "--url", url])

    out = capsys.readouterr().out
    assert code == EXIT_OK
    assert out.splitlines()[-1].startswith("curl ")
    assert DEMO_SOURCE_SECRETS[source][0] not in out  # a token is read when curl runs


@pytest.mark.parametrize("source", ["freshdesk", "salesforce"])
def test_a_token_sources_curl_line_reads_the_demo_secret_when_it_runs(
    source: str, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sign", "--source", source, "--demo-secret", str(files["body"])]) == EXIT_OK
    curl = capsys.readouterr().out.splitlines()[-1]
    command = shell_command(source)
    assert f"$({command})" in curl
    printed = subprocess.run(  # noqa: S603 - this interpreter, a fixed module
        shlex.split(command), capture_output=True, text=True, check=True
    ).stdout.strip()
    assert printed == DEMO_SOURCE_SECRETS[source][0]
    assert printed == SOURCES[source].new_secret(f"demo-{source}")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "nope", "--demo-secret"], "invalid choice: 'nope'"),
        (["--source", "generic", "--secret-file", "missing.txt"], "no such file"),
        (["--source", "generic", "--secret-file", "BAD_SECRET"], "whsec_"),
        (["--source", "generic", "--demo-secret", "--url", "ftp://x"], "--url must be"),
    ],
)
def test_sign_usage_errors(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    bad_secret = files["dir"] / "bad.txt"
    bad_secret.write_text("whsec_not base64!")
    args = [str(bad_secret) if arg == "BAD_SECRET" else arg for arg in args]
    assert main(["sign", *args, str(files["body"])]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


@pytest.mark.parametrize("given", ["Zendesk", "ZENDESK", "zendesk"])
def test_sign_takes_a_source_name_in_any_case_as_the_route_does(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], given: str
) -> None:
    assert main(["sign", "--source", given, "--demo-secret", str(files["body"])]) == EXIT_OK
    request_line, headers, _ = signed_headers(capsys.readouterr().out)
    assert request_line == "POST http://127.0.0.1:8080/webhooks/zendesk"
    assert "x-zendesk-webhook-signature" in lowered(headers)


# --- expire, dlq, redrive: configuration errors


@pytest.fixture
def no_configuration(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("DEEPCALL_BASE_URL", "DEEPCALL_SECRET_ID", "DEAD_LETTER_QUEUE_URL", "QUEUE_URL"):
        monkeypatch.delenv(name, raising=False)
    from masking_unset.app import reset_app

    reset_app()
    yield
    reset_app()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["expire"], "give --mask, or --m1 and/or --m2"),
        (["expire", "--mask", "1", "--m1", "2"], "not both"),
        (["expire", "--mask", "1" * 70], "--mask: must be at most 64 characters"),
        (["expire", "--mask", "+91 80 4000 1234"], "DEEPCALL_BASE_URL"),
        (["dlq", "list"], "DEAD_LETTER_QUEUE_URL is not set"),
        (["dlq", "list", "--max", "0"], "--max must be at least 1"),
        (["redrive", "--dlq-url", "http://q/dlq"], "QUEUE_URL is not set"),
    ],
)
def test_missing_configuration_is_a_usage_error(
    no_configuration: None, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(args) == EXIT_USAGE
    captured = capsys.readouterr()
    assert message in captured.err
    assert "4000 1234" not in captured.err + captured.out


def test_a_dry_run_needs_no_deepcall_secret_id(
    no_configuration: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DEEPCALL_BASE_URL", "https://v4-api.deepcall.com")
    assert main(["expire", "--mask", "+91 80 4000 1234", "--dry-run"]) == EXIT_OK
    captured = capsys.readouterr()
    assert "dry run: would send POST https://v4-api.deepcall.com/api/v2/Masking/unset" in (
        captured.out
    )
    assert "DEEPCALL_SECRET_ID" not in captured.err


def test_a_dry_run_without_a_base_url_says_what_to_set(
    no_configuration: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["expire", "--mask", "+91 80 4000 1234", "--dry-run"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("error: invalid configuration: DEEPCALL_BASE_URL is not set: set it to")
    assert "DEEPCALL_SECRET_ID" not in err
    assert "Field required" not in err


EVENTS = Path(__file__).resolve().parents[2] / "events"


@pytest.mark.parametrize(
    "args",
    [
        ["expire", "--mask", "+91 80 4000 1234"],
        ["dlq", "list"],
        ["redrive", "--no-wait"],
        ["invoke", str(EVENTS / "webhook-http-api.json"), "--live"],
        ["invoke", str(EVENTS / "sqs-batch.json"), "--live"],
        ["serve", "--live", "--port", "0"],
    ],
    ids=lambda args: " ".join(args[:2]),
)
def test_no_aws_credentials_is_a_configuration_error_on_every_command(
    no_configuration: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
) -> None:
    for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_REGION", "ap-south-1")
    monkeypatch.setenv("DEEPCALL_BASE_URL", "https://v4-api.deepcall.com")
    monkeypatch.setenv("DEEPCALL_SECRET_ID", "masking-unset/deepcall")
    monkeypatch.setenv("WEBHOOK_SECRETS_ID", "masking-unset/webhooks")
    monkeypatch.setenv("QUEUE_URL", "https://sqs.ap-south-1.amazonaws.com/1/q")
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", "https://sqs.ap-south-1.amazonaws.com/1/d")
    assert main(args) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("error: AWS configuration: no usable AWS credentials"), err
    assert "AWS_ACCESS_KEY_ID" in err


# --- serve: events and answers


def test_a_request_becomes_an_http_api_payload_2_event() -> None:
    headers = [
        ("Host", "abc.example.com:8080"),
        ("Content-Type", "application/json"),
        ("X-Repeat", "a"),
        ("x-repeat", "b"),
        ("Cookie", "a=1; b=2"),
    ]
    event = http_api_event(
        "post",
        "/webhooks/Generic?x=1&x=2&token=t",
        headers,
        b'{"k": 1}',
        source_ip="10.0.0.9",
        request_id="req-1",
        now=1_795_688_400.0,
    )

    assert event["version"] == "2.0"
    assert event["rawPath"] == "/webhooks/Generic"
    assert event["rawQueryString"] == "x=1&x=2&token=t"
    assert event["queryStringParameters"] == {"x": "1,2", "token": "t"}
    assert event["headers"]["x-repeat"] == "a,b"
    assert "Host" not in event["headers"]
    assert event["cookies"] == ["a=1", "b=2"]
    assert event["pathParameters"] == {"source": "Generic"}
    assert event["routeKey"] == "POST /webhooks/{source}"
    context = event["requestContext"]
    assert context["http"]["method"] == "POST"
    assert context["http"]["sourceIp"] == "10.0.0.9"
    assert context["domainName"] == "abc.example.com:8080"
    assert context["requestId"] == "req-1"
    assert context["timeEpoch"] == 1_795_688_400_000
    assert event["body"] == '{"k": 1}'
    assert event["isBase64Encoded"] is False


def test_a_body_that_is_not_utf8_is_base64_encoded() -> None:
    event = http_api_event("POST", "/webhooks/generic", [], b"\xff\xfe\x00")
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\xff\xfe\x00"


def test_other_paths_have_no_source_and_no_body() -> None:
    event = http_api_event("GET", "/health", [], b"")
    assert "pathParameters" not in event
    assert "body" not in event
    assert "queryStringParameters" not in event
    assert event["routeKey"] == "$default"


def test_handler_answers_become_http_answers() -> None:
    answer = http_answer(
        {
            "statusCode": 503,
            "headers": {"Retry-After": "30"},
            "cookies": ["c=1"],
            "body": base64.b64encode(b"\x00\x01").decode(),
            "isBase64Encoded": True,
        }
    )
    assert answer.status == 503
    assert ("Retry-After", "30") in answer.headers
    assert ("Set-Cookie", "c=1") in answer.headers
    assert answer.body == b"\x00\x01"
    # Payload 2.0: anything without a statusCode is a 200 JSON body.
    assert http_answer({"ok": True}).status == 200
    assert json.loads(http_answer({"ok": True}).body) == {"ok": True}


# --- dlq and redrive logic


def test_a_parked_message_is_shown_redacted() -> None:
    message = {
        "MessageId": "m-1",
        "Body": '{"m1": "+91 98765 43210", "m2": "9123456780"}',
        "Attributes": {"SentTimestamp": "1795688400000", "ApproximateReceiveCount": "9"},
        "MessageAttributes": {
            "ErrorCode": {"DataType": "String", "StringValue": "invalid_number"},
            "ErrorMessage": {"DataType": "String", "StringValue": "number 9876543210 is odd"},
            "SourceMessageId": {"DataType": "String", "StringValue": "src-1"},
            "ReceiveCount": {"DataType": "String", "StringValue": "5"},
        },
    }
    parked = parked_message(message)
    assert parked.body == '{"m1": "***3210", "m2": "***6780"}'
    assert parked.reason == "number ***3210 is odd"
    assert parked.receive_count == "5"
    assert parked.sent_at == "2026-11-26T10:20:00Z"
    assert (parked.error_code, parked.source_message_id) == ("invalid_number", "src-1")


class ScriptedMoveTasks:
    """ListMessageMoveTasks answering one scripted result per call (the last one repeats)."""

    def __init__(self, *results: dict[str, Any]) -> None:
        self.results = list(results)
        self.calls = 0

    def list_message_move_tasks(self, **kwargs: Any) -> dict[str, Any]:
        result = self.results[min(self.calls, len(self.results) - 1)]
        self.calls += 1
        return {"Results": [result]}


def task(status: str, moved: int, handle: str | None = "h-1", **extra: Any) -> dict[str, Any]:
    result = {"Status": status, "ApproximateNumberOfMessagesMoved": moved, **extra}
    if handle:
        result["TaskHandle"] = handle
    result.setdefault("ApproximateNumberOfMessagesToMove", 3)
    return result


def test_waiting_polls_until_the_task_completes_and_shows_progress() -> None:
    sqs = ScriptedMoveTasks(
        task("RUNNING", 0), task("RUNNING", 0), task("RUNNING", 2), task("COMPLETED", 3, None)
    )
    lines: list[str] = []
    sleeps: list[float] = []

    done = wait_for_task(sqs, "arn:dlq", "h-1", lines.append, poll_seconds=2, sleep=sleeps.append)  # type: ignore[arg-type]

    assert done.status == "COMPLETED"
    assert done.moved == 3
    assert lines == ["RUNNING: 0 of 3 moved", "RUNNING: 2 of 3 moved", "COMPLETED: 3 of 3 moved"]
    assert sleeps == [2, 2, 2]


def test_a_failed_task_is_an_operation_failure() -> None:
    sqs = ScriptedMoveTasks(task("FAILED", 1, None, FailureReason="AccessDenied for 9876543210"))
    with pytest.raises(OperationFailed) as failure:
        wait_for_task(sqs, "arn:dlq", "h-1", [].append, sleep=lambda s: None)  # type: ignore[arg-type]
    assert (
        failure.value.message
        == "the move task ended FAILED: 1 of 3 moved (AccessDenied for ***3210)"
    )


def test_waiting_is_bounded() -> None:
    sqs = ScriptedMoveTasks(task("RUNNING", 0))
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with pytest.raises(OperationFailed, match="still running after 30 s"):
        wait_for_task(
            sqs,  # type: ignore[arg-type]
            "arn:dlq",
            "h-1",
            [].append,
            poll_seconds=5,
            timeout_seconds=30,
            sleep=sleep,
            clock=lambda: now[0],
        )
    assert sqs.calls == 7  # at 0, 5, ... 30 s


def test_move_task_progress_without_a_total() -> None:
    assert MoveTask.from_result({"Status": "RUNNING"}).progress() == "RUNNING: 0 moved"


# --- openapi drift check


def test_openapi_check_fails_on_drift_and_passes_once_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = tmp_path / "openapi.json"
    document.write_text('{"openapi": "3.1.0"}\n')

    assert main(["openapi", "--check", "--output", str(document)]) == EXIT_FAILED
    assert "out of date" in capsys.readouterr().err
    assert main(["openapi", "--output", str(document)]) == EXIT_OK
    assert main(["openapi", "--check", "--output", str(document)]) == EXIT_OK
    assert json.loads(document.read_text())["openapi"] == "3.1.0"


def test_openapi_check_fails_when_the_file_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["openapi", "--check", "--output", str(tmp_path / "none.json")]) == EXIT_FAILED
    assert "does not exist" in capsys.readouterr().err


def test_the_committed_openapi_document_is_up_to_date(capsys: pytest.CaptureFixture[str]) -> None:
    committed = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
    assert main(["openapi", "--check", "--output", str(committed)]) == EXIT_OK


# --- demo: the manifest

EVENTS = Path(__file__).resolve().parents[2] / "events"


def _manifest(tmp_path: Path, entry: dict[str, Any]) -> Path:
    (tmp_path / "ev.json").write_text((EVENTS / "zendesk-trigger-solved.json").read_text())
    (tmp_path / "manifest.json").write_text(json.dumps({"ev.json": entry}))
    return tmp_path


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"function": "webhook", "sign": "zendeskk"}, "unknown signer 'zendeskk'"),
        ({"function": "webhook", "sign": "zendesk", "signer": "x"}, "unknown key(s) ['signer']"),
        (
            {"function": "webhook", "expect": {"status_code": 200}},
            "unknown \"expect\" key(s) ['status_code']",
        ),
        ({"function": "webhooks"}, '"function" must be "webhook" or "queue"'),
        ({"function": "webhook", "tamper": True}, '"tamper" needs "sign"'),
    ],
)
def test_a_wrong_manifest_is_refused_before_anything_runs(
    tmp_path: Path, entry: dict[str, Any], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["demo", "--events", str(_manifest(tmp_path, entry))])

    captured = capsys.readouterr()
    assert code == EXIT_USAGE
    assert message in captured.err
    assert captured.out == ""  # refused before the local stack started


def test_the_shipped_manifest_is_valid() -> None:
    from masking_unset_tools.local.demo import load_manifest

    assert len(load_manifest(EVENTS)) == len(list(EVENTS.glob("*.json"))) - 1


def test_serve_announces_on_its_console_while_a_handler_call_hides_stdout(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # serve's handler calls run on server threads and swap sys.stdout meanwhile; the lines
    # the command prints at the same time must still reach the console.
    out = printer(sys.stdout)
    with function_logs(verbose=False), function_stdout():
        out("local AWS endpoint (moto): http://127.0.0.1:1")
        print("dropped, as the function's own output is")
    assert capsys.readouterr().out == "local AWS endpoint (moto): http://127.0.0.1:1\n"
