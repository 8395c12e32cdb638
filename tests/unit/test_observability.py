"""Tracing is off where Powertools' Tracer would switch itself off, decided without X-Ray."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from masking_unset import observability


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    observability._tracing_off.cache_clear()
    yield
    observability._tracing_off.cache_clear()


LAMBDA = {"LAMBDA_TASK_ROOT": "/var/task"}


@pytest.mark.parametrize(
    ("env", "off"),
    [
        ({}, True),  # not in Lambda
        (LAMBDA, False),
        ({**LAMBDA, "POWERTOOLS_TRACE_DISABLED": "true"}, True),
        ({**LAMBDA, "POWERTOOLS_TRACE_DISABLED": "1"}, True),
        ({**LAMBDA, "POWERTOOLS_TRACE_DISABLED": "false"}, False),
        ({**LAMBDA, "AWS_SAM_LOCAL": "true"}, True),
        ({**LAMBDA, "AWS_CHALICE_CLI_MODE": "true"}, True),
    ],
)
def test_the_rule_agrees_with_powertools(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], off: bool
) -> None:
    for name in ("LAMBDA_TASK_ROOT", "POWERTOOLS_TRACE_DISABLED", "AWS_SAM_LOCAL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AWS_CHALICE_CLI_MODE", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert observability._tracing_off() is off
    from aws_lambda_powertools.tracing.tracer import Tracer

    # The same answer as Powertools' own check (private: compared here, never called at run time).
    assert bool(Tracer._is_tracer_disabled()) is off


def test_a_subsegment_outside_lambda_never_imports_the_xray_sdk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LAMBDA_TASK_ROOT", raising=False)
    monkeypatch.setattr(observability, "tracer", lambda: pytest.fail("tracer built"))
    with observability.subsegment("## test", field="x") as segment:
        assert segment is None
    assert observability._tracing_off()
