"""``masking-unset demo``: readable output, the functions' metric lines only with ``--verbose``."""

from __future__ import annotations

import json
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


def test_the_demo_is_quiet_by_default(one_event: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["demo", "--events", str(one_event)])

    captured = capsys.readouterr()
    assert code == EXIT_OK
    assert "== ev.json  ->  webhook handler" in captured.out
    assert "all events behaved as expected" in captured.out
    assert '"_aws"' not in captured.out + captured.err  # no EMF metric line
    assert not [line for line in captured.out.splitlines() if line.startswith("{")]


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
    assert "2 event(s) differed" in out
    assert "unset them to run the demo as shipped" in out
