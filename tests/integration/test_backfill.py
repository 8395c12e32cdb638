"""``masking-unset backfill`` against the local stack: a file of 1,000 closed tickets (some
invalid, some repeated) queued in batches of ten and drained through the queue function ends
with every valid masking expired once; a second run queues nothing new, and with its checkpoint
gone every message is a duplicate at the function; a stopped run resumes where it stopped."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from masking_unset.app import App
from masking_unset.config import Settings
from masking_unset.handlers.sqs import read_record
from masking_unset.models.budget import Deadline
from masking_unset_tools.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main
from masking_unset_tools.local.event_source import lambda_records
from masking_unset_tools.local.lambda_context import LocalLambdaContext
from masking_unset_tools.local.stack import LocalStack
from masking_unset_tools.ops.backfill import (
    BackfillOptions,
    BackfillSummary,
    default_checkpoint,
    run_backfill,
    sqs_client,
)
from masking_unset_tools.ops.backfill_rows import FileFormat, RowChecker, check_settings
from tests.support.aws_faults import AwsFault, FaultKind, FaultyAwsProxy
from tests.support.deepcall import ScriptedDeepCall
from tests.support.sqs_limits import SqsLimitedEndpoint

ROWS = 1_000
MAX_RECEIVES = 2_000  # bounded: the drain stops even if something is wrong


def national(n: int) -> str:
    return f"80{n:08d}"  # a possible Indian number, distinct per row


def write_mappings(stack: LocalStack, masks: dict[str, str]) -> None:
    """The ticket -> masking items, as the system that creates maskings writes them (docs/
    mapping.md), 25 to a request."""
    dynamodb = stack.aws.client("dynamodb")
    items = [{"pk": {"S": key}, "mask": {"S": mask}} for key, mask in masks.items()]
    for start in range(0, len(items), 25):
        requests = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        answer = dynamodb.batch_write_item(RequestItems={stack.masking_map_table: requests})
        assert not answer.get("UnprocessedItems")


def write_file(path: Path, stack: LocalStack) -> dict[str, Any]:
    """1,000 rows: of each five, three valid (one in ten a ticket in the mapping table, with no
    number in the row; one in ten with m1 and m2), one invalid and one a repeat of an earlier
    row; returns what each kind should come to."""
    expected: set[str] = set()
    mappings: dict[str, str] = {}
    invalid: dict[int, str] = {}
    repeats: list[int] = []
    rows: list[list[str]] = []
    for n in range(ROWS):
        line, ticket = n + 2, f"T-{n}"  # after the header
        if n % 5 == 4:
            rows.append(rows[-2])
            repeats.append(line)
        elif n % 10 == 3:
            rows.append([ticket, "12", "", "", ""])
            invalid[line] = "invalid_number: mask (***12) is not a possible phone number"
        elif n % 10 == 8:
            rows.append([ticket, f"+91 {national(n)}", "", "", "Brand_B"])
            invalid[line] = "invalid_account: account: must be lower-case letters"
        elif n % 10 == 0:
            mappings[f"zendesk#{ticket}"] = f"+91{national(n)}"
            rows.append([ticket, "", "", "", ""])
            expected.add(national(n))
        elif n % 10 == 1:
            rows.append([ticket, "", national(n), f"91{n:08d}", ""])
            expected.add(f"{national(n)}|91{n:08d}")
        else:
            rows.append([ticket, f"+91 {national(n)}", "", "", ""])
            expected.add(national(n))
    write_mappings(stack, mappings)
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["ticket_id", "mask", "m1", "m2", "account"])
        writer.writerows(rows)
    return {"expected": expected, "invalid": invalid, "repeats": repeats}


def drain(stack: LocalStack) -> int:
    """Play Lambda's SQS event source with one container of the queue function, in process:
    receive, process the batch, delete what succeeded, until the queue is empty. Returns the
    messages received."""
    app = App(Settings.from_env())
    sqs = stack.aws.client("sqs")
    received = 0
    for _ in range(MAX_RECEIVES):
        messages = sqs.receive_message(
            QueueUrl=stack.queue_url,
            MaxNumberOfMessages=10,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            WaitTimeSeconds=0,
        ).get("Messages", [])
        if not messages:
            return received
        received += len(messages)
        context = LocalLambdaContext(timeout_seconds=60)
        if app.idempotency is not None:
            app.idempotency.register(context)
        records = [read_record(r) for r in lambda_records(messages)]
        failed = set(app.batch.process(records, Deadline(context.get_remaining_time_in_millis)))
        assert not failed
        sqs.delete_message_batch(
            QueueUrl=stack.queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
            ],
        )
    raise AssertionError("the queue did not empty")


def waiting(stack: LocalStack) -> int:
    attributes = stack.aws.client("sqs").get_queue_attributes(
        QueueUrl=stack.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def parked(stack: LocalStack) -> int:
    attributes = stack.aws.client("sqs").get_queue_attributes(
        QueueUrl=stack.dead_letter_queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the proof needs of the deployment and no more, to keep 1,000 events cheap: the
    idempotency table (a close sent again is a duplicate at the function); no trail, no ticket
    state, no shared fleet state, no log lines."""
    for name in ("TRAIL_TABLE", "TICKET_STATE_TABLE", "FLEET_STATE_TABLE"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "ERROR")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")


