"""``backfill``: the day-one backlog. Every valid row of a file of closed tickets becomes a queue
message, sent in batches of ten, so the queue function's rate limit, circuit breaker,
idempotency and trail apply to each (docs/backfill.md).

A checkpoint next to the file records how far the file was sent: an interrupted run (Ctrl-C, a
crash, a send SQS did not accept) starts again after the last batch SQS took. A batch sent twice
is harmless: each row's event id is the same on every run, so the function skips the second as a
duplicate.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Protocol, TextIO

from masking_unset.models.queue import MAX_MESSAGE_BYTES
from masking_unset_tools.ops.backfill_rows import (
    FileFormat,
    InvalidRow,
    QueuedClose,
    Repeat,
    Repeats,
    RowChecker,
    RowReader,
    count_lines,
)
from masking_unset_tools.ops.console import Out
from masking_unset_tools.ops.errors import UsageError

BATCH_ENTRIES: Final = 10  # SendMessageBatch's limit
BATCH_BYTES: Final = MAX_MESSAGE_BYTES  # ... and its size limit, the whole batch together
SEND_RETRIES: Final = 3  # further tries of the entries a batch did not deliver
RETRY_BASE_SECONDS: Final = 0.5
CHECKPOINT_VERSION: Final = 1
CHECKPOINT_SUFFIX: Final = ".backfill-checkpoint.json"
_SHOWN_REPEATS: Final = 20
PLAIN_PROGRESS_LINES: Final = 1000  # a smaller file shows no plain progress lines


# --- the checkpoint -----------------------------------------------------------------------------


def default_checkpoint(path: Path) -> Path:
    """Where the checkpoint of ``path`` is kept unless ``--checkpoint`` says: beside it."""
    return path.with_name(path.name + CHECKPOINT_SUFFIX)


@dataclass
class Checkpoint:
    """How far one file was sent to one queue: every row up to ``done_through`` (a line
    number) was queued, skipped or found invalid. Written after each batch SQS took."""

    path: Path
    file_sha256: str
    queue_url: str
    source: str
    done_through: int = 0
    complete: bool = False

    @classmethod
    def resume(cls, path: Path, file_sha256: str, queue_url: str, source: str) -> Checkpoint:
        """The checkpoint at ``path`` for this file, queue and default source, or a new one.

        :class:`UsageError` when it was written for another version of the file, another queue
        or another ``--source``: resuming it would skip rows it never sent."""
        fresh = cls(path, file_sha256, queue_url, source)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return fresh
        except OSError as exc:
            raise UsageError(
                f"{path}: the checkpoint cannot be read ({type(exc).__name__})"
            ) from None
        try:
            saved = json.loads(text)
            kept = (saved["version"], saved["file_sha256"], saved["queue_url"], saved["source"])
            done, complete = int(saved["done_through_line"]), bool(saved["complete"])
        except (ValueError, KeyError, TypeError):
            raise UsageError(
                f"{path}: not a backfill checkpoint: delete it to send the file from its first "
                "row (rows already queued are then duplicates the functions skip)"
            ) from None
        start_over = (
            "delete it to send the file from its first row (rows already queued are then "
            "duplicates the functions skip), or give another --checkpoint"
        )
        if kept[0] != CHECKPOINT_VERSION or kept[1] != file_sha256:
            raise UsageError(
                f"{path}: the checkpoint is for another version of the file (it changed since "
                f"that run): {start_over}"
            )
        if kept[2] != queue_url:
            raise UsageError(f"{path}: the checkpoint is for another queue: {start_over}")
        if kept[3] != source:
            raise UsageError(
                f"{path}: the checkpoint was written with --source {kept[3]}: give that "
                f"again, or {start_over}"
            )
        fresh.done_through, fresh.complete = done, complete
        return fresh

    def save(self) -> None:
        """Write it, whole or not at all (a crash mid-write leaves the previous one)."""
        document = {
            "version": CHECKPOINT_VERSION,
            "file_sha256": self.file_sha256,
            "queue_url": self.queue_url,
            "source": self.source,
            "done_through_line": self.done_through,
            "complete": self.complete,
            "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        partial = self.path.with_name(self.path.name + ".partial")
        try:
            partial.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
            os.replace(partial, self.path)
        except OSError as exc:
            raise UsageError(
                f"{self.path}: cannot write the checkpoint ({type(exc).__name__}): give "
                "--checkpoint a path in a folder you can write to"
            ) from None


# --- sending ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendFailure:
    """A row SQS did not take, and SQS's error code."""

    line: int
    code: str


