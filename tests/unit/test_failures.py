"""The failure table."""

from __future__ import annotations

import pytest

from masking_unset.logic.failures import FailureKind, classify
from masking_unset.models.errors import (
    AuthenticationFailed,
    ConfigurationError,
    InFlight,
    InvalidNumber,
    UnresolvedTarget,
    UpstreamRejected,
    UpstreamUnavailable,
)


def rejected(code: int | None, message: str = "x", status: int = 200) -> UpstreamRejected:
    return UpstreamRejected(message, deepcall_code=code, http_status=status)


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (UpstreamUnavailable("timeout"), FailureKind.RETRYABLE),
        (rejected(1009), FailureKind.RETRYABLE),
        (rejected(1010), FailureKind.RETRYABLE),
        (rejected(1014), FailureKind.CREDENTIALS),
        (rejected(1015), FailureKind.CONFIGURATION),
        (rejected(1000), FailureKind.PERMANENT),
        (rejected(1047), FailureKind.PERMANENT),
        *[(rejected(code), FailureKind.PERMANENT) for code in range(1501, 1506)],
        (rejected(4242), FailureKind.PERMANENT),
        (rejected(None, status=503), FailureKind.RETRYABLE),
        (rejected(None, status=429), FailureKind.RETRYABLE),
        (rejected(None, status=400), FailureKind.PERMANENT),
        (rejected(None, "Masking already expired"), FailureKind.ALREADY_DONE),
        (rejected(4242, "no active masking for this number"), FailureKind.ALREADY_DONE),
        (ConfigurationError("x"), FailureKind.CONFIGURATION),
        (InvalidNumber("x"), FailureKind.PERMANENT),
        (UnresolvedTarget("x"), FailureKind.PERMANENT),
        (AuthenticationFailed("x"), FailureKind.PERMANENT),
        (RuntimeError("bug"), FailureKind.RETRYABLE),
        (InFlight("x"), FailureKind.RETRYABLE),
    ],
)
def test_table(exc: BaseException, kind: FailureKind) -> None:
    assert classify(exc) is kind


def test_code_on_a_5xx_is_classified_by_code_first() -> None:
    assert classify(rejected(1000, status=503)) is FailureKind.PERMANENT


def test_operator_configured_already_done_codes() -> None:
    assert (
        classify(rejected(1505), already_done_codes=frozenset({1505})) is FailureKind.ALREADY_DONE
    )
