"""``masking-unset expire`` against the stack the environment points at: the same pipeline as the
functions, redacted output, dry run, and its exit codes."""

from __future__ import annotations

import pytest

from masking_unset_tools.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main
from masking_unset_tools.local.deepcall_standin import Fault
from masking_unset_tools.local.stack import DEMO_SSID, LocalStack
from tests.support.deepcall import ScriptedDeepCall

MASK = "+91 80 4000 1234"


def assert_redacted(text: str) -> None:
    for raw in ("8040001234", "80 4000 1234", "9876543210", "98765", DEMO_SSID):
        assert raw not in text
    assert "Traceback" not in text


def test_expire_sends_the_unset_now(
    stack: LocalStack, deepcall: ScriptedDeepCall, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["expire", "--mask", MASK, "--ticket-id", "T-7"])

    captured = capsys.readouterr()
    assert code == EXIT_OK
    [call] = deepcall.unset_calls
    assert call.json == {"ssid": DEMO_SSID, "mask": "8040001234", "expiry_duration": -1}
    assert captured.out.startswith("unset: event cli-")
    assert captured.out.rstrip().endswith("mask=***1234")
    assert_redacted(captured.out + captured.err)


def test_dry_run_sends_nothing_and_shows_the_request(
    stack: LocalStack, deepcall: ScriptedDeepCall, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["expire", "--m1", "98765 43210", "--m2", "+91 91234 56780", "--dry-run"])

    out = capsys.readouterr().out
    assert code == EXIT_OK
    assert deepcall.unset_calls == []
    assert (
        f"dry run: would send POST {deepcall.base_url}/api/v2/Masking/unset "
        '{"<credentials>": "from DEEPCALL_SECRET_ID", "m1": "******3210", "m2": "******6780", '
        '"expiry_duration": -1}'
    ) in out
    assert "dry_run: event cli-" in out
    assert_redacted(out)


def test_the_configured_number_format_is_used(
    stack: LocalStack,
    deepcall: ScriptedDeepCall,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DEEPCALL_NUMBER_FORMAT", "e164")
    assert main(["expire", "--m1", "98765 43210", "--m2", "91234 56780"]) == EXIT_OK
    [call] = deepcall.unset_calls
    assert call.json is not None
    assert (call.json["m1"], call.json["m2"]) == ("+919876543210", "+919123456780")


def test_the_same_event_id_is_expired_once(
    stack: LocalStack, deepcall: ScriptedDeepCall, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["expire", "--mask", MASK, "--event-id", "ops-1"]) == EXIT_OK
    assert main(["expire", "--mask", MASK, "--event-id", "ops-1"]) == EXIT_OK

    out = capsys.readouterr().out
    assert len(deepcall.unset_calls) == 1
    assert "duplicate: event ops-1 mask=***1234" in out
    assert "already handled before (first outcome: unset)" in out


def test_a_refusal_exits_1(
    stack: LocalStack, deepcall: ScriptedDeepCall, capsys: pytest.CaptureFixture[str]
) -> None:
    deepcall.enqueue(Fault.error(1000, "Invalid parameters"))

    code = main(["expire", "--mask", MASK])

    captured = capsys.readouterr()
    assert code == EXIT_FAILED
    assert captured.err.startswith("error: upstream_rejected:")
    assert_redacted(captured.out + captured.err)


def test_deepcall_unavailable_exits_1(
    stack: LocalStack,
    deepcall: ScriptedDeepCall,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DEEPCALL_MAX_ATTEMPTS", "1")
    deepcall.enqueue(Fault.html(502))

    assert main(["expire", "--mask", MASK]) == EXIT_FAILED
    assert "error: upstream_" in capsys.readouterr().err


def test_a_rejected_credential_is_a_configuration_error(
    stack: LocalStack, deepcall: ScriptedDeepCall, capsys: pytest.CaptureFixture[str]
) -> None:
    deepcall.set_credentials({"ssid": "rotated-elsewhere"})

    code = main(["expire", "--mask", MASK])

    captured = capsys.readouterr()
    assert code == EXIT_USAGE
    assert "rotate the secret" in captured.err
    assert_redacted(captured.out + captured.err)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mask", "12"], "error: invalid_number: mask (***12) is not a possible phone number"),
        (["--m1", "9876543210", "--m2", "98765 43210"], "error: same_numbers:"),
    ],
)
def test_an_unusable_number_is_a_usage_error_and_nothing_is_sent(
    stack: LocalStack,
    deepcall: ScriptedDeepCall,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    assert main(["expire", *args]) == EXIT_USAGE
    captured = capsys.readouterr()
    assert captured.err.startswith(message)
    assert deepcall.unset_calls == []
    assert_redacted(captured.out + captured.err)


def test_aws_region_alone_is_honoured(
    stack: LocalStack,
    deepcall: ScriptedDeepCall,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # boto3 reads only AWS_DEFAULT_REGION; Lambda and the documents set AWS_REGION.
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("AWS_REGION", "us-east-1")

    code = main(["expire", "--mask", MASK])

    captured = capsys.readouterr()
    assert code == EXIT_OK, captured.err
    assert len(deepcall.unset_calls) == 1


def test_a_dry_run_needs_no_aws(
    deepcall: ScriptedDeepCall,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # No region, no endpoint, no credentials; tables configured, which a dry run must not touch.
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("DEEPCALL_BASE_URL", deepcall.base_url)
    monkeypatch.setenv("DEEPCALL_ALLOW_HTTP", "true")
    monkeypatch.setenv("DEEPCALL_SECRET_ID", "masking-unset/deepcall")
    monkeypatch.setenv("IDEMPOTENCY_TABLE", "idempotency")
    monkeypatch.setenv("TICKET_STATE_TABLE", "ticket-state")
    monkeypatch.setenv("HASH_KEY_SECRET_ID", "masking-unset/hash-key")  # required, never read

    code = main(["expire", "--mask", MASK, "--ticket-id", "T-1", "--dry-run"])

    captured = capsys.readouterr()
    assert code == EXIT_OK, captured.err
    assert "dry_run: event cli-" in captured.out
    assert deepcall.unset_calls == []


def test_no_region_is_a_configuration_error(
    deepcall: ScriptedDeepCall,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("DEEPCALL_BASE_URL", deepcall.base_url)
    monkeypatch.setenv("DEEPCALL_ALLOW_HTTP", "true")
    monkeypatch.setenv("DEEPCALL_SECRET_ID", "masking-unset/deepcall")

    code = main(["expire", "--mask", MASK])

    err = capsys.readouterr().err
    assert code == EXIT_USAGE
    assert err.startswith("error: ")
    assert "AWS configuration: " in err
    assert "AWS_REGION" in err  # the hint: what to set
    assert deepcall.unset_calls == []


def test_a_missing_secret_names_the_aws_error_code(
    stack: LocalStack,
    deepcall: ScriptedDeepCall,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DEEPCALL_SECRET_ID", "masking-unset/no-such-secret")

    code = main(["expire", "--mask", MASK])

    err = capsys.readouterr().err
    assert code == EXIT_USAGE
    assert "DEEPCALL_SECRET_ID could not be read (ResourceNotFoundException)" in err
    assert deepcall.unset_calls == []