class SendStopped(Exception):
    """A whole ``SendMessageBatch`` failed (after the SDK's own retries): the run stops there."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class QueueSender:
    """Sends batches of messages with ``SendMessageBatch``; the entries of a batch SQS did not
    take (its ``Failed`` list) are sent again, up to :data:`SEND_RETRIES` times when the fault
    is SQS's, then reported."""

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        *,
        retries: int = SEND_RETRIES,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._sqs = sqs
        self._url = queue_url
        self._retries = retries
        self._sleep = sleep

    def send(self, batch: list[QueuedClose]) -> list[SendFailure]:
        """Send ``batch`` (1-10 messages, 256 KiB at most); what SQS did not take in the end.
        :class:`SendStopped` when the request itself failed."""
        pending = {f"line-{close.line}": close for close in batch}
        failures: list[SendFailure] = []
        for attempt in range(self._retries + 1):
            if attempt:
                self._sleep(RETRY_BASE_SECONDS * 2 ** (attempt - 1))
            retry: dict[str, QueuedClose] = {}
            for entry in self._send_once(pending):
                entry_id = str(entry.get("Id", ""))
                close = pending.get(entry_id)
                if close is None:
                    continue
                if entry.get("SenderFault") or attempt == self._retries:
                    # The request's own fault: sent again, it fails again.
                    failures.append(SendFailure(close.line, str(entry.get("Code") or "failed")))
                else:
                    retry[entry_id] = close
            if not retry:
                break
            pending = retry
        return sorted(failures, key=lambda failure: failure.line)

    def _send_once(self, pending: dict[str, QueuedClose]) -> list[dict[str, Any]]:
        from botocore.exceptions import BotoCoreError, ClientError

        entries: list[dict[str, str]] = []
        for key, close in pending.items():
            entry = {"Id": key, "MessageBody": close.body}
            if self._url.endswith(".fifo"):  # a FIFO queue takes nothing without these
                entry["MessageGroupId"] = close.group
                entry["MessageDeduplicationId"] = close.dedup_id
            entries.append(entry)
        try:
            answer = self._sqs.send_message_batch(QueueUrl=self._url, Entries=entries)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            raise SendStopped(
                f"SQS refused SendMessageBatch: {error.get('Code', 'error')} (HTTP {status})"
            ) from None
        except BotoCoreError as exc:
            raise SendStopped(f"SendMessageBatch failed: {type(exc).__name__}") from None
        failed: list[dict[str, Any]] = answer.get("Failed", [])
        return failed


class Pacer:
    """Holds the sends to ``rate`` messages per second on average (0: as fast as SQS takes
    them)."""

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._rate = rate
        self._clock = clock
        self._sleep = sleep
        self._start: float | None = None
        self._sent = 0

    def wait(self, messages: int) -> None:
        """Wait until ``messages`` more may be sent."""
        if self._rate <= 0:
            return
        now = self._clock()
        if self._start is None:
            self._start = now
        due = self._start + self._sent / self._rate
        if due > now:
            self._sleep(due - now)
        self._sent += messages


# --- progress -----------------------------------------------------------------------------------


class Progress(Protocol):
    """Shows how far through the file the run is."""

    def advance(self, line: int, queued: int) -> None:
        """The rows up to ``line`` are handled; ``queued`` messages sent so far."""

    def close(self) -> None:
        """The run ended (or stopped)."""


