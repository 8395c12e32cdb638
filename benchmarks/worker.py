"""Warm measurements, each in its own process: ``python -m benchmarks.worker CONFIG RESULT``.

:mod:`benchmarks.run` starts this module with the environment of the function under test and
a JSON config naming the ``mode``; the results are written as JSON to ``RESULT`` (stdout is left
to the function, whose metrics go there). Nothing here serves anything: the DeepCall stand-in
and the AWS endpoint live in the parent, as the real ones live outside the Lambda sandbox.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from benchmarks.events import national, sqs_event, unset_body, webhook_event

UNSET_PATH = "/api/v2/Masking/unset"


def _rss_kib() -> tuple[int, int]:
    """(current, peak) resident set size of this process in KiB."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            fields = dict(line.split(":", 1) for line in status if ":" in line)
        return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])
    except (OSError, KeyError, ValueError):
        import resource

        # No /proc (not Linux): only the peak is known; ru_maxrss is KiB on Linux, bytes on macOS.
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak = peak // 1024 if sys.platform == "darwin" else peak
        return peak, peak


def _context() -> Any:
    from masking_unset_tools.local.lambda_context import LocalLambdaContext

    return LocalLambdaContext(timeout_seconds=900.0)


def _webhook_invoker(
    config: dict[str, Any], occurred_at: str | None = None
) -> Callable[[int], bool]:
    from masking_unset.handlers.webhook import lambda_handler

    secret, run = config["webhook_secret"], config["run"]

    def invoke(index: int) -> bool:
        event = webhook_event(run, index, secret, occurred_at=occurred_at)
        response = lambda_handler(event, _context())
        return bool(response["statusCode"] == 200)

    return invoke


def warm(config: dict[str, Any]) -> dict[str, Any]:
    """Webhook invocation vs a bare ``requests`` post of the same unset, interleaved A/B/B/A."""
    import requests

    from masking_unset.handlers.webhook import lambda_handler

    secret, run, ssid = config["webhook_secret"], config["run"], config["ssid"]
    url = config["deepcall_url"] + UNSET_PATH
    session = requests.Session()  # one keep-alive session, as the function keeps its own
    first, pairs, warmup = config["first"], config["pairs"], config["warmup"]
    handler_times: list[float] = []
    bare_times: list[float] = []
    failures = 0

    def handler(index: int) -> None:
        nonlocal failures
        event, context = webhook_event(run, index, secret), _context()
        started = time.perf_counter()
        response = lambda_handler(event, context)
        elapsed = time.perf_counter() - started
        failures += response["statusCode"] != 200
        if index >= first + warmup:
            handler_times.append(elapsed)

    def bare(index: int) -> None:
        nonlocal failures
        body = unset_body(ssid, index)
        started = time.perf_counter()
        response = session.post(url, json=body, timeout=(3.05, 5.0))
        elapsed = time.perf_counter() - started
        failures += response.status_code != 200
        if index >= first + warmup:
            bare_times.append(elapsed)

    # The bare posts use numbers far from the handler's so both always expire something.
    offset = 5_000_000
    for index in range(first, first + warmup + pairs):
        # Alternate which goes first, so neither always runs on a just-used connection.
        if index % 2:
            handler(index)
            bare(index + offset)
        else:
            bare(index + offset)
            handler(index)
    return {"handler": handler_times, "bare": bare_times, "failures": failures}


def batch(config: dict[str, Any]) -> dict[str, Any]:
    """Our concurrent batch vs Powertools' sequential BatchProcessor on the same service."""
    from aws_lambda_powertools.utilities.batch import (
        BatchProcessor,
        EventType,
        process_partial_response,
    )

    from masking_unset.app import get_app
    from masking_unset.handlers.queue import lambda_handler
    from masking_unset.logic.batch import parse_record
    from masking_unset.models.budget import Deadline

    run, size, reps = config["run"], config["records"], config["reps"]
    next_index = config["first"]

    def fresh() -> dict[str, Any]:
        nonlocal next_index
        event = sqs_event(run, next_index, size)
        next_index += size
        return event

    def ours(event: dict[str, Any]) -> tuple[float, int]:
        context = _context()
        started = time.perf_counter()
        response = lambda_handler(event, context)
        return time.perf_counter() - started, len(response["batchItemFailures"])

    def powertools(event: dict[str, Any]) -> tuple[float, int]:
        context = _context()
        started = time.perf_counter()
        app = get_app()
        if app.idempotency is not None:
            app.idempotency.register(context)
        deadline = Deadline(context.get_remaining_time_in_millis)

        def record_handler(record: Any) -> None:
            app.expirer.expire(parse_record(record.body), deadline)

        processor = BatchProcessor(event_type=EventType.SQS)
        response = process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
        return time.perf_counter() - started, len(response.get("batchItemFailures", []))

    # Untimed: clients, secrets, connection pool and thread start-up paid once, on both sides.
    ours(fresh())
    powertools(sqs_event(run, next_index, 1))
    next_index += 1
    ours_times: list[float] = []
    powertools_times: list[float] = []
    failures = 0
    for rep in range(reps):
        sides = [(ours, ours_times), (powertools, powertools_times)]
        for side, times in sides if rep % 2 == 0 else sides[::-1]:
            elapsed, failed = side(fresh())
            times.append(elapsed)
            failures += failed
    return {"ours": ours_times, "powertools": powertools_times, "failures": failures}


