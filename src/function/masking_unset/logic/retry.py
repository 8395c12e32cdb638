"""Bounded retries with exponential backoff and full jitter, inside the invocation's time."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from masking_unset.logic.failures import disposition
from masking_unset.models.budget import Deadline
from masking_unset.models.errors import UpstreamError, UpstreamUnavailable

T = TypeVar("T")


def clamp(value: float, low: float, high: float) -> float:
    """``value`` within ``[low, high]``; NaN counts as ``high`` (an unknown wait is the longest)."""
    if math.isnan(value):
        return high
    return min(max(value, low), high)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try before handing an event back to its queue or sender."""

    max_attempts: int = 3
    base_delay: float = 0.2
    max_delay: float = 2.0
    retry_after_cap: float = 5.0
    # An attempt is only started if this much time would remain after it: the slowest attempt
    # (connect + read timeout) plus room to answer or to hand the event on.
    attempt_budget: float = 8.05
    safety_margin: float = 2.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def backoff(self, attempt: int, exc: BaseException) -> float:
        """Delay before attempt ``attempt + 1``: ``Retry-After`` (capped) or full jitter."""
        asked = getattr(exc, "retry_after", None) if isinstance(exc, UpstreamError) else None
        if asked is not None:
            return clamp(float(asked), 0.0, self.retry_after_cap)
        # Capped before the power: 2.0 ** 1024 overflows, and past 2**30 max_delay wins anyway.
        exponent = min(max(0, attempt - 1), 30)
        ceiling = clamp(self.base_delay * 2.0**exponent, 0.0, self.max_delay)
        return self.rng.uniform(0.0, ceiling)

    def run(self, action: Callable[[], T], deadline: Deadline) -> T:
        """Call ``action`` until it succeeds, fails for a reason retrying can't fix, runs out of
        attempts, or the next attempt would not finish before the deadline.

        Not even the first attempt starts without the time to finish it: a call cut off by the
        Lambda timeout would leave its outcome unknown, while a retryable failure is handed on.
        """
        if deadline.remaining() < self.attempt_budget + self.safety_margin:
            raise UpstreamUnavailable(
                "not enough time left in this invocation for a DeepCall call", code="no_time_left"
            )
        attempt = 1
        while True:
            try:
                return action()
            except Exception as exc:
                if not disposition(exc).retry_now or attempt >= self.max_attempts:
                    raise
                delay = self.backoff(attempt, exc)
                needed = delay + self.attempt_budget + self.safety_margin
                if deadline.remaining() < needed:
                    raise
                self.sleep(delay)
                attempt += 1
