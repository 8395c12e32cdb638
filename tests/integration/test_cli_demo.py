"""``masking-unset demo``: readable output, the functions' metric lines only with ``--verbose``,
and a DeepCall outage at the end (deferred, not parked; one probe; every close expired once)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from masking_unset_tools.cli import EXIT_FAILED, EXIT_OK, main
from masking_unset_tools.local.stack import setting_names

EVENTS = Path(__file__).resolve().parents[2] / "events"


@pytest.fixture
def one_event(tmp_path: Path) -> Path:
    (tmp_path / "ev.json").write_text((EVENTS / "webhook-http-api.json").read_text())
    entry = {"function": "webhook", "sign": "generic", "expect": {"statusCode": 200}}
    (tmp_path / "manifest.json").write_text(json.dumps({"ev.json": entry}))
    return tmp_path


def test_the_demo_is_quiet_by_default_and_shows_a_small_backfill(
    one_event: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["demo", "--events", str(one_event)])

    captured = capsys.readouterr()
    assert code == EXIT_OK
    assert "== ev.json  ->  webhook handler" in captured.out
    assert "all events behaved as expected" in captured.out
    assert '"_aws"' not in captured.out + captured.err  # no EMF metric line
    assert not [line for line in captured.out.splitlines() if line.startswith("{")]
    # The backfill scene: five rows, one invalid, one repeat, one mapped ticket.
    out = captured.out
    scene = out[out.index("== backfill") : out.index("== DeepCall outage")]
    lines = [line.strip() for line in scene.splitlines()]
    assert "$ masking-unset backfill closed.csv --source zendesk" in lines
    assert "queued: 3" in lines
    assert "skipped repeats: 1 (line 6 repeats line 2)" in lines
    assert "line 5: invalid_number: mask (***12) is not a possible phone number" in lines
    assert len([line for line in lines if line.startswith("DeepCall received POST")]) == 3
    assert "3 maskings expired, each once; dead-letter queue empty" in lines
    assert any(
        line.startswith("the same command again: 0 queued, 3 queued before") for line in lines
    )
    assert "!!" not in scene
    assert "92000" not in scene  # the rows' numbers appear cut to their last four digits only


@pytest.mark.slow
def test_the_demo_ends_with_a_deepcall_outage(
    one_event: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["demo", "--events", str(one_event)])

    out = capsys.readouterr().out
    assert code == EXIT_OK
    scene = out[out.index("== DeepCall outage") :]
    lines = [line.strip() for line in scene.splitlines()]
    # Each count is read from the stand-in's log, the breaker's item and the queues.
    assert "DeepCall received 2 requests, each answered 503" in lines
    assert "circuit breaker opened after 2 failures" in lines
    assert (
        "5 events deferred (not parked): new messages waiting in the queue; dead-letter queue: 0"
        in lines
    )
    webhook = next(line for line in lines if line.startswith("webhook answered"))
    assert re.fullmatch(r"webhook answered 202 queued: .*\(circuit breaker open\).*", webhook)
    assert lines[lines.index(webhook) + 1] == "DeepCall received nothing"
    assert "one probe sent; DeepCall received nothing while the circuit was open" in lines
    assert "DeepCall healthy again: probe succeeded, circuit closed" in lines
    assert (
        "6 events expired (5 closes and the webhook's), each once; dead-letter queue empty" in lines
    )
    assert "!!" not in scene
    assert scene.rstrip().endswith("all events behaved as expected")
    # Privacy: the scene's numbers (91000000xx) appear nowhere, not even cut.
    assert "91000000" not in out


def test_the_demo_shows_metric_lines_with_verbose(
    one_event: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["demo", "--events", str(one_event), "--verbose"])

    captured = capsys.readouterr()
    assert code == EXIT_OK
    assert '"_aws"' in captured.out


def test_the_demo_keeps_the_users_settings_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in setting_names():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HUBSPOT_CLOSED_STAGES", "98765432")  # the shipped event closes stage 4
    monkeypatch.setenv("EXPIRY_GRACE_MINUTES", "12")
    manifest = json.loads((EVENTS / "manifest.json").read_text())
    for name in ("hubspot-batch.json", "webhook-close-grace.json"):
        (tmp_path / name).write_text((EVENTS / name).read_text())
    entries = {name: manifest[name] for name in ("hubspot-batch.json", "webhook-close-grace.json")}
    (tmp_path / "manifest.json").write_text(json.dumps(entries))

    code = main(["demo", "--events", str(tmp_path)])

    out = capsys.readouterr().out
    assert code == EXIT_FAILED
    assert "your settings in effect: EXPIRY_GRACE_MINUTES, HUBSPOT_CLOSED_STAGES" in out
    assert "demo values: SALESFORCE_ORG_IDS=00D000000000DEMOAA; set them to use your own" in out
    assert "your EXPIRY_GRACE_MINUTES used instead of the manifest's" in out
    assert "expected expires_in_minutes 30, got 12" in out
    assert "expected results ['unset', 'ignored']" in out
    problems = [line.strip() for line in out.splitlines() if "!!" in line]
    assert "2 event(s) differed" in out, problems  # the two above; every other scene as shipped
    assert "unset them to run the demo as shipped" in out
