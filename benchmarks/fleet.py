"""Several containers at once, in one child process: ``python -m benchmarks.fleet CONFIG RESULT``.

For figures g (burst) and h (outage), :mod:`benchmarks.run` starts this module with the function's
environment. It runs ``containers`` queue containers (threads, each with its own ``App``, playing
the SQS event source on the local moto server: ``tests/support/fleet.py``) and, once told, threads
posting closes to the webhook handler (one webhook container). The parent drives it over stdin
(``go``: post the webhooks; ``stop``: stop and write the result) and is told on ``control_fd``
when every container is built and polling. Every AWS call made in this process is counted by
service and operation (:class:`AwsCallCounter`); the deferred copies of records are recognised by
their ``Deferrals`` attribute.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

ATTR_DEFERRALS = "Deferrals"  # masking_unset.models.queue.ATTR_DEFERRALS


class AwsCallCounter:
    """Counts every botocore API call of this process (retries inside a call count once) by
    ``service:Operation``, and notes when each deferred copy of a record was sent."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.deferrals: list[tuple[float, str]] = []  # (time.time(), event id)

    def install(self) -> None:
        """Wrap ``BaseClient._make_api_call`` (every client, whenever it is created)."""
        from botocore.client import BaseClient

        original = BaseClient._make_api_call
        counter = self

        def counted(client: Any, operation: str, params: dict[str, Any]) -> Any:
            counter.note(client.meta.service_model.service_name, operation, params)
            return original(client, operation, params)

        BaseClient._make_api_call = counted  # type: ignore[method-assign]

    def note(self, service: str, operation: str, params: dict[str, Any]) -> None:
        """Count one call."""
        deferred = operation == "SendMessage" and ATTR_DEFERRALS in params.get(
            "MessageAttributes", {}
        )
        with self._lock:
            self.calls[f"{service}:{operation}"] += 1
            if deferred:
                try:
                    event_id = str(json.loads(params["MessageBody"]).get("event_id"))
                except (ValueError, AttributeError):
                    event_id = "?"
                self.deferrals.append((time.time(), event_id))

    def snapshot(self) -> Counter[str]:
        """A copy of the counts so far."""
        with self._lock:
            return Counter(self.calls)


def _post_webhooks(
    indices: list[int], config: dict[str, Any], statuses: Counter[int], lock: threading.Lock
) -> Callable[[], None]:
    from benchmarks.events import webhook_event
    from masking_unset.handlers.webhook import lambda_handler
    from masking_unset_tools.local.lambda_context import LocalLambdaContext

    def post() -> None:
        for index in indices:
            event = webhook_event(config["run"], index, config["webhook_secret"])
            status = int(lambda_handler(event, LocalLambdaContext())["statusCode"])
            with lock:
                statuses[status] += 1

    return post


def fleet(config: dict[str, Any], counter: AwsCallCounter) -> dict[str, Any]:
    """Queue containers polling until ``stop``; webhook threads posting after ``go``."""
    import boto3
    from tests.support.fleet import QueueContainer

    from masking_unset.app import get_app

    environ = dict(os.environ)
    sqs = boto3.session.Session().client("sqs")  # the event source's, not the function's
    stop = threading.Event()
    containers = [
        QueueContainer(environ, sqs, config["queue_url"], stop) for _ in range(config["containers"])
    ]
    for container in containers:
        container.app.warm()  # clients built (no connection yet), as in a started container
    get_app().warm()
    for container in containers:
        container.start()
    os.write(config["control_fd"], b"ready\n")

    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    webhooks: list[int] = config.get("webhooks", [])
    lanes = max(1, config.get("webhook_threads", 1))
    posters = [
        threading.Thread(
            target=_post_webhooks(webhooks[lane::lanes], config, statuses, lock), daemon=True
        )
        for lane in range(lanes)
        if webhooks[lane::lanes]
    ]
    for line in sys.stdin:
        command = line.strip()
        if command == "go":
            for poster in posters:
                poster.start()
        elif command == "stop":
            break
    stop.set()
    for thread in [*posters, *containers]:
        if thread.ident is not None:
            thread.join(timeout=60)
    errors = [repr(error) for container in containers for error in container.errors]
    return {
        "calls": dict(counter.snapshot()),
        "deferrals": counter.deferrals,
        "webhook_status": {str(k): v for k, v in statuses.items()},
        "invocations": sum(container.invocations for container in containers),
        "errors": errors,
    }


def main(argv: list[str]) -> int:
    """Run the configured scenario and write its result."""
    with open(argv[0], encoding="utf-8") as file:
        config = json.load(file)
    counter = AwsCallCounter()
    counter.install()
    result = fleet(config, counter)
    with open(argv[1], "w", encoding="utf-8") as file:
        json.dump(result, file)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
