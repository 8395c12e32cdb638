"""The make targets the documents name pass their options through as the documents say.

``make -n`` prints the recipe without running it, so these need no benchmark run and no AWS.
"""

from __future__ import annotations

import os
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


def test_local_invoke_checks_for_a_container_runtime_before_installing_sam() -> None:
    lines = _recipe("local-invoke", "FUNCTION=WebhookFunction", "EVENT=signed.json")
    check = next(i for i, line in enumerate(lines) if "--check-runtime" in line)
    install = next(i for i, line in enumerate(lines) if "sam/.synced" in line)
    run = next(i for i, line in enumerate(lines) if "sam local invoke" in line)
    assert check < install < run
    # SAM runs through the module that starts the stand-ins and writes its --env-vars file.
    assert "-m masking_unset_tools.local.sam_local --dir .cache/local-invoke" in lines[run]
    assert "--host host.docker.internal" in lines[run]


def _run_make(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    assert MAKE is not None
    return subprocess.run(  # noqa: S603 - fixed arguments, no user input
        [MAKE, "--no-print-directory", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=env,
    )


def test_local_invoke_without_a_container_runtime_says_what_to_run_instead() -> None:
    # No docker or finch on this PATH and no DOCKER_HOST: the check fails before SAM installs.
    env = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}
    env["PATH"] = os.pathsep.join(p for p in ("/usr/bin", "/bin") if Path(p).is_dir())
    if any(
        Path(d, tool).exists()
        for d in env["PATH"].split(os.pathsep)
        for tool in ("docker", "finch")
    ):
        pytest.skip("a container runtime is installed here")
    done = _run_make("local-invoke", "FUNCTION=WebhookFunction", "EVENT=/tmp/signed.json", env=env)
    assert done.returncode != 0
    assert "needs a running container runtime" in done.stderr
    assert ".venv/bin/masking-unset invoke /tmp/signed.json" in done.stderr
    assert "sam/.synced" not in done.stdout  # nothing installed first


def test_a_failed_deploy_says_how_to_run_what_sam_suggests(tmp_path: Path) -> None:
    # A stand-in for the pinned SAM CLI that fails as SAM does, suggesting a bare `sam`.
    sam = tmp_path / "sam" / "bin" / "sam"
    sam.parent.mkdir(parents=True)
    sam.write_text('#!/bin/sh\necho "Error: no stack. Run sam deploy --guided"\nexit 1\n')
    sam.chmod(0o755)
    (tmp_path / "sam" / ".synced").touch()  # newer than .ci/sam-requirements.txt
    done = _run_make("deploy", f"TOOLS={tmp_path}")
    assert done.returncode != 0
    assert "sam deploy failed" in done.stderr
    assert "not on the PATH" in done.stderr
    assert "make deploy ARGS=--guided" in done.stderr


def test_help_lists_every_target_with_its_description() -> None:
    done = _run_make("help")
    assert done.returncode == 0, done.stderr
    described = dict(
        line.strip().split(None, 1) for line in done.stdout.splitlines() if line.strip()
    )
    assert set(described) == _phony_targets()
    assert all(description.strip() for description in described.values())
    # No line suggests a bare `sam`, which is not on the PATH.
    assert not re.search(r"`sam ", done.stdout)


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
