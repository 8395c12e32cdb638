"""The DeepCall stand-in with what only the tests script: credential rotation, a seeded fault
rate, holding a request back until released, waiting for requests to arrive and when each
arrived. (An outage, ``set_outage``, is the stand-in's own: the demo plays one too.)"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from masking_unset_tools.local.deepcall_standin import (
    DeepCallStandIn,
    Fault,
    RecordedRequest,
    _parse_json,
    _Reply,
    _validate_credentials,
)
from masking_unset_tools.local.http_server import HttpRequest

__all__ = ["Fault", "Held", "ScriptedDeepCall"]

# A held request waits at most this long for its release: a test that fails never hangs.
HOLD_LIMIT_SECONDS = 60.0


class Held:
    """An unset request the stand-in holds back, unanswered and unprocessed, until released:
    ``arrived`` is set when it comes, ``release()`` lets it through."""

    def __init__(self, matches: Callable[[Any], bool]) -> None:
        self.matches = matches
        self.arrived = threading.Event()
        self._released = threading.Event()

    def release(self) -> None:
        """Let the held request through (also before it came: it is then not held)."""
        self._released.set()

    def wait_for_release(self) -> None:
        """Block the request's thread until :meth:`release`, at most ``HOLD_LIMIT_SECONDS``."""
        self._released.wait(HOLD_LIMIT_SECONDS)


class ScriptedDeepCall(DeepCallStandIn):
    """:class:`DeepCallStandIn` that the tests can also rotate, fail at random and wait on."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._changed = threading.Condition(self._lock)
        self._fault_rate = 0.0
        self._rate_faults: tuple[Fault, ...] = ()
        self._rng: random.Random | None = None
        self._received_at: list[float] = []
        self._holds: list[Held] = []
        self._every_hold: list[Held] = []

    def hold(self, matches: Callable[[Any], bool]) -> Held:
        """Hold the next unset request whose JSON body ``matches`` before it is recorded or
        processed, as a slow DeepCall would, until the test releases it."""
        held = Held(matches)
        with self._lock:
            self._holds.append(held)
            self._every_hold.append(held)
        return held

    def stop(self) -> None:
        """Also let every held request through: none outlives the stand-in."""
        with self._lock:
            holds = list(self._every_hold)
        for held in holds:
            held.release()
        super().stop()

    def _handle_unset(self, request: HttpRequest) -> _Reply:
        body = _parse_json(request.body)
        with self._lock:
            held = next((h for h in self._holds if h.matches(body)), None)
            if held is not None:
                self._holds.remove(held)
        if held is not None:
            held.arrived.set()
            held.wait_for_release()
        return super()._handle_unset(request)

    def set_credentials(self, credentials: Mapping[str, str] | None) -> None:
        """Rotate the accepted credentials; the old ones now answer code 1014."""
        validated = _validate_credentials(credentials)
        with self._lock:
            self._credentials = validated

    def set_fault_rate(self, rate: float, faults: Sequence[Fault], seed: int) -> None:
        """Answer a seeded-random share ``rate`` of unset requests with one of ``faults`` (after
        any queued ones)."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must lie in [0, 1]")
        if rate > 0 and not faults:
            raise ValueError("a positive rate needs at least one fault")
        with self._lock:
            self._fault_rate = rate
            self._rate_faults = tuple(faults)
            # Not for security: a seeded generator so soak runs are reproducible.
            self._rng = random.Random(seed)

    def wait_until(self, predicate: Callable[[Counter[str]], bool], timeout: float) -> bool:
        """Block until ``predicate(expired)`` holds for the expired counter, checked after each
        answer (with the stand-in's lock held: it must not call back in); False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: predicate(self._expired), timeout)

    def wait_for_unset_calls(self, count: int, timeout: float) -> bool:
        """Block until at least ``count`` unset requests were received; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self._requests) >= count, timeout)

    @property
    def received_at(self) -> list[float]:
        """When each recorded request arrived (``time.time()``, the clock the fleet's request
        slots are cut from), earliest first."""
        with self._lock:
            return sorted(self._received_at)

    def clear(self) -> None:
        """Also forget the fault rate and the arrival times."""
        super().clear()
        with self._lock:
            self._fault_rate, self._rate_faults, self._rng = 0.0, (), None
            self._received_at.clear()

    def _record(self, request: RecordedRequest) -> None:
        arrived = time.time()
        super()._record(request)
        with self._changed:
            self._received_at.append(arrived)
            self._changed.notify_all()

    def _unset(self, raw: bytes) -> Any:
        reply = super()._unset(raw)
        with self._changed:
            self._changed.notify_all()
        return reply

    def _next_fault(self) -> Fault | None:
        fault = super()._next_fault()  # the outage, if any, else the next queued fault
        with self._lock:
            if fault is None and self._rng is not None and self._rng.random() < self._fault_rate:
                return self._rate_faults[self._rng.randrange(len(self._rate_faults))]
        return fault
