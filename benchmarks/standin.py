"""The benchmark's DeepCall stand-in: the tooling's, plus an outage switch and the times at which
requests arrived and maskings were expired, which the fleet figures (g, h) are measured from.

It lives in the benchmark's own process, as the real DeepCall lives outside the Lambda sandbox;
times are ``time.time()``, the clock the fleet's request slots are cut from and the one the child
processes share.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from masking_unset_tools.local.deepcall_standin import DeepCallStandIn, Fault, _Reply

__all__ = ["OUTAGE", "BenchDeepCall"]

OUTAGE = Fault(status=503, body=b'{"message": "Service Unavailable"}')


class BenchDeepCall(DeepCallStandIn):
    """:class:`DeepCallStandIn` that can fail every request for a while and says when each
    request arrived and each masking was expired."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._changed = threading.Condition()
        self._outage: Fault | None = None
        self._arrived: list[float] = []
        self._expired_at: list[float] = []

    def set_outage(self, fault: Fault | None) -> None:
        """Answer every unset request with ``fault`` (not consumed) until called with None."""
        with self._changed:
            self._outage = fault

    @property
    def arrived(self) -> list[float]:
        """When each unset request arrived, earliest first."""
        with self._changed:
            return sorted(self._arrived)

    @property
    def expired_at(self) -> list[float]:
        """When each masking was expired, earliest first."""
        with self._changed:
            return sorted(self._expired_at)

    def wait_for_expiries(self, count: int, timeout: float) -> bool:
        """Block until ``count`` maskings were expired; False after ``timeout`` seconds."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self._expired_at) >= count, timeout)

    def clear(self) -> None:
        """Also forget the outage, the rate limit and the times."""
        super().clear()
        self.max_rps = None
        with self._changed:
            self._outage = None
            self._arrived.clear()
            self._expired_at.clear()

    def _record(self, request: Any) -> None:
        arrived = time.time()
        super()._record(request)
        with self._changed:
            self._arrived.append(arrived)

    def _next_fault(self) -> Fault | None:
        with self._changed:
            if self._outage is not None:
                return self._outage
        return super()._next_fault()

    def _unset(self, raw: bytes) -> _Reply:
        reply = super()._unset(raw)
        # A success (the closes send expiry_duration -1) is this request's own expiry.
        if reply.status == 200 and b'"status":"success"' in reply.body:
            with self._changed:
                self._expired_at.append(time.time())
                self._changed.notify_all()
        return reply
