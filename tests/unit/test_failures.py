"""The failure table."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

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
        (rejected(4242), FailureKind.UNRECOGNISED),
        (rejected(None, status=503), FailureKind.RETRYABLE),
        (rejected(None, status=429), FailureKind.RETRYABLE),
        (rejected(None, status=400), FailureKind.UNRECOGNISED),
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


# -- "already done" means DeepCall said the masking is gone -----------------------------------


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (401, "User not found"),
        (404, "Route not found"),
        (404, "Not Found"),
        (403, "Account does not exist"),
        (200, "User not found"),
        (200, "Route not found"),
        (200, "API key does not exist"),
        (200, "Account not found"),
        (200, "not found"),
    ],
)
def test_not_found_about_anything_but_a_masking_is_a_failure(status: int, message: str) -> None:
    kind = classify(rejected(None, message, status))
    assert kind is not FailureKind.ALREADY_DONE
    assert kind is FailureKind.UNRECOGNISED


@pytest.mark.parametrize(
    "message",
    [
        "Masking already expired",
        "masking is already unset",
        "This masking has already been removed",
        "No active masking for this number",
        "no such masking",
        "Masking does not exist",
        "MASKING NOT FOUND",
        "masking is not active",
    ],
)
def test_documented_phrases_on_a_2xx_answer_are_done(message: str) -> None:
    assert classify(rejected(None, message, 200)) is FailureKind.ALREADY_DONE
    assert classify(rejected(4242, message, 200)) is FailureKind.ALREADY_DONE


@pytest.mark.parametrize("status", [301, 400, 401, 404, 409, 422, 429, 500, 502, 503])
def test_a_non_2xx_answer_is_never_done(status: int) -> None:
    assert classify(rejected(None, "Masking already expired", status)) is not (
        FailureKind.ALREADY_DONE
    )
    assert (
        classify(
            rejected(1505, "Masking number not available", status),
            already_done_codes=frozenset({1505}),
        )
        is not FailureKind.ALREADY_DONE
    )


def test_a_phrase_in_our_own_wrapper_does_not_count() -> None:
    # Only DeepCall's own words are read, not the text this service wrapped around them.
    exc = UpstreamRejected(
        "DeepCall refused the unset: masking not found",
        http_status=200,
        upstream_message="User not found",
    )
    assert classify(exc) is FailureKind.UNRECOGNISED


@given(
    message=st.text(max_size=80),
    status=st.integers(100, 599).filter(lambda s: not 200 <= s < 300),
    code=st.none() | st.integers(0, 99_999),
)
def test_no_non_2xx_answer_of_any_text_or_code_is_done(
    message: str, status: int, code: int | None
) -> None:
    exc = rejected(code, message, status)
    assert classify(exc, already_done_codes=frozenset({code or 0})) is not FailureKind.ALREADY_DONE


@given(message=st.text(max_size=80))
def test_text_that_never_names_a_masking_is_never_done(message: str) -> None:
    if "masking" in message.casefold():
        return
    assert classify(rejected(None, message, 200)) is not FailureKind.ALREADY_DONE
