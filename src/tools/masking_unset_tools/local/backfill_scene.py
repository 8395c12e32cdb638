"""The demo's backfill scene (docs/backfill.md): a small file of tickets closed before the
product was installed - one invalid row, one repeat, one ticket known only to the mapping table -
queued with ``masking-unset backfill`` and expired by the queue function; a second run queues
nothing. Every count printed is read from what happened: the run's summary, the stand-in's
request log and the queues."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from masking_unset_tools.local.event_source import deliver_once
from masking_unset_tools.local.outage import messages_in
from masking_unset_tools.local.stack import LocalStack, environment
from masking_unset_tools.ops.console import function_stdout

# The scene's closes expire at once, whatever the user's own settings say.
SCENE_SETTINGS = {"EXPIRY_GRACE_MINUTES": "0", "DRY_RUN": "false"}
SOURCE = "zendesk"
ROWS = """\
ticket_id,mask,m1,m2,subject
BF-1,+91 92000 00001,,,Refund
BF-2,,92000 00002,93000 00002,Delivery late
BF-3,,,,Wrong size
BF-4,12,,,Typo in the number
BF-1,+91 92000 00001,,,Refund
"""
MAPPED = {f"{SOURCE}#BF-3": {"mask": "+919200000003"}}  # written by the system that masks calls
EXPECTED = {"9200000001", "9200000002|9300000002", "9200000003"}
MAX_POLLS = 20  # bound, not synchronisation: one delivery in practice


def play_backfill(stack: LocalStack, out: Callable[[str], None]) -> int:
    """Play the scene and print each step; returns how many expectations were not met (each
    also printed as ``!!``)."""
    from masking_unset.app import reset_app

    out("\n== backfill: tickets closed before the product was installed  ->  queue handler")
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="backfill-demo-") as folder:
        path = Path(folder) / "closed.csv"
        path.write_text(ROWS, encoding="utf-8")
        for key, numbers in MAPPED.items():
            stack.put_mapping(key, numbers)
        with environment(SCENE_SETTINGS):
            reset_app()
            try:
                _play(stack, path, out, problems)
            finally:
                reset_app()
    for problem in problems:
        out(f"   !! {problem}")
    return len(problems)


def _play(stack: LocalStack, path: Path, out: Callable[[str], None], problems: list[str]) -> None:
    from dataclasses import replace

    from masking_unset.handlers import queue
    from masking_unset_tools.local.demo import shown_request
    from masking_unset_tools.ops.backfill import BackfillOptions, run_backfill
    from masking_unset_tools.ops.backfill_rows import FileFormat, RowChecker, check_settings

    sqs = stack.aws.client("sqs")
    options = BackfillOptions(path, FileFormat.CSV, SOURCE, stack.queue_url)
    checker = RowChecker(check_settings(), SOURCE)
    out(f"   {len(ROWS.splitlines()) - 1} rows; the mapping item {', '.join(MAPPED)} written first")
    out(f"   $ masking-unset backfill closed.csv --source {SOURCE}")
    summary = run_backfill(options, checker, sqs=sqs)
    for line in replace(summary, path=Path(path.name)).lines():  # not the temporary folder
        out(f"   {line}")
    expect(
        problems,
        (summary.queued, len(summary.invalid), len(summary.repeats)) == (3, 1, 1),
        "expected 3 queued, 1 invalid, 1 repeat; got "
        f"{summary.queued}, {len(summary.invalid)}, {len(summary.repeats)}",
    )

    before = len(stack.deepcall.unset_calls)
    for _ in range(MAX_POLLS):
        with function_stdout():  # the function's own metric lines, unless verbose
            delivery = deliver_once(sqs, stack.queue_url, queue.lambda_handler, wait_seconds=0)
        if not delivery.received:
            break
    calls = stack.deepcall.unset_calls[before:]
    for call in calls:
        out(f"   DeepCall received POST {call.path} {shown_request(call.json)}")
    expired = stack.deepcall.expired
    once = sorted(key for key in EXPECTED if expired[key] == 1)
    parked = messages_in(sqs, stack.dead_letter_queue_url)
    out(
        f"   {len(once)} maskings expired, each once; "
        + ("dead-letter queue empty" if not parked else f"dead-letter queue: {parked}")
    )
    expect(
        problems,
        len(calls) == len(EXPECTED) and len(once) == len(EXPECTED) and not parked,
        f"expected {len(EXPECTED)} maskings expired once and nothing parked",
    )

    again = run_backfill(options, checker, sqs=sqs)
    out(
        f"   the same command again: {again.queued} queued, {again.before} queued before "
        "(the checkpoint); each row's event id is the same on every run"
    )
    expect(
        problems,
        again.queued == 0 and again.before == 3 and messages_in(sqs, stack.queue_url) == 0,
        f"expected the second run to queue nothing, it queued {again.queued}",
    )


def expect(problems: list[str], ok: bool, problem: str) -> None:
    """Note ``problem`` unless ``ok``."""
    if not ok:
        problems.append(problem)