@pytest.mark.slow
def test_a_thousand_rows_expire_each_valid_masking_once_and_a_second_run_queues_nothing(
    stack: LocalStack,
    deepcall: ScriptedDeepCall,
    aws: SqsLimitedEndpoint,
    quick: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "closed.csv"
    plan = write_file(path, stack)
    valid = len(plan["expected"])

    assert main(["backfill", str(path), "--source", "zendesk"]) == EXIT_FAILED  # invalid rows
    out = capsys.readouterr().out
    assert f"  queued: {valid} to {stack.queue_url}" in out
    assert f"  skipped repeats: {len(plan['repeats'])} (" in out
    assert f"  invalid: {len(plan['invalid'])}\n" in out
    listed = [line.strip() for line in out.splitlines() if line.startswith("    line ")]
    assert len(listed) == len(plan["invalid"])
    for shown, (line, reason) in zip(listed, plan["invalid"].items(), strict=True):
        assert shown.startswith(f"line {line}: {reason}")
    assert waiting(stack) == valid
    assert aws.refusals == []  # every batch within SQS's limits

    assert drain(stack) == valid
    expired = Counter(deepcall.expired)
    assert set(expired) == plan["expected"]
    assert set(expired.values()) == {1}
    assert parked(stack) == 0
    calls = len(deepcall.unset_calls)

    # Again: the checkpoint says every row was queued.
    assert main(["backfill", str(path), "--source", "zendesk"]) == EXIT_FAILED
    out = capsys.readouterr().out
    assert "  the checkpoint says every row was queued before" in out
    assert "  queued: 0 to " in out
    assert f"  queued by an earlier run (checkpoint): {valid}" in out
    assert waiting(stack) == 0

    # Without the checkpoint every close is sent again, and is a duplicate at the function.
    default_checkpoint(path).unlink()
    assert main(["backfill", str(path), "--source", "zendesk"]) == EXIT_FAILED
    assert f"  queued: {valid} to " in capsys.readouterr().out
    assert drain(stack) == valid
    assert len(deepcall.unset_calls) == calls  # not one more request
    assert parked(stack) == 0


def options(path: Path, stack: LocalStack) -> BackfillOptions:
    return BackfillOptions(path, FileFormat.CSV, "zendesk", stack.queue_url)


def small_file(path: Path, rows: int) -> set[str]:
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["ticket_id", "mask"])
        writer.writerows([f"T-{n}", f"+91 {national(n)}"] for n in range(rows))
    return {national(n) for n in range(rows)}


