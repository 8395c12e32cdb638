"""Retry policy inside an invocation, and the visibility backoff of records handed back."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from masking_unset.handlers.responses import MAX_RETRY_AFTER, retry_after_header
from masking_unset.logic.batch import Backoff
from masking_unset.logic.retry import RetryPolicy, clamp
from masking_unset.models.budget import Deadline
from masking_unset.models.errors import InvalidNumber, UpstreamRejected, UpstreamUnavailable


class Script:
    """An action that fails with the given errors, then succeeds."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def policy(sleeps: list[float], **kwargs: float) -> RetryPolicy:
    return RetryPolicy(sleep=sleeps.append, rng=random.Random(1), **kwargs)  # type: ignore[arg-type]


def test_retryable_failures_are_retried_until_success() -> None:
    sleeps: list[float] = []
    action = Script(UpstreamUnavailable("down"), UpstreamRejected("x", deepcall_code=1009))
    assert policy(sleeps).run(action, Deadline()) == "ok"
    assert action.calls == 3
    assert len(sleeps) == 2


def test_attempts_are_bounded() -> None:
    sleeps: list[float] = []
    action = Script(*[UpstreamUnavailable("down")] * 5)
    with pytest.raises(UpstreamUnavailable):
        policy(sleeps, max_attempts=3).run(action, Deadline())
    assert action.calls == 3


@pytest.mark.parametrize(
    "error", [InvalidNumber("bad"), UpstreamRejected("no", deepcall_code=1000)]
)
def test_permanent_failures_are_not_retried(error: Exception) -> None:
    sleeps: list[float] = []
    action = Script(error)
    with pytest.raises(type(error)):
        policy(sleeps).run(action, Deadline())
    assert action.calls == 1
    assert sleeps == []


def test_retry_after_is_honoured_up_to_the_cap() -> None:
    sleeps: list[float] = []
    action = Script(
        UpstreamUnavailable("slow down", retry_after=2),
        UpstreamUnavailable("slow down", retry_after=60),
    )
    policy(sleeps, retry_after_cap=5).run(action, Deadline())
    assert sleeps == [2.0, 5.0]


def test_no_attempt_starts_that_would_outlive_the_invocation() -> None:
    sleeps: list[float] = []
    remaining_ms = iter([20_000, 12_000, 9_000])
    action = Script(UpstreamUnavailable("down"), UpstreamUnavailable("down"))
    deadline = Deadline(lambda: next(remaining_ms))
    with pytest.raises(UpstreamUnavailable):
        policy(sleeps, attempt_budget=8.0, safety_margin=2.0, base_delay=0.1).run(action, deadline)
    # 12 s left allowed a second attempt; 9 s did not leave room for a third.
    assert action.calls == 2
    assert len(sleeps) == 1


@given(attempt=st.integers(1, 30), seed=st.integers(0, 2**32))
def test_full_jitter_stays_within_the_exponential_ceiling(attempt: int, seed: int) -> None:
    retry = RetryPolicy(base_delay=0.2, max_delay=2.0, rng=random.Random(seed))
    delay = retry.backoff(attempt, UpstreamUnavailable("x"))
    assert 0.0 <= delay <= min(2.0, 0.2 * 2 ** (attempt - 1))


@given(receive_count=st.integers(1, 50), seed=st.integers(0, 2**32))
def test_visibility_backoff_doubles_per_receive_and_is_capped(
    receive_count: int, seed: int
) -> None:
    backoff = Backoff(base_seconds=30, max_seconds=900)
    ceiling = min(900, 30 * 2 ** (receive_count - 1))
    seconds = backoff.seconds(receive_count, random.Random(seed))
    assert ceiling // 2 <= seconds <= ceiling


def test_visibility_backoff_grows() -> None:
    rng = random.Random(3)
    backoff = Backoff(base_seconds=10, max_seconds=10_000)
    firsts = [backoff.seconds(1, rng) for _ in range(20)]
    fourths = [backoff.seconds(4, rng) for _ in range(20)]
    assert max(firsts) <= 10 < 40 <= min(fourths)


def test_no_first_attempt_without_the_time_to_finish_it() -> None:
    sleeps: list[float] = []
    action = Script()
    deadline = Deadline(lambda: 9_000)
    with pytest.raises(UpstreamUnavailable) as caught:
        policy(sleeps, attempt_budget=8.0, safety_margin=2.0).run(action, deadline)
    assert caught.value.code == "no_time_left"
    assert action.calls == 0


# --- every wait is bounded, whatever the counts and headers say ------------------------------


@pytest.mark.parametrize("receive_count", [2000, 10**6, 2**62, 0, -5])
def test_visibility_backoff_is_bounded_for_any_receive_count(receive_count: int) -> None:
    # 2 ** 1999 as a float was an OverflowError, which handed back the whole batch.
    seconds = Backoff(base_seconds=30, max_seconds=900).seconds(receive_count, random.Random(1))
    assert 0 <= seconds <= 900


@given(receive_count=st.integers(), seed=st.integers(0, 2**32))
def test_visibility_backoff_never_exceeds_its_maximum(receive_count: int, seed: int) -> None:
    assert 0 <= Backoff().seconds(receive_count, random.Random(seed)) <= Backoff().max_seconds


@pytest.mark.parametrize("attempt", [2000, 10**6])
def test_jitter_is_bounded_for_any_attempt(attempt: int) -> None:
    assert 0.0 <= policy([]).backoff(attempt, UpstreamUnavailable("x")) <= 2.0


@pytest.mark.parametrize("asked", [math.inf, math.nan, -1.0, 1e308])
def test_retry_after_is_bounded_whatever_was_asked(asked: float) -> None:
    delay = policy([], retry_after_cap=5.0).backoff(1, UpstreamUnavailable("x", retry_after=asked))
    assert 0.0 <= delay <= 5.0


@given(value=st.floats(allow_nan=True), low=st.floats(-10, 0), high=st.floats(0, 10))
def test_clamp_stays_within_its_bounds(value: float, low: float, high: float) -> None:
    assert low <= clamp(value, low, high) <= high


@pytest.mark.parametrize("asked", [math.inf, math.nan, 1e308, 10**6])
def test_a_sender_is_never_told_to_wait_past_the_maximum(asked: float) -> None:
    header = retry_after_header(UpstreamUnavailable("x", retry_after=asked), 30)
    assert 1 <= int(header["Retry-After"]) <= MAX_RETRY_AFTER
