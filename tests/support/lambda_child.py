"""Run a script in a child interpreter that believes it is in Lambda, for what keeps global
state once loaded (the X-Ray SDK patches botocore for the whole process)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_as_in_lambda(
    script: str, stack_env: Mapping[str, str], task_root: Path, **extra: str
) -> subprocess.CompletedProcess[str]:
    """``python -c script`` with the local stack's settings, Lambda's markers (tracing on unless
    ``extra`` says otherwise) and ``extra``; the caller checks the outcome."""
    env = {
        **stack_env,
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "POWERTOOLS_TRACE_DISABLED": "false",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
        "LAMBDA_TASK_ROOT": str(task_root),
        "AWS_LAMBDA_FUNCTION_NAME": "masking-unset-test",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        **extra,
    }
    return subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