def test_an_interrupted_backfill_resumes_after_the_last_batch_sqs_took(
    stack: LocalStack, deepcall: ScriptedDeepCall, quick: None, tmp_path: Path
) -> None:
    path = tmp_path / "closed.csv"
    numbers = small_file(path, 35)
    checker = RowChecker(check_settings(), "zendesk")

    def ctrl_c_after_two(batches: int) -> None:
        if batches == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as stopped:
        run_backfill(options(path, stack), checker, sqs=sqs_client(), after_batch=ctrl_c_after_two)
    summary = stopped.value.args[0]
    assert isinstance(summary, BackfillSummary)
    assert (summary.queued, summary.stopped, summary.resume_after) == (20, "interrupted", 21)
    assert "  stopped: interrupted" in summary.lines()
    saved = json.loads(default_checkpoint(path).read_text())
    assert (saved["done_through_line"], saved["complete"]) == (21, False)

    resumed = run_backfill(options(path, stack), checker, sqs=sqs_client())
    assert (resumed.before, resumed.queued, resumed.succeeded) == (20, 15, True)
    assert drain(stack) == 35  # each row sent once
    assert Counter(deepcall.expired) == dict.fromkeys(numbers, 1)


def test_a_send_sqs_refuses_stops_the_run_and_the_rerun_resumes(
    faulty_aws: FaultyAwsProxy,
    stack: LocalStack,
    deepcall: ScriptedDeepCall,
    quick: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "closed.csv"
    numbers = small_file(path, 25)
    checker = RowChecker(check_settings(), "zendesk")
    denied = AwsFault(FaultKind.ERROR, 403, "AccessDenied")  # not retried by the SDK

    def refuse_after_one(batches: int) -> None:
        if batches == 1:
            faulty_aws.always("SendMessageBatch", denied)

    summary = run_backfill(
        options(path, stack), checker, sqs=sqs_client(), after_batch=refuse_after_one
    )
    assert (summary.queued, summary.resume_after, summary.succeeded) == (10, 11, False)
    assert summary.stopped == "SQS refused SendMessageBatch: AccessDenied (HTTP 403)"
    assert waiting(stack) == 10

    faulty_aws.clear()
    assert main(["backfill", str(path), "--source", "zendesk"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "  queued: 15 to " in out
    assert "  queued by an earlier run (checkpoint): 10" in out
    assert drain(stack) == 25
    assert Counter(deepcall.expired) == dict.fromkeys(numbers, 1)


def test_a_changed_file_is_refused_with_its_old_checkpoint(
    stack: LocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "closed.csv"
    small_file(path, 3)
    assert main(["backfill", str(path)]) == EXIT_OK
    small_file(path, 4)
    assert main(["backfill", str(path)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "the checkpoint is for another version of the file" in err
    assert waiting(stack) == 3


def test_a_fifo_queue_gets_a_group_per_ticket_and_ids_sqs_takes(
    stack: LocalStack, aws: SqsLimitedEndpoint, tmp_path: Path
) -> None:
    sqs = stack.aws.client("sqs")
    url = sqs.create_queue(
        QueueName=f"{stack.queue_url.rsplit('/', 1)[1]}-backfill.fifo",
        Attributes={"FifoQueue": "true"},
    )["QueueUrl"]
    path = tmp_path / "closed.jsonl"
    rows = [
        {"ticket_id": "T-1", "mask": "8040000001"},
        {"ticket_id": "Ticket à 2", "mask": "8040000002", "event_id": "close of ticket 2"},
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    options = BackfillOptions(path, FileFormat.JSONL, "zendesk", url)
    summary = run_backfill(options, RowChecker(check_settings(), "zendesk"), sqs=sqs_client())
    assert (summary.queued, summary.succeeded) == (2, True)
    assert aws.refusals == []
    received = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["MessageGroupId"]
    )["Messages"]
    groups = {
        json.loads(m["Body"])["ticket_id"]: m["Attributes"]["MessageGroupId"] for m in received
    }
    assert groups["T-1"] == "T-1"  # the webhook's group for the ticket
    assert groups["Ticket à 2"].startswith("backfill-")  # an id SQS would refuse, replaced
