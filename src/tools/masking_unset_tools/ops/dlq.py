"""``dlq list`` and ``redrive``: what is parked in the dead-letter queue, and moving it back.

Both take a boto3 SQS client so tests hand them one aimed at a local endpoint.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from masking_unset.models.queue import (
    ATTR_ERROR_CODE,
    ATTR_ERROR_MESSAGE,
    ATTR_RECEIVE_COUNT,
    ATTR_SOURCE_MESSAGE_ID,
)
from masking_unset.models.redact import scrub
from masking_unset_tools.ops.console import Out
from masking_unset_tools.ops.errors import CommandError, OperationFailed, UsageError

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

# Listing holds each message this long so the next receive moves on to other messages; they are
# handed back (visibility 0) as soon as the listing ends, or on their own after this if it dies.
LIST_HOLD_SECONDS: Final = 30
MAX_BODY_SHOWN: Final = 500
_SQS_BATCH: Final = 10
_EMPTY_RECEIVES: Final = 2  # short polls can miss messages; one retry with a 1 s long poll


def _aws_failure(action: str, exc: Exception) -> CommandError:
    """A one-line, secret-free description of a failed AWS call; an AWS environment that is not
    set up (no credentials, no region) is a usage error that says what to set."""
    from masking_unset.clients.aws import aws_setup_problem

    if (problem := aws_setup_problem(exc)) is not None:
        return UsageError(f"AWS configuration: {problem}")
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or "")
        message = str(error.get("Message") or "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        text = f"{action} failed: {code or status}"
        if message and not message.lstrip().startswith("<"):  # skip HTML error pages
            text += f" ({scrub(message.splitlines()[0][:200])})"
        return OperationFailed(text)
    return OperationFailed(f"{action} failed: {type(exc).__name__}")


@dataclass(frozen=True)
class ParkedMessage:
    """One dead-lettered message and why it was parked; its body already redacted."""

    message_id: str
    source_message_id: str
    error_code: str
    reason: str
    receive_count: str
    sent_at: str
    body: str
    # The key of the event's trail (``masking-unset trail``), when it can be told.
    trail_key: str = ""

    def to_dict(self) -> dict[str, str]:
        """JSON form."""
        return asdict(self)


@dataclass
class Listing:
    """What ``dlq list`` found."""

    messages: list[ParkedMessage] = field(default_factory=list)
    approximate_total: int = 0
    in_flight: int = 0


def _attribute(message: dict[str, Any], name: str) -> str:
    value = message.get("MessageAttributes", {}).get(name, {})
    return str(value.get("StringValue", "")) if isinstance(value, dict) else ""


def unrecorded_reason(sqs_receive_count: str) -> str:
    """What is known of a message the queue function did not park: SQS's redrive policy moved it
    (after maxReceiveCount receives) or someone sent it here. SQS's receive count is carried over
    and every listing's receive raises it, so it is shown as a count, not as the deliveries."""
    count = (
        f"; SQS counts {sqs_receive_count} receives, listings included" if sqs_receive_count else ""
    )
    return (
        "no reason recorded: moved here by the main queue's redrive policy after its "
        f"maxReceiveCount receives, or sent by hand{count}"
    )


def parked_message(
    message: dict[str, Any], key_of: Callable[[str], str | None] | None = None
) -> ParkedMessage:
    """Read an SQS message of the dead-letter queue; numbers in the body are redacted.
    ``key_of`` tells the key of its event's trail from the body as it came."""
    system = message.get("Attributes", {})
    sent = system.get("SentTimestamp", "")
    sent_at = (
        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(sent) / 1000))
        if str(sent).isdigit()
        else ""
    )
    body = scrub(str(message.get("Body", "")))
    if len(body) > MAX_BODY_SHOWN:
        body = body[:MAX_BODY_SHOWN] + "..."
    code = _attribute(message, ATTR_ERROR_CODE)
    # Written by this service already redacted; scrubbed again since anyone can send here.
    reason = scrub(_attribute(message, ATTR_ERROR_MESSAGE))
    sqs_count = str(system.get("ApproximateReceiveCount", ""))
    if not (code or reason):
        reason = unrecorded_reason(sqs_count)
    return ParkedMessage(
        message_id=str(message.get("MessageId", "")),
        source_message_id=_attribute(message, ATTR_SOURCE_MESSAGE_ID),
        error_code=code or "-",
        reason=reason or "-",
        receive_count=_attribute(message, ATTR_RECEIVE_COUNT) or sqs_count,
        sent_at=sent_at,
        body=body,
        trail_key=(key_of(str(message.get("Body", ""))) or "") if key_of else "",
    )


