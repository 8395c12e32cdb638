"""A token bucket that paces DeepCall requests across the batch threads of one container."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class TokenBucket:
    """At most ``rate`` acquisitions per second on average, at most ``burst`` at once.

    Thread-safe: each caller reserves its token under a lock and waits outside it, so concurrent
    callers are spaced ``1 / rate`` apart in arrival order. ``max_wait`` bounds the wait of one
    call: a caller that would wait longer takes nothing and is told no (its work goes back to
    the retry policy or the queue, whose budgets already allow for ``max_wait``).
    ``clock`` and ``sleep`` are injectable so that tests need no real waiting.
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: float = 1.0,
        max_wait: float = math.inf,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not rate > 0 or math.isinf(rate):
            raise ValueError("rate must be a positive, finite number of requests per second")
        if not burst >= 1:
            raise ValueError("burst must be at least 1")
        if not max_wait >= 0:
            raise ValueError("max_wait must not be negative")
        self.rate = float(rate)
        self.burst = float(burst)
        self.max_wait = max_wait
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self.burst  # a fresh container may send its burst at once
        self._updated = clock()

    def _refill(self, now: float) -> None:
        # Called with the lock held. Tokens below zero are reservations of waiting callers.
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
        self._updated = now

    def reserve(self) -> float | None:
        """Take a token; returns the seconds to wait before using it, or None (nothing taken)
        when that would be longer than ``max_wait``."""
        with self._lock:
            self._refill(self._clock())
            wait = max(0.0, (1.0 - self._tokens) / self.rate)
            if wait > self.max_wait:
                return None
            self._tokens -= 1.0
            return wait

    def acquire(self) -> bool:
        """Wait for a token and take it; False, at once and taking nothing, if the wait would be
        longer than ``max_wait``."""
        wait = self.reserve()
        if wait is None:
            return False
        if wait > 0:
            self._sleep(wait)
        return True

    def wait_time(self) -> float:
        """Seconds until a token would be free (a hint: other callers may take it first)."""
        with self._lock:
            self._refill(self._clock())
            return max(0.0, (1.0 - self._tokens) / self.rate)
