"""Console helpers shared by the commands: output sink, the functions' own logs and metrics."""

from __future__ import annotations

import io
import logging
import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext, redirect_stdout

Out = Callable[[str], None]
"""Where a command writes its lines (``print`` in the CLI, a list's ``append`` in tests)."""

_METRICS_DISABLED = "POWERTOOLS_METRICS_DISABLED"
_quiet = [False]  # set while function_logs(verbose=False) is active


@contextmanager
def function_logs(verbose: bool) -> Iterator[None]:
    """Show the functions' structured logs and EMF metric lines only when ``verbose``; restore
    the log level and the environment afterwards.

    The commands print their own redacted summary; the JSON lines are for debugging.
    """
    from masking_unset.observability import logger

    saved_level = logger.log_level
    saved_metrics = os.environ.get(_METRICS_DISABLED)
    saved_quiet = _quiet[0]
    logger.setLevel(logging.INFO if verbose else logging.CRITICAL)
    if not verbose:
        os.environ[_METRICS_DISABLED] = "true"  # Powertools reads it at every flush
    _quiet[0] = not verbose
    try:
        with warnings.catch_warnings():
            # "No application metrics to publish": true, and noise on a console.
            warnings.filterwarnings("ignore", module="aws_lambda_powertools")
            yield
    finally:
        _quiet[0] = saved_quiet
        logger.setLevel(saved_level)
        if saved_metrics is None:
            os.environ.pop(_METRICS_DISABLED, None)
        else:
            os.environ[_METRICS_DISABLED] = saved_metrics


def function_stdout() -> redirect_stdout[io.StringIO] | nullcontext[None]:
    """Around a handler call: drop what it prints (single EMF metrics ignore the disabled
    flag) unless :func:`function_logs` is verbose."""
    return redirect_stdout(io.StringIO()) if _quiet[0] else nullcontext()
