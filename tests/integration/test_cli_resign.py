"""`masking-unset resign`: stored webhook events, signed afresh, pass their source's check."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from masking_unset.handlers.webhook import lambda_handler
from masking_unset_tools.cli import EXIT_OK, EXIT_USAGE, main
from masking_unset_tools.local.lambda_context import LocalLambdaContext
from masking_unset_tools.local.stack import LocalStack

EVENTS = Path(__file__).resolve().parents[2] / "events"
MANIFEST: dict[str, dict[str, Any]] = json.loads((EVENTS / "manifest.json").read_text())
SIGNED = sorted(
    name for name, spec in MANIFEST.items() if spec.get("sign") and not spec.get("tamper")
)
TIMESTAMPED = {"generic", "zendesk", "hubspot"}  # the schemes whose signatures go stale


def status(event: dict[str, Any]) -> int:
    answer = lambda_handler(event, LocalLambdaContext())  # type: ignore[arg-type]
    return int(answer["statusCode"])


@pytest.mark.parametrize("name", SIGNED)
def test_resigned_events_authenticate(
    name: str,
    stack: LocalStack,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for variable, value in MANIFEST[name].get("env", {}).items():
        monkeypatch.setenv(variable, value)
    stored = json.loads((EVENTS / name).read_text())
    if MANIFEST[name]["sign"] in TIMESTAMPED:
        assert status(stored) == 401  # the stored signature is long stale
    capsys.readouterr()  # drop the function's own log lines

    assert main(["resign", str(EVENTS / name)]) == EXIT_OK
    resigned = json.loads(capsys.readouterr().out)

    assert status(resigned) not in {401, 404}


def test_resign_refuses_an_event_that_is_not_a_webhook(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["resign", str(EVENTS / "sqs-batch.json")]) == EXIT_USAGE
    assert "not a webhook event" in capsys.readouterr().err
