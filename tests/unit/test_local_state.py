"""What a running ``serve`` publishes for ``masking-unset local env``, and how it is read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from masking_unset_tools.cli import EXIT_FAILED, EXIT_OK, main
from masking_unset_tools.local.state import published, running_stacks, state_dir

VARIABLES = {"AWS_ENDPOINT_URL": "http://127.0.0.1:4566", "MASKING_MAP_TABLE": "mu-1-map"}


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MASKING_UNSET_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


def test_the_state_folder_is_per_user() -> None:
    assert state_dir({"MASKING_UNSET_STATE_DIR": "/x/y"}) == Path("/x/y")
    assert state_dir({"XDG_RUNTIME_DIR": "/run/user/7"}) == Path("/run/user/7/masking-unset")
    assert state_dir({"XDG_CACHE_HOME": "/c"}) == Path("/c/masking-unset/run")


def test_a_published_stack_is_listed_until_the_block_ends(folder: Path) -> None:
    with published("http://127.0.0.1:8080", VARIABLES) as path:
        [stack] = running_stacks()
        assert stack.pid == os.getpid()
        assert stack.variables == VARIABLES
        assert oct(path.stat().st_mode & 0o777) == oct(0o600)
        assert oct(folder.stat().st_mode & 0o077) == oct(0)  # no one else's to read
    assert running_stacks() == []
    assert not path.exists()


def test_the_file_of_a_serve_that_was_killed_is_removed(folder: Path) -> None:
    script = "import os; print(os.getpid())"
    ended = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    folder.mkdir(parents=True)
    stale = folder / f"serve-{ended.stdout.strip()}.json"
    document = {"pid": int(ended.stdout), "url": "http://x:1", "started": 1, "variables": {}}
    stale.write_text(json.dumps(document))
    (folder / "serve-garbage.json").write_text("{not json")

    assert running_stacks() == []
    assert not stale.exists()


def test_local_env_prints_exports_quoted_for_the_shell(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with published("http://127.0.0.1:8080", {**VARIABLES, "ODD": "it's"}):
        assert main(["local", "env"]) == EXIT_OK
    out = capsys.readouterr().out.splitlines()
    assert (
        out[0]
        == f"# the local stack of masking-unset serve on http://127.0.0.1:8080 (pid {os.getpid()})"
    )
    assert out[1:] == [
        "export AWS_ENDPOINT_URL=http://127.0.0.1:4566",
        "export MASKING_MAP_TABLE=mu-1-map",
        "export ODD='it'\"'\"'s'",
    ]


def test_local_env_picks_a_serve_by_port(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with published("http://127.0.0.1:8080", VARIABLES):
        assert main(["local", "env", "--port", "9000"]) == EXIT_FAILED
        assert "no local stack is running on port 9000" in capsys.readouterr().err
        assert main(["local", "env", "--port", "8080"]) == EXIT_OK


def test_local_env_without_a_running_serve_exits_1(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["local", "env"]) == EXIT_FAILED
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(
        "error: no local stack is running: start masking-unset serve (looked in "
    )
