"""``masking-unset invoke`` end to end: stored event files on a fresh local stack, and an event on
the stack the environment points at (``--live``)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from masking_unset_tools.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main
from masking_unset_tools.local.deepcall_standin import DeepCallStandIn
from masking_unset_tools.local.demo import load_manifest, run_entry, soap_ack
from masking_unset_tools.local.stack import (
    DEMO_SSID,
    LocalStack,
    environment,
    local_environment,
    local_stack,
    setting_names,
)
from masking_unset_tools.ops.invoke import invoke
from tests.integration.helpers import gateway_event
from tests.support.sqs_limits import SqsLimitedEndpoint
from tests.support.worker_servers import BorrowedEndpoint

EVENTS = Path(__file__).resolve().parents[2] / "events"


def assert_redacted(text: str) -> None:
    for raw in ("8040001234", "80 4000 1234", "804000", DEMO_SSID):
        assert raw not in text
    assert "Traceback" not in text


def test_a_stored_webhook_event_runs_on_the_stand_ins(capsys: pytest.CaptureFixture[str]) -> None:
    # The file's signature is months old: invoke signs it again with the demo secret.
    code = main(["invoke", str(EVENTS / "webhook-http-api.json")])

    out = capsys.readouterr().out
    assert code == EXIT_OK
    assert "webhook handler answered HTTP 200" in out
    assert '"status": "unset"' in out
    assert (
        "DeepCall stand-in received POST /api/v2/Masking/unset "
        '{"ssid": "<secret>", "mask": "******1234", "expiry_duration": -1}'
    ) in out
    assert_redacted(out)


def test_without_resigning_a_stored_event_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["invoke", str(EVENTS / "webhook-http-api.json"), "--no-resign"])

    captured = capsys.readouterr()
    assert code == EXIT_FAILED
    assert "webhook handler answered HTTP 401" in captured.out
    assert "stale_signature" in captured.out
    assert "DeepCall stand-in received nothing" in captured.out
    assert captured.err.strip() == "error: the webhook handler answered HTTP 401"


def test_a_refused_event_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["invoke", str(EVENTS / "webhook-no-target.json"), "--function", "webhook"])

    out = capsys.readouterr().out
    assert code == EXIT_FAILED
    assert "webhook handler answered HTTP 422" in out
    assert "unresolved_target" in out


def test_an_sqs_batch_shows_calls_and_dead_letters(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["invoke", str(EVENTS / "sqs-batch.json")])

    out = capsys.readouterr().out
    assert code == EXIT_OK
    answer = out.split("queue handler answered:\n", 1)[1].split("\nDeepCall", 1)[0]
    assert json.loads(answer) == {"batchItemFailures": []}
    assert out.count("DeepCall stand-in received POST") == 2
    assert "dead-lettered 33333333-3333-4333-8333-333333333333: malformed_body" in out
    # Quiet by default: no JSON log or EMF metric line from the functions.
    assert '"_aws"' not in out
    assert '"level"' not in out


@pytest.mark.parametrize("verbose", [False, True])
def test_the_functions_logs_and_metrics_show_only_when_verbose(
    verbose: bool, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    flags = ["--verbose"] if verbose else []
    assert main(["invoke", str(EVENTS / "webhook-http-api.json"), *flags]) == EXIT_OK

    out = capsys.readouterr().out
    assert ("webhook answered" in caplog.messages) is verbose
    assert ('"_aws"' in out) is verbose  # EMF metric lines
    assert_redacted(out + caplog.text)


def test_live_uses_the_environment_configuration(
    stack: LocalStack, deepcall: DeepCallStandIn, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event = tmp_path / "event.json"
    body = {"event_id": "evt-live", "ticket_id": "T-1", "mask": "+91 80 4000 1234"}
    event.write_text(json.dumps(gateway_event(body)))

    code = main(["invoke", str(event), "--live"])

    out = capsys.readouterr().out
    assert code == EXIT_OK
    assert '"event_id": "evt-live"' in out
    [call] = deepcall.unset_calls
    assert call.json == {"ssid": DEMO_SSID, "mask": "8040001234", "expiry_duration": -1}
    assert "stand-in received" not in out  # live mode has no stand-in to report on
    assert_redacted(out)


def test_live_without_configuration_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DEEPCALL_BASE_URL", raising=False)
    monkeypatch.setenv("DEEPCALL_SECRET_ID", "s")

    code = main(["invoke", str(EVENTS / "webhook-http-api.json"), "--live"])

    assert code == EXIT_USAGE
    assert "DEEPCALL_BASE_URL" in capsys.readouterr().err


def test_live_webhook_without_webhook_secrets_id_is_a_usage_error(
    stack: LocalStack,
    deepcall: DeepCallStandIn,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("WEBHOOK_SECRETS_ID", raising=False)

    code = main(["invoke", str(EVENTS / "webhook-http-api.json"), "--live"])

    captured = capsys.readouterr()
    assert code == EXIT_USAGE
    assert "WEBHOOK_SECRETS_ID is not set" in captured.err
    assert "webhook handler answered" not in captured.out  # refused before the handler ran
    assert deepcall.unset_calls == []


@pytest.mark.parametrize(
    ("event_file", "function", "shape"),
    [
        ("webhook-http-api.json", "queue", "an API Gateway HTTP event"),
        ("sqs-batch.json", "webhook", "an SQS batch"),
    ],
)
def test_an_event_for_the_other_function_is_refused(
    event_file: str, function: str, shape: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["invoke", str(EVENTS / event_file), "--function", function])

    captured = capsys.readouterr()
    assert code == EXIT_USAGE
    assert f"this event is {shape}, which the {function} function does not take" in captured.err
    assert "handler answered" not in captured.out


# --- invoke and demo agree on every shipped event ---------------------------------------------

MANIFEST = load_manifest(EVENTS)


def _verdict(function: str, answer: dict[str, Any]) -> tuple[object, object]:
    """The status code and the answer's status (error code, SOAP Ack, records handed back)."""
    if function == "queue":
        return "queue", sorted(item["itemIdentifier"] for item in answer["batchItemFailures"])
    body = answer["body"]
    if body.lstrip().startswith("<"):
        return answer["statusCode"], soap_ack(body)
    document = json.loads(body)
    return answer["statusCode"], document.get("status") or document["error"]["code"]