def queue_counts(sqs: SQSClient, queue_url: str) -> tuple[int, int]:
    """(visible, in flight) messages, as SQS approximates them."""
    try:
        attributes = sqs.get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
    except (ClientError, BotoCoreError) as exc:
        raise _aws_failure("GetQueueAttributes", exc) from None
    return (
        int(attributes.get("ApproximateNumberOfMessages", "0")),
        int(attributes.get("ApproximateNumberOfMessagesNotVisible", "0")),
    )


def list_dead_letters(
    sqs: SQSClient,
    queue_url: str,
    *,
    max_messages: int = 50,
    hold_seconds: int = LIST_HOLD_SECONDS,
    key_of: Callable[[str], str | None] | None = None,
) -> Listing:
    """Up to ``max_messages`` parked messages, each once, left in the queue as they were.

    A receive with visibility 0 would keep answering with the same first messages, so each one is
    held for ``hold_seconds`` while the listing goes on and handed back (visibility 0) at the end.
    Receiving does raise a message's ApproximateReceiveCount; the ReceiveCount shown is the one
    the main queue had when the message was parked.
    """
    visible, in_flight = queue_counts(sqs, queue_url)
    listing = Listing(approximate_total=visible, in_flight=in_flight)
    held: dict[str, str] = {}  # message id -> receipt handle, to hand back
    empty, empty_limit = 0, _EMPTY_RECEIVES if visible else 1
    try:
        while len(listing.messages) < max_messages and empty < empty_limit:
            if visible and len(held) >= visible:
                break  # every message SQS counted is listed: no need for another (slow) poll
            wanted = min(_SQS_BATCH, max_messages - len(listing.messages))
            try:
                received = sqs.receive_message(
                    QueueUrl=queue_url,
                    MaxNumberOfMessages=wanted,
                    VisibilityTimeout=hold_seconds,
                    WaitTimeSeconds=0 if empty == 0 else 1,
                    MessageAttributeNames=["All"],
                    MessageSystemAttributeNames=["SentTimestamp", "ApproximateReceiveCount"],
                ).get("Messages", [])
            except (ClientError, BotoCoreError) as exc:
                raise _aws_failure("ReceiveMessage", exc) from None
            new = [m for m in received if m.get("MessageId") not in held]
            for message in received:
                held[str(message.get("MessageId"))] = str(message.get("ReceiptHandle"))
            empty = 0 if new else empty + 1
            listing.messages.extend(parked_message(dict(m), key_of) for m in new)
    finally:
        _release(sqs, queue_url, held.values())
    del listing.messages[max_messages:]
    return listing


def _release(sqs: SQSClient, queue_url: str, receipt_handles: Iterable[str]) -> None:
    """Make held messages visible again at once."""
    handles = list(receipt_handles)
    for start in range(0, len(handles), _SQS_BATCH):
        entries = [
            {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0}
            for i, handle in enumerate(handles[start : start + _SQS_BATCH])
        ]
        # On failure they come back on their own when the hold ends.
        with contextlib.suppress(ClientError, BotoCoreError):
            sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)  # type: ignore[arg-type]


def print_listing(
    listing: Listing, out: Out, trails: Mapping[str, list[str]] | None = None
) -> None:
    """The human-readable listing; with ``trails`` (message id -> lines), each message's."""
    shown = len(listing.messages)
    out(
        f"{shown} message(s) listed; the queue holds about {listing.approximate_total}"
        + (f" (+{listing.in_flight} in flight)" if listing.in_flight else "")
    )
    for message in listing.messages:
        out("")
        out(f"message {message.message_id}  sent {message.sent_at or '-'}")
        out(f"  source message: {message.source_message_id or '-'}")
        why = (
            message.reason
            if message.error_code == "-"
            else f"{message.error_code}: {message.reason}"
        )
        out(f"  why:            {why}")
        out(f"  receive count:  {message.receive_count or '-'}")
        out(f"  body:           {message.body}")
        if trails is not None:
            lines = trails.get(message.message_id)
            out(f"  trail:          {'' if lines else 'none kept for this event'}".rstrip())
            for line in lines or []:
                out(f"    {line}")


# --- redrive ------------------------------------------------------------------------------------

TERMINAL_STATUSES: Final = frozenset({"COMPLETED", "CANCELLED", "FAILED"})


@dataclass
class MoveTask:
    """The state of one message move task, as ListMessageMoveTasks reports it."""

    status: str
    moved: int = 0
    to_move: int | None = None
    failure_reason: str = ""
    task_handle: str = ""

    @classmethod
    def from_result(cls, result: dict[str, Any]) -> MoveTask:
        """Read one entry of ListMessageMoveTasks' ``Results``."""
        to_move = result.get("ApproximateNumberOfMessagesToMove")
        return cls(
            status=str(result.get("Status", "UNKNOWN")),
            moved=int(result.get("ApproximateNumberOfMessagesMoved", 0)),
            to_move=None if to_move is None else int(to_move),
            failure_reason=scrub(str(result.get("FailureReason", ""))),
            task_handle=str(result.get("TaskHandle", "")),
        )

    def progress(self) -> str:
        """``RUNNING: 3 of 10 moved``."""
        total = f" of {self.to_move}" if self.to_move is not None else ""
        reason = f" ({self.failure_reason})" if self.failure_reason else ""
        return f"{self.status}: {self.moved}{total} moved{reason}"


