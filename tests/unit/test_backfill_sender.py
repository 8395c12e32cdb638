"""The backfill's sending side alone: the entries a ``SendMessageBatch`` did not deliver (its
``Failed`` list) sent again, then reported; the pace of ``--rate``; the checkpoint refusing a
file, queue or source other than its own; the progress shown."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from masking_unset_tools.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main
from masking_unset_tools.ops.backfill import (
    BATCH_BYTES,
    BackfillOptions,
    Checkpoint,
    Pacer,
    ProgressBar,
    ProgressLines,
    QueueSender,
    SendFailure,
    SendStopped,
    default_checkpoint,
    rate_option,
    run_backfill,
    terminal_progress,
)
from masking_unset_tools.ops.backfill_rows import (
    FileFormat,
    QueuedClose,
    RowChecker,
    check_settings,
)
from masking_unset_tools.ops.errors import UsageError

URL = "https://sqs.ap-south-1.amazonaws.com/1/q"


def closes(count: int, first_line: int = 2) -> list[QueuedClose]:
    return [
        QueuedClose(line, line, f"e{line}", json.dumps({"event_id": f"e{line}"}), mapped=False)
        for line in range(first_line, first_line + count)
    ]


class ScriptedSqs:
    """SendMessageBatch answering from a script: per call, the ids to fail and how."""

    def __init__(self, *script: dict[str, tuple[str, bool]] | BaseException) -> None:
        self.script = list(script)
        self.calls: list[list[str]] = []

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:
        assert QueueUrl == URL
        ids = [entry["Id"] for entry in Entries]
        self.calls.append(ids)
        step = self.script.pop(0) if self.script else {}
        if isinstance(step, BaseException):
            raise step
        failed = [
            {"Id": i, "SenderFault": sender, "Code": code}
            for i, (code, sender) in step.items()
            if i in ids
        ]
        successful = [{"Id": i, "MessageId": f"m-{i}"} for i in ids if i not in step]
        return {"Successful": successful, "Failed": failed}


def test_entries_sqs_did_not_take_are_sent_again_alone() -> None:
    sqs = ScriptedSqs({"line-3": ("InternalError", False), "line-5": ("ServiceUnavailable", False)})
    waits: list[float] = []
    failures = QueueSender(sqs, URL, sleep=waits.append).send(closes(4))
    assert failures == []
    assert sqs.calls == [["line-2", "line-3", "line-4", "line-5"], ["line-3", "line-5"]]
    assert waits == [0.5]


def test_entries_still_failing_after_the_retries_are_reported() -> None:
    busy = {"line-2": ("InternalError", False)}
    sqs = ScriptedSqs(busy, busy, busy, busy)
    waits: list[float] = []
    failures = QueueSender(sqs, URL, sleep=waits.append).send(closes(2))
    assert failures == [SendFailure(2, "InternalError")]
    assert len(sqs.calls) == 4  # the batch, then three retries of the failed entry
    assert waits == [0.5, 1.0, 2.0]


def test_an_entry_refused_for_its_own_fault_is_not_sent_again() -> None:
    sqs = ScriptedSqs(
        {"line-2": ("InvalidMessageContents", True), "line-3": ("InternalError", False)}
    )
    failures = QueueSender(sqs, URL, sleep=lambda _: None).send(closes(2))
    assert failures == [SendFailure(2, "InvalidMessageContents")]
    assert sqs.calls == [["line-2", "line-3"], ["line-3"]]


def test_a_failed_request_stops_the_run() -> None:
    denied = ClientError(
        {"Error": {"Code": "AccessDenied"}, "ResponseMetadata": {"HTTPStatusCode": 403}},
        "SendMessageBatch",
    )
    with pytest.raises(
        SendStopped, match=r"SQS refused SendMessageBatch: AccessDenied \(HTTP 403\)"
    ):
        QueueSender(ScriptedSqs(denied), URL).send(closes(1))
    unreachable = EndpointConnectionError(endpoint_url=URL)
    with pytest.raises(SendStopped, match="SendMessageBatch failed: EndpointConnectionError"):
        QueueSender(ScriptedSqs(unreachable), URL).send(closes(1))


def test_the_batch_limit_is_sqs_limit() -> None:
    assert BATCH_BYTES == 256 * 1024


def test_the_rate_paces_messages_per_second() -> None:
    now = [100.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    pacer = Pacer(20, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        pacer.wait(10)
    assert waits == [0.5, 0.5]  # the first batch at once, then ten every half second
    now[0] += 5  # a slow send: nothing to make up by bursting beyond the average
    pacer.wait(10)
    assert waits == [0.5, 0.5]
    unpaced = Pacer(0, clock=lambda: now[0], sleep=sleep)
    unpaced.wait(10)
    unpaced.wait(10)
    assert waits == [0.5, 0.5]


def test_the_rate_option_is_a_positive_number() -> None:
    assert rate_option("2.5") == 2.5
    for bad in ("0", "-1", "fast", "inf", "nan"):
        with pytest.raises(UsageError, match="--rate must be"):
            rate_option(bad)


def test_a_checkpoint_resumes_only_its_own_file_queue_and_source(tmp_path: Path) -> None:
    path = tmp_path / "closed.csv.backfill-checkpoint.json"
    assert Checkpoint.resume(path, "sha-1", URL, "zendesk").done_through == 0  # none yet
    saved = Checkpoint(path, "sha-1", URL, "zendesk", done_through=41)
    saved.save()
    assert not (tmp_path / (path.name + ".partial")).exists()
    again = Checkpoint.resume(path, "sha-1", URL, "zendesk")
    assert (again.done_through, again.complete) == (41, False)
    with pytest.raises(UsageError, match=r"for another version of the file .*delete it"):
        Checkpoint.resume(path, "sha-2", URL, "zendesk")
    with pytest.raises(UsageError, match="for another queue"):
        Checkpoint.resume(path, "sha-1", URL + "-2", "zendesk")
    with pytest.raises(UsageError, match="written with --source zendesk"):
        Checkpoint.resume(path, "sha-1", URL, "queue")
    path.write_text("{not json")
    with pytest.raises(UsageError, match="not a backfill checkpoint"):
        Checkpoint.resume(path, "sha-1", URL, "zendesk")


def test_a_checkpoint_that_cannot_be_written_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"cannot write the checkpoint .*--checkpoint"):
        Checkpoint(tmp_path / "missing" / "x.json", "sha", URL, "queue").save()


def test_plain_progress_is_a_line_per_tenth_of_a_long_file(tmp_path: Path) -> None:
    rows = write_rows(tmp_path / "closed.csv", 1500)
    out = io.StringIO()
    options = BackfillOptions(rows, FileFormat.CSV, "queue", None, dry_run=True)
    run_backfill(options, RowChecker(check_settings({})), progress=terminal_progress(out, "valid"))
    assert out.getvalue().splitlines()[-1] == "backfill: 100% (line 1501 of 1501), 1500 valid"
    assert len(out.getvalue().splitlines()) == 10


def test_plain_progress_is_a_line_per_tenth_of_the_file() -> None:
    shown: list[str] = []
    progress = ProgressLines(200, shown.append, start=40)
    for line in range(41, 201):
        progress.advance(line, line // 2)
    assert shown[0] == "backfill: 30% (line 60 of 200), 30 queued"
    assert shown[-1] == "backfill: 100% (line 200 of 200), 100 queued"
    assert len(shown) == 8


# --- a run, on a scripted queue


def write_rows(path: Path, count: int) -> Path:
    rows = "".join(f"T-{n},+91 80 4000 {n:04d}\n" for n in range(count))
    path.write_text("ticket_id,mask\n" + rows)
    return path


def test_a_batch_sqs_keeps_refusing_stops_the_run_before_it(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "closed.csv", 25)
    busy = {"line-15": ("InternalError", False)}
    sqs = ScriptedSqs({}, busy, busy, busy, busy)
    options = BackfillOptions(path, FileFormat.CSV, "queue", URL)
    summary = run_backfill(options, RowChecker(check_settings({})), sqs=sqs, sleep=lambda _: None)
    assert (summary.queued, summary.failed, summary.resume_after) == (
        19,
        [SendFailure(15, "InternalError")],
        11,
    )
    lines = summary.lines(URL)
    assert "  not accepted by SQS: 1" in lines
    assert "    line 15: InternalError" in lines
    assert "  stopped: SQS did not take 1 message(s) of the batch from line 12 after 3 retries" in (
        lines
    )
    assert not summary.succeeded
    # The rerun sends the batch again (SQS took nine of it: duplicates the function skips).
    again = run_backfill(options, RowChecker(check_settings({})), sqs=ScriptedSqs())
    assert (again.before, again.queued, again.succeeded) == (10, 15, True)


def test_a_dry_run_needs_no_queue_and_writes_no_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("QUEUE_URL", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    path = write_rows(tmp_path / "closed.csv", 3)
    assert main(["backfill", str(path), "--dry-run"]) == EXIT_OK
    captured = capsys.readouterr()
    assert "  would queue: 3 (dry run: nothing sent)" in captured.out
    assert captured.err == ""  # not a terminal, and too short a file for progress lines
    assert not default_checkpoint(path).exists()
    path.write_text(path.read_text() + "T-9,12\n")
    assert main(["backfill", str(path), "--dry-run"]) == EXIT_FAILED
    assert "    line 5: invalid_number: mask (***12)" in capsys.readouterr().out
    assert main(["backfill", str(path)]) == EXIT_USAGE
    assert "error: QUEUE_URL is not set (or pass --queue-url)" in capsys.readouterr().err


def test_ctrl_c_prints_the_summary_so_far_and_where_to_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_rows(tmp_path / "closed.csv", 25)
    sqs = ScriptedSqs({}, KeyboardInterrupt())
    monkeypatch.setattr("masking_unset_tools.ops.backfill.sqs_client", lambda: sqs)
    assert main(["backfill", str(path), "--queue-url", URL]) == 130
    captured = capsys.readouterr()
    assert "  queued: 10" in captured.out
    assert "  stopped: interrupted" in captured.out
    assert f"progress is saved in {default_checkpoint(path)} (every row through line 11)" in (
        captured.out
    )
    assert captured.err.strip().splitlines()[-1] == "interrupted"
    monkeypatch.setattr("masking_unset_tools.ops.backfill.sqs_client", ScriptedSqs)
    assert main(["backfill", str(path), "--queue-url", URL]) == EXIT_OK
    assert "  queued by an earlier run (checkpoint): 10" in capsys.readouterr().out


def test_a_file_refused_for_its_header_leaves_no_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "closed.csv"
    path.write_text("id,mask\n1,8040000001\n")
    options = BackfillOptions(path, FileFormat.CSV, "queue", URL)
    with pytest.raises(UsageError, match="no ticket_id column"):
        run_backfill(options, RowChecker(check_settings({})), sqs=ScriptedSqs())
    assert not default_checkpoint(path).exists()


def test_on_a_terminal_the_progress_is_a_bar() -> None:
    stream = io.StringIO()
    bar = ProgressBar(200, stream, start=50, counted="queued")
    bar.advance(120, 60)
    bar.advance(200, 140)
    bar.close()
    shown = stream.getvalue()
    assert "backfill" in shown
    assert "200/200" in shown