@pytest.fixture
def clean_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """None of the functions' settings from the caller's environment."""
    for name in setting_names():
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def demo_verdicts(aws: SqsLimitedEndpoint) -> dict[str, tuple[object, object]]:
    """Each shipped event's verdict as ``demo`` has it (one stack, the manifest's order): once
    per worker, on the worker's server, as ``make test`` hands these tests to every worker."""
    saved = {name: os.environ.pop(name) for name in setting_names() if name in os.environ}
    verdicts = {}
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("masking_unset_tools.local.stack.LocalAwsEndpoint", BorrowedEndpoint)
            with local_stack() as stack, environment(local_environment(stack).values):
                for name, spec in MANIFEST.items():
                    ran = run_entry(stack, EVENTS, name, spec)
                    verdicts[name] = _verdict(spec["function"], ran.answer)
    finally:
        os.environ.update(saved)
    return verdicts


@pytest.mark.usefixtures("clean_settings")
@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_invoke_answers_each_shipped_event_as_the_demo_does(
    name: str, demo_verdicts: dict[str, tuple[object, object]]
) -> None:
    lines: list[str] = []
    invocation = invoke(EVENTS / name, None, live=False, out=lines.append)

    assert _verdict(invocation.function, invocation.answer) == demo_verdicts[name]
    assert invocation.function == MANIFEST[name]["function"]
    assert any(line.startswith("events manifest entry: ") for line in lines)


def test_the_manifest_covers_every_shipped_event() -> None:
    assert sorted(MANIFEST) == sorted(
        p.name for p in EVENTS.glob("*.json") if p.name != "manifest.json"
    )


@pytest.mark.usefixtures("clean_settings")
def test_invoke_applies_the_manifest_entry_of_an_events_file(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The entry's SOURCE_FIELDS_ZENDESK says where the masking number is: without it, 422.
    code = main(["invoke", str(EVENTS / "zendesk-event-solved.json")])

    out = capsys.readouterr().out
    assert code == EXIT_OK
    assert "webhook handler answered HTTP 200" in out
    assert "events manifest entry: signed for zendesk; SOURCE_FIELDS_ZENDESK=" in out


@pytest.mark.usefixtures("clean_settings")
def test_invoke_forges_the_signature_the_manifest_says_is_bad(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["invoke", str(EVENTS / "webhook-bad-signature.json")])

    out = capsys.readouterr().out
    assert code == EXIT_FAILED
    assert "webhook handler answered HTTP 401" in out
    assert "invalid_signature" in out
    assert "DeepCall stand-in received nothing" in out


@pytest.mark.usefixtures("clean_settings")
def test_the_users_setting_wins_over_the_manifest_entrys(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EXPIRY_GRACE_MINUTES", "12")

    code = main(["invoke", str(EVENTS / "webhook-close-grace.json")])

    out = capsys.readouterr().out
    assert code == EXIT_OK
    assert '"expires_in_minutes": 12' in out
    assert "your EXPIRY_GRACE_MINUTES used instead of the manifest's" in out
    assert "your settings in effect: EXPIRY_GRACE_MINUTES" in out


def test_a_function_other_than_the_manifests_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "ev.json").write_text((EVENTS / "webhook-http-api.json").read_text())
    entry = {"function": "queue", "expect": {}}
    (tmp_path / "manifest.json").write_text(json.dumps({"ev.json": entry}))

    code = main(["invoke", str(tmp_path / "ev.json"), "--function", "webhook"])

    assert code == EXIT_USAGE
    assert "runs ev.json with the queue function (leave --function out)" in capsys.readouterr().err


def test_a_broken_manifest_beside_the_file_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "ev.json").write_text((EVENTS / "webhook-http-api.json").read_text())
    (tmp_path / "manifest.json").write_text(json.dumps({"ev.json": {"function": "lambda"}}))

    assert main(["invoke", str(tmp_path / "ev.json")]) == EXIT_USAGE
    assert '"function" must be "webhook" or "queue"' in capsys.readouterr().err
