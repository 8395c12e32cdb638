"""Logs, metrics and traces. Structured; never a raw phone number, a secret or a whole event."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

SERVICE = "masking-unset"
NAMESPACE = "MaskingUnset"

logger = Logger(service=SERVICE)
metrics = Metrics(service=SERVICE, namespace=NAMESPACE)
_metrics_lock = threading.Lock()  # batch records run in threads; the metric set is shared


def count(name: str, value: float = 1) -> None:
    """Add to a counter flushed (as EMF) when the invocation ends."""
    with _metrics_lock:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def count_by(name: str, dimension: str, value: str) -> None:
    """A counter with its own dimension (a reason or a code), emitted at once."""
    with single_metric(name=name, unit=MetricUnit.Count, value=1, namespace=NAMESPACE) as metric:
        metric.add_dimension(name="service", value=SERVICE)
        metric.add_dimension(name=dimension, value=value[:250])


def milliseconds(name: str, value: float) -> None:
    """Add a duration in milliseconds."""
    with _metrics_lock:
        metrics.add_metric(name=name, unit=MetricUnit.Milliseconds, value=round(value, 3))


@lru_cache(maxsize=1)
def tracer() -> Tracer:
    """The X-Ray tracer, created on first use (its SDK is slow to import). Powertools disables it
    outside Lambda."""
    from aws_lambda_powertools import Tracer

    return Tracer(service=SERVICE, patch_modules=("botocore",))


_TRUTHY = frozenset({"1", "y", "yes", "t", "true", "on"})


@lru_cache(maxsize=1)
def _tracing_off() -> bool:
    """Whether the Tracer would disable itself, by Powertools' documented rule: explicitly
    (``POWERTOOLS_TRACE_DISABLED``), or outside Lambda (no ``LAMBDA_TASK_ROOT``) and in its local
    emulators (``AWS_SAM_LOCAL``, ``AWS_CHALICE_CLI_MODE``), where no X-Ray daemon listens.
    Read once from the environment without building the tracer: building it imports the X-Ray
    SDK even to disable it (~100 ms of cold start)."""
    if os.environ.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower() in _TRUTHY:
        return True
    in_lambda = bool(os.environ.get("LAMBDA_TASK_ROOT"))
    emulated = bool(os.environ.get("AWS_SAM_LOCAL") or os.environ.get("AWS_CHALICE_CLI_MODE"))
    return not in_lambda or emulated


def warm_tracer() -> bool:
    """Build the tracer now if this environment traces (SnapStart's ``before_snapshot``), so no
    invocation pays for the X-Ray SDK's import; True if it was built."""
    if _tracing_off():
        return False
    tracer()
    return True


@contextmanager
def subsegment(name: str, **annotations: str) -> Iterator[Any]:
    """A trace subsegment around a block; annotations must hold no personal data."""
    if _tracing_off() or (active := tracer()).disabled:
        with nullcontext() as nothing:
            yield nothing
        return
    with active.provider.in_subsegment(name) as segment:
        for key, value in annotations.items():
            segment.put_annotation(key=key, value=value)
        yield segment