def queue_arn(sqs: SQSClient, queue_url: str) -> str:
    """The ARN of the queue at ``queue_url``."""
    try:
        return sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
    except (ClientError, BotoCoreError, KeyError) as exc:
        raise _aws_failure("GetQueueAttributes", exc) from None


def start_redrive(
    sqs: SQSClient, dlq_url: str, queue_url: str, *, max_per_second: int | None = None
) -> tuple[str, str]:
    """Start SQS's own move task from the dead-letter queue to the main queue.

    Returns (task handle, dead-letter queue ARN).
    """
    source, destination = queue_arn(sqs, dlq_url), queue_arn(sqs, queue_url)
    kwargs: dict[str, Any] = {"SourceArn": source, "DestinationArn": destination}
    if max_per_second:
        kwargs["MaxNumberOfMessagesPerSecond"] = max_per_second
    try:
        handle = sqs.start_message_move_task(**kwargs)["TaskHandle"]
    except (ClientError, BotoCoreError) as exc:
        failure = _aws_failure("StartMessageMoveTask", exc)
        if _unsupported(exc):
            failure = OperationFailed(
                f"{failure.message}; this SQS endpoint does not implement message move tasks "
                "(moto does not): redrive needs real SQS"
            )
        raise failure from None
    return handle, source


def _unsupported(exc: Exception) -> bool:
    if not isinstance(exc, ClientError):
        return False
    code = str(exc.response.get("Error", {}).get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in {"InvalidAction", "UnknownOperationException", "NotImplemented"} or (
        status in {500, 501} and code.isdigit()
    )


def latest_task(sqs: SQSClient, source_arn: str, task_handle: str) -> MoveTask | None:
    """Our task among the queue's most recent ones.

    ListMessageMoveTasks returns the handle only while a task runs; a finished task is matched as
    the most recent one (SQS allows one active task per queue, and we just started it).
    """
    try:
        results = sqs.list_message_move_tasks(SourceArn=source_arn, MaxResults=10)["Results"]
    except (ClientError, BotoCoreError) as exc:
        raise _aws_failure("ListMessageMoveTasks", exc) from None
    for result in results:
        if result.get("TaskHandle") == task_handle:
            return MoveTask.from_result(dict(result))
    if results and not results[0].get("TaskHandle"):
        return MoveTask.from_result(dict(results[0]))
    return None


def wait_for_task(
    sqs: SQSClient,
    source_arn: str,
    task_handle: str,
    out: Out,
    *,
    poll_seconds: float = 5.0,
    timeout_seconds: float = 900.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> MoveTask:
    """Poll until the task ends, printing progress when it changes.

    Raises :class:`OperationFailed` when it fails or is cancelled, or is still running after
    ``timeout_seconds`` (the task itself goes on in SQS).
    """
    deadline = clock() + timeout_seconds
    last = ""
    while True:
        task = latest_task(sqs, source_arn, task_handle)
        line = task.progress() if task else "waiting for the task to be listed"
        if line != last:
            out(line)
            last = line
        if task is not None and task.status in TERMINAL_STATUSES:
            if task.status != "COMPLETED":
                raise OperationFailed(f"the move task ended {task.progress()}")
            return task
        if clock() + poll_seconds > deadline:
            raise OperationFailed(
                f"the move task is still running after {timeout_seconds:g} s; it goes on in SQS "
                "(see `aws sqs list-message-move-tasks`)"
            )
        sleep(poll_seconds)


def redrive(
    sqs: SQSClient,
    dlq_url: str,
    queue_url: str,
    out: Out,
    *,
    wait: bool = True,
    max_per_second: int | None = None,
    poll_seconds: float = 5.0,
    timeout_seconds: float = 900.0,
    sleep: Callable[[float], None] = time.sleep,
) -> MoveTask | None:
    """Move every dead-lettered message back to the main queue; with ``wait``, until done."""
    visible, _ = queue_counts(sqs, dlq_url)
    handle, source_arn = start_redrive(sqs, dlq_url, queue_url, max_per_second=max_per_second)
    out(f"move task started for about {visible} message(s): {handle}")
    if not wait:
        out("not waiting; follow it with:")
        out(f"  aws sqs list-message-move-tasks --source-arn {source_arn}")
        return None
    task = wait_for_task(
        sqs,
        source_arn,
        handle,
        out,
        poll_seconds=poll_seconds,
        timeout_seconds=timeout_seconds,
        sleep=sleep,
    )
    out(f"done: {task.moved} message(s) moved back to the main queue")
    return task
