"""docs/operations.md's "Errors you can cause" table stays true: each row is run as written and
must print its message start and exit with its code."""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from masking_unset.config import Settings
from masking_unset_tools.cli import main

ROOT = Path(__file__).resolve().parents[2]
OPERATIONS = ROOT / "docs" / "operations.md"
SPAN = re.compile(r"`([^`]*)`")
# What comes before the message: ours, or argparse's.
PREFIX = re.compile(r"^(?:error: |masking-unset(?: [a-z]+)*: error: )")


def _rows() -> list[tuple[list[str], dict[str, str], str, int]]:
    text = OPERATIONS.read_text(encoding="utf-8")
    section = text.split("## Errors you can cause\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        arguments, variables, start, code, _ = (cell.strip() for cell in line.strip("|").split("|"))
        env = dict(span.split("=", 1) for span in SPAN.findall(variables))
        rows.append(
            (shlex.split(SPAN.findall(arguments)[0]), env, SPAN.findall(start)[0], int(code))
        )
    return rows


ROWS = _rows()


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Nothing of the functions' settings or of AWS from the caller; no credentials anywhere."""
    settings = {field.alias for field in Settings.model_fields.values() if field.alias}
    for name in list(os.environ):
        if name.startswith("AWS_") or name in settings:
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.chdir(ROOT)
    from masking_unset.app import reset_app

    reset_app()
    yield
    reset_app()


def test_the_table_covers_every_command_that_reads_configuration() -> None:
    commands = {args[0] for args, *_ in ROWS}
    assert {"expire", "dlq", "redrive", "invoke", "serve", "sign", "demo"} <= commands
    assert {code for *_, code in ROWS} == {1, 2}


@pytest.mark.parametrize(
    ("args", "env", "start", "code"), ROWS, ids=[" ".join(row[0])[:60] for row in ROWS]
)
def test_each_error_the_table_lists_is_printed_and_exits_as_it_says(
    clean_environment: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    env: dict[str, str],
    start: str,
    code: int,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(args) == code
    err = capsys.readouterr().err
    messages = [PREFIX.sub("", line) for line in err.splitlines() if PREFIX.match(line)]
    assert any(message.startswith(start) for message in messages), err
    assert "Traceback" not in err
    assert "Field required" not in err
    assert "Input should" not in err
