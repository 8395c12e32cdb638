"""Several queue-function containers at once against the local stack: each a thread with its
own :class:`App` (its own clients, caches and connection pools), playing the SQS event source
mapping (receive, invoke, delete what succeeded) on the moto server."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from masking_unset.app import App
from masking_unset.config import Settings
from masking_unset.models.budget import Deadline
from masking_unset_tools.local.event_source import lambda_records
from masking_unset_tools.local.lambda_context import LocalLambdaContext

# An outage played in seconds: a 1 s open circuit, 2 s deferrals and a backoff schedule of
# about 2 s (tests/integration/test_fleet.py and make bench's figure h).
SCALED_OUTAGE_SETTINGS = {
    "BREAKER_FAILURE_THRESHOLD": "3",
    "BREAKER_OPEN_SECONDS": "1",
    "BREAKER_CACHE_SECONDS": "0",
    "QUEUE_DEFER_MAX_SECONDS": "2",
    "QUEUE_BACKOFF_BASE_SECONDS": "0.2",
    "QUEUE_BACKOFF_MAX_SECONDS": "1",
    "QUEUE_MAX_RECEIVES": "3",
    "DEEPCALL_MAX_ATTEMPTS": "2",
    "DEEPCALL_RETRY_BASE_SECONDS": "0.05",
    "DEEPCALL_RETRY_MAX_SECONDS": "0.1",
    "MAX_CONCURRENCY": "4",
    "DEEPCALL_TIMEOUT_SECONDS": "2",
    "DEEPCALL_CONNECT_TIMEOUT_SECONDS": "1",
}
# Lambda's SQS event source deletes what the function did not report as failed.
MAX_LOOPS = 5_000  # bounded: a container stops even if something is wrong


class QueueContainer(threading.Thread):
    """One container of the queue function, polling until ``stop`` is set."""

    def __init__(
        self,
        environ: Mapping[str, str],
        sqs: Any,
        queue_url: str,
        stop: threading.Event,
        *,
        timeout_seconds: float = 30.0,
    ) -> None:
        super().__init__(daemon=True)
        self.app = App(Settings.from_env(environ))
        self._sqs = sqs
        self._url = queue_url
        self._stop_event = stop
        self._timeout_seconds = timeout_seconds
        self.invocations = 0
        self.errors: list[BaseException] = []

    def run(self) -> None:
        from masking_unset.handlers.sqs import read_record

        try:
            for _ in range(MAX_LOOPS):
                if self._stop_event.is_set():
                    return
                messages = self._sqs.receive_message(
                    QueueUrl=self._url,
                    MaxNumberOfMessages=10,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                    WaitTimeSeconds=1,  # long polling: an idle container waits on SQS, not a sleep
                ).get("Messages", [])
                if not messages:
                    continue
                self.invocations += 1
                context = LocalLambdaContext(timeout_seconds=self._timeout_seconds)
                if self.app.idempotency is not None:
                    self.app.idempotency.register(context)
                deadline = Deadline(context.get_remaining_time_in_millis)
                records = [read_record(r) for r in lambda_records(messages)]
                failed = set(self.app.batch.process(records, deadline))
                done = [m for m in messages if m["MessageId"] not in failed]
                for start in range(0, len(done), 10):
                    self._sqs.delete_message_batch(
                        QueueUrl=self._url,
                        Entries=[
                            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                            for i, m in enumerate(done[start : start + 10])
                        ],
                    )
        except BaseException as exc:  # noqa: BLE001 - reported to the test, which fails on it
            self.errors.append(exc)


def run_fleet(
    environ: Mapping[str, str],
    sqs: Any,
    queue_url: str,
    *,
    containers: int,
    until: Callable[[float], bool],
    timeout: float,
) -> list[QueueContainer]:
    """Run ``containers`` queue containers until ``until(timeout)`` returns (it blocks until
    what the test waits for happened, or the timeout); returns them, stopped."""
    stop = threading.Event()
    fleet = [QueueContainer(environ, sqs, queue_url, stop) for _ in range(containers)]
    for container in fleet:
        container.start()
    try:
        until(timeout)
    finally:
        stop.set()
        for container in fleet:
            container.join(timeout=30)
    return fleet
