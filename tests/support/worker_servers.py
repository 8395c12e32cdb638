"""One moto server per test process (per xdist worker), behind the SQS-limits proxy.

The session's ``aws`` fixture is this server, and so is every local stack the tooling starts in
the test's process (``demo``, ``invoke`` and ``serve`` without a deployment): they borrow it
instead of starting and stopping a server of their own, which cost half a second of waiting for
moto's server thread to stop per stack. Nothing is lost by sharing it: moto keeps its resources
in process-wide backends whatever the server, and each stack provisions its own uniquely named
queues, tables and secrets.
"""

from __future__ import annotations

import threading
from typing import Any

from tests.support.sqs_limits import SqsLimitedEndpoint

__all__ = ["BorrowedEndpoint", "stop_worker_endpoint", "worker_endpoint"]

_lock = threading.Lock()
_endpoint: list[SqsLimitedEndpoint] = []


def worker_endpoint() -> SqsLimitedEndpoint:
    """This process's moto server behind the SQS-limits proxy, started on first use."""
    with _lock:
        if not _endpoint:
            endpoint = SqsLimitedEndpoint()
            endpoint.start()
            _endpoint.append(endpoint)
        return _endpoint[0]


def stop_worker_endpoint() -> None:
    """Stop this process's server, if it was started (the end of the test session)."""
    with _lock:
        endpoint = _endpoint.pop() if _endpoint else None
    if endpoint is not None:
        endpoint.stop()


class BorrowedEndpoint(SqsLimitedEndpoint):
    """What a local stack of the tooling starts in the tests: starting it borrows
    :func:`worker_endpoint` (its moto server and SQS-limits proxy), stopping it gives them back
    running. Its clients, sessions and ``env()`` aim at the worker's proxy."""

    def client(self, service_name: str) -> Any:
        """The worker endpoint's client of ``service_name``."""
        if self.proxy is None:
            raise RuntimeError("the AWS endpoint is not started")
        return worker_endpoint().client(service_name)

    def start(self) -> None:
        """Borrow the worker's server and proxy."""
        if self.proxy is not None:
            raise RuntimeError("the AWS endpoint is already started")
        worker = worker_endpoint()
        self._url = worker.moto_url
        self.proxy = worker.proxy

    def stop(self) -> None:
        """Give them back, running."""
        self.proxy = None
        self._url = None
