"""``masking-unset demo``: readable output, the functions' metric lines only with ``--verbose``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from masking_unset_tools.cli import EXIT_OK, main

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