class NoProgress:
    """Shows nothing (tests, the demo)."""

    def advance(self, line: int, queued: int) -> None:
        """Nothing."""

    def close(self) -> None:
        """Nothing."""


class ProgressLines:
    """Plain lines, each tenth of the file: for logs and pipes, where a bar is noise."""

    def __init__(self, total: int, out: Out, start: int = 0, counted: str = "queued") -> None:
        self._total = max(total, 1)
        self._out = out
        self._shown = start * 10 // self._total
        self._counted = counted

    def advance(self, line: int, queued: int) -> None:
        """A line at each further tenth of the file."""
        tenth = min(line, self._total) * 10 // self._total
        if tenth > self._shown:
            self._shown = tenth
            self._out(
                f"backfill: {tenth * 10}% (line {min(line, self._total)} of {self._total}), "
                f"{queued} {self._counted}"
            )

    def close(self) -> None:
        """Nothing left to show."""


class ProgressBar:
    """A tqdm bar over the file's lines, on a terminal."""

    def __init__(self, total: int, stream: TextIO, start: int = 0, counted: str = "queued") -> None:
        from tqdm import tqdm

        self._counted = counted
        self._bar = tqdm(
            total=total, initial=min(start, total), unit="line", file=stream, desc="backfill"
        )
        self._line = min(start, total)

    def advance(self, line: int, queued: int) -> None:
        """Move the bar to ``line``."""
        line = min(line, int(self._bar.total or line))
        if line > self._line:
            self._bar.update(line - self._line)
            self._line = line
            self._bar.set_postfix({self._counted: queued}, refresh=False)

    def close(self) -> None:
        """Take the bar off the line it is drawn on."""
        self._bar.close()


def terminal_progress(stream: TextIO, counted: str = "queued") -> Callable[[int, int], Progress]:
    """How the CLI shows progress on ``stream``: a bar on a terminal (when tqdm is installed),
    plain lines otherwise; ``counted`` names the count shown (queued, or valid in a dry run)."""

    def make(total: int, start: int) -> Progress:
        if stream.isatty():
            try:
                return ProgressBar(total, stream, start, counted)
            except ModuleNotFoundError:  # tqdm is a development dependency
                pass
        if total < PLAIN_PROGRESS_LINES:
            return NoProgress()  # done before a line would tell anything
        return ProgressLines(
            total, lambda line: print(line, file=stream, flush=True), start, counted
        )

    return make


# --- the run ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackfillOptions:
    """What ``masking-unset backfill`` was asked to do."""

    path: Path
    fmt: FileFormat
    source: str
    queue_url: str | None  # None in a dry run
    dry_run: bool = False
    rate: float = 0.0
    checkpoint: Path | None = None  # default: beside the file


