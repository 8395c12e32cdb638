"""``masking-unset dlq list`` and ``redrive`` against the moto server.

moto (5.2) does not implement StartMessageMoveTask / ListMessageMoveTasks: ``redrive`` is tested
for its clear failure there, and for its whole flow through :class:`MoveTaskEmulator`, which
plays SQS's part with the calls moto does implement.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import pytest

from masking_unset_tools import cli
from masking_unset_tools.cli import EXIT_FAILED, EXIT_OK, main
from masking_unset_tools.local.stack import LocalStack
from masking_unset_tools.ops.dlq import list_dead_letters, redrive


def park(stack: LocalStack, count: int, *, start: int = 0) -> list[str]:
    """Dead-letter ``count`` messages the way the batch processor does; their message ids."""
    sqs = stack.aws.client("sqs")
    ids = []
    for i in range(start, start + count):
        body = {"event_id": f"evt-{i}", "mask": f"+91 80 4000 {1000 + i}"}
        ids.append(
            sqs.send_message(
                QueueUrl=stack.dead_letter_queue_url,
                MessageBody=json.dumps(body),
                MessageAttributes={
                    "ErrorCode": {"DataType": "String", "StringValue": "invalid_number"},
                    "ErrorMessage": {"DataType": "String", "StringValue": "mask is not a number"},
                    "SourceMessageId": {"DataType": "String", "StringValue": f"src-{i}"},
                    "ReceiveCount": {"DataType": "String", "StringValue": "5"},
                },
            )["MessageId"]
        )
    return ids


def visible_ids(stack: LocalStack, queue_url: str) -> set[str]:
    """Every message id a visibility-0 receive can see right now."""
    sqs = stack.aws.client("sqs")
    seen: set[str] = set()
    for _ in range(20):
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0
        ).get("Messages", [])
        new = {m["MessageId"] for m in messages} - seen
        if not new:
            break
        seen |= new
    return seen


def counts(stack: LocalStack, queue_url: str) -> tuple[int, int]:
    attributes = stack.aws.client("sqs").get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return (
        int(attributes["ApproximateNumberOfMessages"]),
        int(attributes["ApproximateNumberOfMessagesNotVisible"]),
    )


# --- dlq list --------------------------------------------------------------------------------


def test_dlq_list_shows_why_each_message_was_parked(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    park(stack, 2)

    code = main(["dlq", "list"])

    out = capsys.readouterr().out
    assert code == EXIT_OK
    assert out.startswith("2 message(s) listed; the queue holds about 2\n")
    for i in range(2):
        assert f"  source message: src-{i}\n" in out
        assert f'  body:           {{"event_id": "evt-{i}", "mask": "***{1000 + i}"}}\n' in out
    assert out.count("  why:            invalid_number: mask is not a number\n") == 2
    assert out.count("  receive count:  5\n") == 2
    assert "4000 1000" not in out


def test_listing_leaves_every_message_visible(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = park(stack, 3)

    assert main(["dlq", "list"]) == EXIT_OK

    assert counts(stack, stack.dead_letter_queue_url) == (3, 0)
    assert visible_ids(stack, stack.dead_letter_queue_url) == set(ids)


def test_a_message_parked_without_attributes_says_what_is_known(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    # As SQS's redrive policy moves it: no ErrorCode, no ErrorMessage.
    sqs = stack.aws.client("sqs")
    sqs.send_message(QueueUrl=stack.dead_letter_queue_url, MessageBody='{"event_id": "evt-x"}')

    assert main(["dlq", "list"]) == EXIT_OK
    assert main(["dlq", "list"]) == EXIT_OK

    first, second = capsys.readouterr().out.split("message(s) listed")[1:]
    assert "-: -" not in first + second
    assert (
        "  why:            no reason recorded: moved here by the main queue's redrive policy "
        "after its maxReceiveCount receives, or sent by hand; SQS counts 1 receives, "
        "listings included\n"
    ) in first
    # Each listing is a receive: SQS's count goes up by one, and the message is visible again.
    assert "  receive count:  1\n" in first
    assert "  receive count:  2\n" in second
    assert counts(stack, stack.dead_letter_queue_url) == (1, 0)


def test_more_than_one_receive_lists_each_message_once(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = park(stack, 23)

    assert main(["dlq", "list", "--json"]) == EXIT_OK

    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(item["message_id"] for item in listed) == sorted(ids)
    assert {item["source_message_id"] for item in listed} == {f"src-{i}" for i in range(23)}
    assert counts(stack, stack.dead_letter_queue_url) == (23, 0)


def test_max_bounds_the_listing(stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    park(stack, 12)
    assert main(["dlq", "list", "--max", "5", "--json"]) == EXIT_OK
    assert len(capsys.readouterr().out.splitlines()) == 5
    assert counts(stack, stack.dead_letter_queue_url) == (12, 0)


def test_an_empty_queue_lists_nothing(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dlq", "list"]) == EXIT_OK
    assert capsys.readouterr().out == "0 message(s) listed; the queue holds about 0\n"


def test_a_queue_that_does_not_exist_is_a_clear_failure(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = stack.dead_letter_queue_url.rsplit("/", 1)[0] + "/no-such-queue"
    code = main(["dlq", "list", "--dlq-url", missing])
    captured = capsys.readouterr()
    assert code == EXIT_FAILED
    assert captured.err.startswith("error: GetQueueAttributes failed: ")
    assert "Traceback" not in captured.err


def test_a_message_in_flight_elsewhere_is_counted_not_listed(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    park(stack, 2)
    sqs = stack.aws.client("sqs")
    sqs.receive_message(
        QueueUrl=stack.dead_letter_queue_url, MaxNumberOfMessages=1, VisibilityTimeout=300
    )

    listing = list_dead_letters(sqs, stack.dead_letter_queue_url)

    assert (len(listing.messages), listing.approximate_total, listing.in_flight) == (1, 1, 1)


# --- redrive ---------------------------------------------------------------------------------


@pytest.fixture
def quiet_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    # moto logs its NotImplementedError with a traceback; keep this test's stderr ours alone.
    monkeypatch.setattr(logging.getLogger("werkzeug"), "disabled", True)


def test_redrive_on_moto_fails_clearly(
    stack: LocalStack, quiet_moto: None, capsys: pytest.CaptureFixture[str]
) -> None:
    park(stack, 1)

    code = main(["redrive"])

    captured = capsys.readouterr()
    assert code == EXIT_FAILED
    assert captured.err.startswith("error: StartMessageMoveTask failed: ")
    assert "does not implement message move tasks (moto does not)" in captured.err
    assert "Traceback" not in captured.err
    assert "<html" not in captured.err


class MoveTaskEmulator:
    """An SQS client aimed at moto that also answers StartMessageMoveTask and
    ListMessageMoveTasks, moving one message per ListMessageMoveTasks call with the calls moto
    implements (receive, send with the same body and attributes, delete)."""

    def __init__(self, sqs: Any) -> None:
        self._sqs = sqs
        self.started: list[dict[str, Any]] = []
        self._task: dict[str, Any] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sqs, name)

    def _url(self, arn: str) -> str:
        url: str = self._sqs.get_queue_url(QueueName=arn.rsplit(":", 1)[1])["QueueUrl"]
        return url

    def start_message_move_task(self, **kwargs: Any) -> dict[str, Any]:
        self.started.append(kwargs)
        source = self._url(kwargs["SourceArn"])
        total = int(
            self._sqs.get_queue_attributes(
                QueueUrl=source, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]["ApproximateNumberOfMessages"]
        )
        self._task = {
            "TaskHandle": f"task-{uuid.uuid4().hex}",
            "Status": "RUNNING",
            "SourceArn": kwargs["SourceArn"],
            "DestinationArn": kwargs["DestinationArn"],
            "ApproximateNumberOfMessagesMoved": 0,
            "ApproximateNumberOfMessagesToMove": total,
        }
        return {"TaskHandle": self._task["TaskHandle"]}

    def list_message_move_tasks(self, **kwargs: Any) -> dict[str, Any]:
        task = self._task
        assert task is not None
        assert kwargs["SourceArn"] == task["SourceArn"]
        if task["Status"] == "RUNNING":
            self._move_one(task)
        shown = dict(task)
        if shown["Status"] != "RUNNING":
            del shown["TaskHandle"]  # as SQS does for a finished task
        return {"Results": [shown]}

    def _move_one(self, task: dict[str, Any]) -> None:
        source, destination = self._url(task["SourceArn"]), self._url(task["DestinationArn"])
        messages = self._sqs.receive_message(
            QueueUrl=source, MaxNumberOfMessages=1, MessageAttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            task["Status"] = "COMPLETED"
            return
        [message] = messages
        self._sqs.send_message(
            QueueUrl=destination,
            MessageBody=message["Body"],
            MessageAttributes=message.get("MessageAttributes", {}),
        )
        self._sqs.delete_message(QueueUrl=source, ReceiptHandle=message["ReceiptHandle"])
        task["ApproximateNumberOfMessagesMoved"] += 1


def queue_arn(stack: LocalStack, url: str) -> str:
    arn: str = stack.aws.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    return arn


def test_redrive_moves_every_message_back_and_shows_progress(stack: LocalStack) -> None:
    park(stack, 3)
    sqs = MoveTaskEmulator(stack.aws.client("sqs"))
    lines: list[str] = []
    sleeps: list[float] = []

    task = redrive(
        sqs,  # type: ignore[arg-type]
        stack.dead_letter_queue_url,
        stack.queue_url,
        lines.append,
        max_per_second=5,
        poll_seconds=2.0,
        sleep=sleeps.append,
    )

    assert sqs.started == [
        {
            "SourceArn": queue_arn(stack, stack.dead_letter_queue_url),
            "DestinationArn": queue_arn(stack, stack.queue_url),
            "MaxNumberOfMessagesPerSecond": 5,
        }
    ]
    assert task is not None
    assert (task.status, task.moved) == ("COMPLETED", 3)
    assert lines[0].startswith("move task started for about 3 message(s): task-")
    assert lines[1:] == [
        "RUNNING: 1 of 3 moved",
        "RUNNING: 2 of 3 moved",
        "RUNNING: 3 of 3 moved",
        "COMPLETED: 3 of 3 moved",
        "done: 3 message(s) moved back to the main queue",
    ]
    assert sleeps == [2.0, 2.0, 2.0]
    assert counts(stack, stack.dead_letter_queue_url) == (0, 0)
    assert counts(stack, stack.queue_url) == (3, 0)


def test_the_redrive_command_without_waiting(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    park(stack, 2)
    sqs = MoveTaskEmulator(stack.aws.client("sqs"))
    monkeypatch.setattr(cli, "_sqs", lambda: sqs)

    code = main(["redrive", "--no-wait"])

    out = capsys.readouterr().out
    assert code == EXIT_OK
    assert len(sqs.started) == 1
    assert "MaxNumberOfMessagesPerSecond" not in sqs.started[0]
    assert "not waiting; follow it with:" in out
    assert f"--source-arn {queue_arn(stack, stack.dead_letter_queue_url)}" in out
    assert counts(stack, stack.dead_letter_queue_url) == (2, 0)  # nothing polled, nothing moved


def test_the_redrive_command_waits_until_done(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    park(stack, 2)
    monkeypatch.setattr(cli, "_sqs", lambda: MoveTaskEmulator(stack.aws.client("sqs")))

    code = main(["redrive", "--poll-seconds", "0.01"])

    out = capsys.readouterr().out
    assert code == EXIT_OK
    assert out.rstrip().endswith("done: 2 message(s) moved back to the main queue")
    assert counts(stack, stack.queue_url) == (2, 0)