def memory(config: dict[str, Any]) -> dict[str, Any]:
    """RSS over many warm webhook invocations, each with its own event id."""
    invoke = _webhook_invoker(config)
    first, count, checkpoint = config["first"], config["invocations"], config["checkpoint"]
    failures = 0
    at_checkpoint = 0
    for done, index in enumerate(range(first, first + count), start=1):
        failures += not invoke(index)
        if done == checkpoint:
            at_checkpoint = _rss_kib()[0]
    current, peak = _rss_kib()
    return {
        "rss_checkpoint_kib": at_checkpoint,
        "rss_end_kib": current,
        "peak_kib": peak,
        "failures": failures,
    }


def floor_memory(config: dict[str, Any]) -> dict[str, Any]:
    """The same count of bare unsets after the floor's imports and secret read (reference)."""
    import boto3
    import requests

    client = boto3.client("secretsmanager")
    secret = json.loads(client.get_secret_value(SecretId=config["secret_id"])["SecretString"])
    session = requests.Session()
    url = config["deepcall_url"] + UNSET_PATH
    failures = 0
    first, count = config["first"], config["invocations"]
    for index in range(first, first + count):
        body = {**secret, "mask": national(index), "expiry_duration": -1}
        failures += session.post(url, json=body, timeout=(3.05, 5.0)).status_code != 200
    current, peak = _rss_kib()
    return {"rss_end_kib": current, "peak_kib": peak, "failures": failures}


def dynamodb_calls(config: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB calls per close on the happy path, by operation: ``closes`` webhook closes one
    after another, then as many queue records in batches of ten (the template's BatchSize),
    each path after one uncounted close of its own. With ``ordered`` every close carries an
    ``occurred_at`` (now), as a CRM's does, so TICKET_STATE_TABLE records it."""
    import datetime

    from benchmarks.fleet import AwsCallCounter
    from masking_unset.handlers.queue import lambda_handler as queue_handler

    counter = AwsCallCounter()
    counter.install()
    occurred_at = None
    if config["ordered"]:
        occurred_at = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    invoke = _webhook_invoker(config, occurred_at)
    run, closes = config["run"], config["closes"]
    next_index = config["first"]
    failures = 0

    def dynamodb(calls: Counter[str]) -> dict[str, int]:
        return {k.split(":", 1)[1]: v for k, v in calls.items() if k.startswith("dynamodb:")}

    failures += not invoke(next_index)
    next_index += 1
    before = counter.snapshot()
    for index in range(next_index, next_index + closes):
        failures += not invoke(index)
    next_index += closes
    webhook = dynamodb(counter.snapshot() - before)

    warm_up = queue_handler(sqs_event(run, next_index, 1, occurred_at=occurred_at), _context())
    failures += len(warm_up["batchItemFailures"])
    next_index += 1
    before = counter.snapshot()
    for start in range(next_index, next_index + closes, 10):
        count = min(10, next_index + closes - start)
        batch = sqs_event(run, start, count, occurred_at=occurred_at)
        response = queue_handler(batch, _context())
        failures += len(response["batchItemFailures"])
    queue = dynamodb(counter.snapshot() - before)
    return {"webhook": webhook, "queue": queue, "closes": closes, "failures": failures}


MODES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "dynamodb_calls": dynamodb_calls,
    "warm": warm,
    "batch": batch,
    "memory": memory,
    "floor_memory": floor_memory,
}


def main(argv: list[str]) -> int:
    """Run the configured measurement and write its result."""
    with open(argv[0], encoding="utf-8") as file:
        config = json.load(file)
    result = MODES[config["mode"]](config)
    for key, value in result.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{key} is not finite")
    with open(argv[1], "w", encoding="utf-8") as file:
        json.dump(result, file)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