@dataclass
class BackfillSummary:
    """What a run did."""

    path: Path
    dry_run: bool
    rows: int = 0
    queued: int = 0  # sent by this run (a dry run: would be)
    before: int = 0  # sent by an earlier run, per the checkpoint
    batches: int = 0
    mapped: int = 0  # of the valid rows: numbers looked up by the function
    repeats: list[Repeat] = field(default_factory=list)
    invalid: list[InvalidRow] = field(default_factory=list)
    failed: list[SendFailure] = field(default_factory=list)
    stopped: str | None = None  # why the run stopped before the end
    resume_after: int | None = None  # the checkpoint's line when the run stopped
    checkpoint: Path | None = None
    ignored: str = ""
    complete_before: bool = False

    @property
    def succeeded(self) -> bool:
        """Every row valid and queued: exit 0."""
        return not (self.invalid or self.failed or self.stopped)

    def failure(self) -> str:
        """Why the run did not succeed, in one line (the CLI's ``error:``)."""
        invalid = f"{len(self.invalid)} invalid row(s), listed above"
        if self.stopped:
            where = f"stopped after line {self.resume_after}: {self.stopped}"
            return (f"{invalid}; " if self.invalid else "") + (
                f"{where}; run the same command again to resume"
            )
        if self.dry_run:
            return f"{invalid}: fix or remove them, then run without --dry-run"
        return f"{invalid}, not queued; every valid row was"

    def lines(self, queue_url: str | None = None) -> list[str]:
        """The summary as printed at the end of a run."""
        verb = "would queue" if self.dry_run else "queued"
        out = [f"backfill of {self.path}: {self.rows} row(s)"]
        if self.ignored:
            out.append(f"  ignored columns: {self.ignored}")
        if self.complete_before:
            out.append(f"  the checkpoint says every row was queued before ({self.checkpoint})")
        where = f" to {queue_url}" if queue_url and not self.dry_run else ""
        note = " (dry run: nothing sent)" if self.dry_run else ""
        out.append(f"  {verb}: {self.queued}{where}{note}")
        if self.before:
            out.append(f"  queued by an earlier run (checkpoint): {self.before}")
        if self.mapped:
            out.append(
                "  valid rows that name no number (the queue function looks their masking up "
                f"in MASKING_MAP_TABLE): {self.mapped}"
            )
        shown = ", ".join(
            f"line {r.line} repeats line {r.first_line}" for r in self.repeats[:_SHOWN_REPEATS]
        )
        more = len(self.repeats) - _SHOWN_REPEATS
        shown += f" and {more} more" if more > 0 else ""
        out.append(f"  skipped repeats: {len(self.repeats)}" + (f" ({shown})" if shown else ""))
        out.append(f"  invalid: {len(self.invalid)}")
        out.extend(f"    line {row.line}: {row.reason}" for row in self.invalid)
        if self.failed:
            out.append(f"  not accepted by SQS: {len(self.failed)}")
            out.extend(f"    line {f.line}: {f.code}" for f in self.failed)
        if self.stopped:
            out.append(f"  stopped: {self.stopped}")
            out.append(
                f"  progress is saved in {self.checkpoint} (every row through line "
                f"{self.resume_after}): run the same command again to resume"
            )
        return out


BatchHook = Callable[[int], None]  # called after each batch SQS took, with the batch count


