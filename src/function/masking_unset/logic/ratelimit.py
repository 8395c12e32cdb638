"""A token bucket that paces DeepCall requests across the batch threads of one container, and
the pacer that needs a slot from two of them (``DEEPCALL_MAX_RPS_PER_CONTAINER`` and the
fleet's ``DEEPCALL_MAX_RPS``)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Protocol


class Pacer(Protocol):
    """What :class:`BothPacers` needs of the fleet's pacer (the client's ``RequestPacer``)."""

    def acquire(self) -> bool:
        """Wait for a slot; False when none comes soon enough."""
        ...

    def wait_time(self) -> float:
        """Seconds until a slot would be free."""
        ...

    def pause(self, seconds: float) -> None:
        """No slot for ``seconds``."""
        ...


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

    def pause(self, seconds: float) -> None:
        """No token for ``seconds`` from now (DeepCall's ``Retry-After``); tokens already
        reserved keep their slots."""
        if not seconds > 0 or math.isnan(seconds):
            return
        with self._lock:
            self._refill(self._clock())
            # The next token is free when (1 - tokens) / rate = seconds.
            self._tokens = min(self._tokens, 1.0 - seconds * self.rate)


class BothPacers:
    """A slot from the container's own bucket and from the fleet's pacer, waited for at once:
    the bucket's token is reserved first, then the fleet's slot is taken, then whatever is left
    of the bucket's wait is slept, so the whole wait is the longer of the two (each at most its
    ``max_wait``). A bucket token is lost when the fleet then refuses (it paces less, never more).
    """

    def __init__(
        self,
        bucket: TokenBucket,
        fleet: Pacer,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.bucket = bucket
        self.fleet = fleet
        self._clock = clock
        self._sleep = sleep

    def acquire(self) -> bool:
        """Wait for both slots; False when either would come later than its ``max_wait``."""
        start = self._clock()
        wait = self.bucket.reserve()
        if wait is None or not self.fleet.acquire():
            return False
        left = start + wait - self._clock()
        if left > 0:
            self._sleep(left)
        return True

    def wait_time(self) -> float:
        """Seconds until both would have a slot (a hint)."""
        return max(self.bucket.wait_time(), self.fleet.wait_time())

    def pause(self, seconds: float) -> None:
        """Pause both."""
        self.bucket.pause(seconds)
        self.fleet.pause(seconds)
