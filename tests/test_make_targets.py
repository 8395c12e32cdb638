"""The make targets the documents name pass their options through as the documents say.

``make -n`` prints the recipe without running it, so these need no benchmark run and no AWS.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

MAKE = shutil.which("make")
# One worker runs every test that runs make or writes under .cache/ (make test runs in parallel).
pytestmark = [
    pytest.mark.skipif(MAKE is None, reason="make is not installed"),
    pytest.mark.xdist_group("repo-files"),
]


def _recipe(*args: str) -> list[str]:
    assert MAKE is not None
    done = subprocess.run(  # noqa: S603 - fixed arguments, no user input
        [MAKE, "-n", "--no-print-directory", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.splitlines()


def test_bench_quick_passes_quick_to_the_benchmark() -> None:
    assert any(line.endswith("-m benchmarks.run --quick") for line in _recipe("bench", "QUICK=1"))
    assert not any("--quick" in line for line in _recipe("bench"))


def test_deploy_runs_the_pinned_sam_with_the_given_args() -> None:
    lines = _recipe("deploy", "ARGS=--guided")
    assert any(".cache/tools/sam/bin/sam deploy --guided" in line for line in lines)


def test_local_invoke_runs_the_pinned_sam_on_the_given_function_and_event() -> None:
    lines = _recipe("local-invoke", "FUNCTION=WebhookFunction", "EVENT=signed.json", "ARGS=--debug")
    expected = ".cache/tools/sam/bin/sam local invoke WebhookFunction --event signed.json --debug"
    assert any(line.endswith(expected) for line in lines)
    assert not any("--event" in line for line in _recipe("local-invoke", "FUNCTION=QueueFunction"))


def test_demo_runs_the_console_script_the_documents_offer_instead() -> None:
    assert _recipe("demo")[-1] == ".venv/bin/masking-unset demo"


def test_documents_name_the_make_targets() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    deploying = (ROOT / "docs" / "deploying.md").read_text(encoding="utf-8")
    performance = (ROOT / "docs" / "performance.md").read_text(encoding="utf-8")
    assert "make deploy ARGS=--guided" in readme
    assert "make deploy ARGS=--guided" in deploying
    assert "make bench QUICK=1" in performance
    assert "make bench QUICK=1" in readme
    # A bare `sam` is not on the PATH after `make build`.
    assert "\nsam deploy" not in readme
    assert "\nsam deploy" not in deploying
    assert "\nsam local invoke" not in readme
    assert "make local-invoke FUNCTION=WebhookFunction" in readme


def _phony_targets() -> set[str]:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets: set[str] = set()
    for line in makefile.splitlines():
        if line.startswith(".PHONY:"):
            targets.update(line.removeprefix(".PHONY:").split())
    return targets


def test_readme_make_table_lists_every_target_and_nothing_else() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = [line for line in readme.splitlines() if line.startswith("| `make ")]
    listed = {name for row in rows for name in re.findall(r"`make ([a-z-]+)", row.split("|")[1])}
    assert listed == _phony_targets()