def run_backfill(
    options: BackfillOptions,
    checker: RowChecker,
    *,
    sqs: Any = None,
    progress: Callable[[int, int], Progress] | None = None,
    after_batch: BatchHook | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> BackfillSummary:
    """Check every row of the file and, unless a dry run, send the valid ones to the queue.

    On Ctrl-C the checkpoint holds what was sent; ``KeyboardInterrupt`` goes on to the caller
    with :attr:`BackfillSummary.stopped` set on the summary it carries (``exc.args[0]``)."""
    summary = BackfillSummary(options.path, options.dry_run)
    reader = RowReader(options.path, options.fmt)
    sha256, total = count_lines(options.path)
    rows = reader.rows()
    # The first row read: a file without a usable header is refused before a checkpoint is made.
    first = next(rows, None)
    if first is not None:
        rows = itertools.chain([first], rows)
    checkpoint: Checkpoint | None = None
    if not options.dry_run:
        if options.queue_url is None or sqs is None:
            raise UsageError("QUEUE_URL is not set (or pass --queue-url)")
        where = options.checkpoint or default_checkpoint(options.path)
        checkpoint = Checkpoint.resume(where, sha256, options.queue_url, options.source)
        summary.checkpoint = where
        summary.complete_before = checkpoint.complete
        checkpoint.save()  # a checkpoint that cannot be written stops the run before any send
    done_before = checkpoint.done_through if checkpoint is not None else 0
    shown = (progress or (lambda total, start: NoProgress()))(total, done_before)
    sender = QueueSender(sqs, options.queue_url or "", sleep=sleep) if sqs is not None else None
    pacer = Pacer(options.rate, clock=clock, sleep=sleep)
    repeats = Repeats()
    batch: list[QueuedClose] = []
    last_line = 0

    def flush() -> None:
        if not batch:
            return
        assert sender is not None
        assert checkpoint is not None
        pacer.wait(len(batch))
        try:
            failures = sender.send(batch)
        except SendStopped as exc:
            summary.stopped = exc.reason
            raise
        summary.queued += len(batch) - len(failures)
        if failures:
            summary.failed.extend(failures)
            summary.stopped = (
                f"SQS did not take {len(failures)} message(s) of the batch from line "
                f"{batch[0].line} after {SEND_RETRIES} retries"
            )
            raise SendStopped(summary.stopped)
        summary.batches += 1
        checkpoint.done_through = last_line
        checkpoint.save()
        batch.clear()
        if after_batch is not None:
            after_batch(summary.batches)

    try:
        for raw in rows:
            summary.rows += 1
            checked: QueuedClose | Repeat | InvalidRow = checker.check(raw)
            if isinstance(checked, QueuedClose):
                checked = repeats.check(checked)
            if isinstance(checked, InvalidRow):
                summary.invalid.append(checked)
            elif isinstance(checked, Repeat):
                summary.repeats.append(checked)
            else:
                summary.mapped += checked.mapped
                if checked.line <= done_before:
                    summary.before += 1
                elif options.dry_run:
                    summary.queued += 1
                else:
                    if batch and sum(c.size for c in batch) + checked.size > BATCH_BYTES:
                        flush()
                    batch.append(checked)
            last_line = raw.end_line
            if len(batch) >= BATCH_ENTRIES:
                flush()
            shown.advance(last_line, summary.queued)
        flush()
        if checkpoint is not None:
            checkpoint.done_through, checkpoint.complete = max(last_line, done_before), True
            checkpoint.save()
    except SendStopped:
        summary.resume_after = checkpoint.done_through if checkpoint is not None else 0
    except KeyboardInterrupt:
        summary.stopped = "interrupted"
        summary.resume_after = checkpoint.done_through if checkpoint is not None else 0
        raise KeyboardInterrupt(summary) from None
    finally:
        shown.close()
    summary.ignored = reader.shown_ignored() if reader.ignored else ""
    return summary


def queue_url(value: str | None, environ: dict[str, str] | None = None) -> str:
    """``--queue-url``, else ``QUEUE_URL``."""
    env = os.environ if environ is None else environ
    url = (value or "").strip() or env.get("QUEUE_URL", "").strip()
    if not url:
        raise UsageError("QUEUE_URL is not set (or pass --queue-url)")
    return url


def sqs_client() -> Any:
    """The environment's SQS client (AWS_REGION, credentials, AWS_ENDPOINT_URL)."""
    from masking_unset.clients.aws import aws_client, aws_client_config, aws_session
    from masking_unset.models.errors import ConfigurationError

    try:
        return aws_client(aws_session(), "sqs", aws_client_config())
    except ConfigurationError as exc:  # "AWS configuration: no usable AWS region ..."
        raise UsageError(exc.message) from None


def rate_option(text: str) -> float:
    """``--rate``: messages per second, more than 0."""
    try:
        rate = float(text)
    except ValueError:
        raise UsageError("--rate must be a number of messages per second") from None
    if not 0 < rate < math.inf:
        raise UsageError("--rate must be more than 0 messages per second")
    return rate


@contextmanager
def interrupted_summary(out: Out) -> Iterator[None]:
    """Print the summary a Ctrl-C carries before the CLI says "interrupted"."""
    try:
        yield
    except KeyboardInterrupt as exc:
        summary = exc.args[0] if exc.args else None
        if isinstance(summary, BackfillSummary):
            for line in summary.lines():
                out(line)
        raise KeyboardInterrupt from None


def stderr_progress(*, dry_run: bool) -> Callable[[int, int], Progress]:
    """Progress on the standard error stream, beside the summary on standard output."""
    return terminal_progress(sys.stderr, "valid" if dry_run else "queued")
