"""SQS batches: each record expired, parked in the dead-letter queue with its reason, or handed
back for a later attempt - concurrently across records, in order within a FIFO message group."""

from __future__ import annotations

import math
import random
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from masking_unset.logic import trail
from masking_unset.logic.envelopes import unwrap
from masking_unset.logic.failures import disposition
from masking_unset.logic.ports import EventExpirer, Sender, VisibilityControl
from masking_unset.logic.retry import clamp
from masking_unset.logic.trail import TRIGGER_QUEUE, TrailKeeper
from masking_unset.models.budget import Deadline, TimeBudget
from masking_unset.models.errors import CircuitOpen, MaskingUnsetError, UpstreamError
from masking_unset.models.events import CloseEvent
from masking_unset.models.json_input import load_json
from masking_unset.models.queue import (
    ATTR_DEFERRALS,
    ATTR_DEFERRED_SINCE,
    ATTR_ERROR_CODE,
    ATTR_ERROR_MESSAGE,
    ATTR_NOT_BEFORE,
    ATTR_RECEIVE_COUNT,
    ATTR_SOURCE_MESSAGE_ID,
    QueueRecord,
    sqs_body,
)
from masking_unset.observability import count, count_by, logger

MALFORMED_RECORD = "malformed_record"
EMPTY_BODY = "(empty body)"  # SQS refuses an empty message: what a record without a body parks as


class RecordFate(StrEnum):
    """How a record left the batch."""

    DONE = "done"  # expired, already expired, duplicate or dry run: delete it
    PARKED = "parked"  # permanent failure, sent to the dead-letter queue: delete it
    RETRY = "retry"  # report it failed: SQS delivers it again
    SKIPPED = "skipped"  # not started (time short, or an earlier record of its group failed)
    # DeepCall could not take it (an outage, the open circuit, the rate limit): a copy waits in
    # the queue as a new message, so the outage uses up none of its deliveries: delete it.
    DEFERRED = "deferred"


def parse_record(body: str) -> CloseEvent:
    """The close event in a message body, unwrapped from SNS or EventBridge if need be."""
    document = unwrap(load_json(body))
    source = document.get("source") if isinstance(document, dict) else None
    return CloseEvent.from_document(document, source=source if isinstance(source, str) else None)


@dataclass(frozen=True)
class Backoff:
    """Visibility backoff for records handed back: exponential in the receive count, jittered."""

    base_seconds: float = 30.0
    max_seconds: float = 900.0

    def seconds(self, receive_count: int, rng: random.Random) -> int:
        """How long the record stays invisible before its next delivery, never over
        ``max_seconds`` whatever the receive count."""
        # 2.0 ** 1024 overflows a float: past 2**30 every ceiling is max_seconds anyway.
        exponent = min(max(0, receive_count - 1), 30)
        ceiling = clamp(self.base_seconds * 2.0**exponent, 0.0, self.max_seconds)
        # Equal jitter: spread retries out without ever retrying at once.
        return int(ceiling / 2 + rng.uniform(0, ceiling / 2))


@dataclass(frozen=True)
class Deferral:
    """How records that DeepCall could not take wait: a new message, delayed by DeepCall's own
    wait (the open circuit's, a ``Retry-After``) or the backoff, jittered, and never longer than
    ``max_seconds``, so the events come back within that of DeepCall's recovery; parked only
    once DeepCall has been unavailable to the event for ``max_age_seconds``."""

    max_seconds: float = 90.0
    max_age_seconds: float = 345_600.0

    def seconds(
        self, wait: float | None, backoff: Backoff, deferrals: int, rng: random.Random
    ) -> int:
        """The delay of the next copy: the wait the failure named (the open circuit's time
        left, DeepCall's ``Retry-After``, the rate limit's next slot), else the backoff step;
        spread over half again as much so that a recovered DeepCall is not met by every deferred
        event at once. A named wait is used as it is: a burst paced by the rate limit waits for
        its slots, not for a backoff meant for failures."""
        floor = wait if wait is not None else float(backoff.seconds(deferrals + 1, rng))
        floor = clamp(floor, 1.0, self.max_seconds)
        return max(1, math.ceil(clamp(floor + rng.uniform(0, floor / 2), 1.0, self.max_seconds)))


class BatchProcessor:
    """Processes one SQS batch and tells which records SQS must deliver again."""

    def __init__(
        self,
        service: EventExpirer,
        *,
        dead_letters: Sender | None,
        visibility: VisibilityControl | None,
        max_concurrency: int = 10,
        backoff: Backoff | None = None,
        start_budget_seconds: float | None = None,
        rng: random.Random | None = None,
        budget: TimeBudget | None = None,
        max_receives: int = 5,
        requeue: Sender | None = None,
        deferral: Deferral | None = None,
        clock: Callable[[], float] = time.time,
        trail: TrailKeeper | None = None,
    ) -> None:
        self._service = service
        self._trail = trail
        self._dead_letters = dead_letters
        self._visibility = visibility
        # The main queue: where a record DeepCall could not take waits as a new message.
        self._requeue = requeue
        self._deferral = deferral or Deferral()
        self._clock = clock
        self._max_concurrency = max_concurrency
        self._backoff = backoff or Backoff()
        self._budget = budget or TimeBudget()
        self._start_budget = (
            self._budget.event_start if start_budget_seconds is None else start_budget_seconds
        )
        self._rng = rng or random.Random()
        # The queue's maxReceiveCount: SQS moves a record handed back on this delivery to the
        # dead-letter queue without any reason, so it is parked here, with its reason, instead.
        self._max_receives = max_receives

    def process(self, records: Sequence[QueueRecord], deadline: Deadline) -> list[str]:
        """Process the batch; returns the message ids to report in ``batchItemFailures``.

        A record without a message id cannot be reported, so cannot be handed back: it is
        dead-lettered at once (code ``malformed_record``), never processed.
        """
        parsed = []
        for record in records:
            if record.reportable:
                parsed.append(record)
            else:
                self._park_unreportable(record)
        lanes = self._lanes(parsed)
        fates: dict[str, RecordFate] = {}
        if len(lanes) <= 1 or self._max_concurrency == 1:
            for lane in lanes:
                fates.update(self._run_lane(lane, deadline))
        else:
            workers = min(self._max_concurrency, len(lanes))
            # In Lambda the X-Ray SDK gives every thread the invocation's segment by itself.
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="record") as pool:
                for lane_fates in pool.map(lambda lane: self._run_lane(lane, deadline), lanes):
                    fates.update(lane_fates)
        failed = [r.message_id for r in parsed if fates.get(r.message_id) in _REDELIVER]
        if failed:
            count("RecordsHandedBack", len(failed))
        counts: dict[str, int] = {}
        for fate in fates.values():
            counts[fate.value] = counts.get(fate.value, 0) + 1
        logger.info("batch done", extra={"records": len(parsed), **counts})
        return failed

    @staticmethod
    def _lanes(records: list[QueueRecord]) -> list[list[QueueRecord]]:
        # A FIFO message group is one lane, processed in order; every other record is its own.
        groups: dict[str, list[QueueRecord]] = {}
        lanes: list[list[QueueRecord]] = []
        for record in records:
            if record.group_id is None:
                lanes.append([record])
            elif record.group_id in groups:
                groups[record.group_id].append(record)
            else:
                groups[record.group_id] = [record]
                lanes.append(groups[record.group_id])
        return lanes

    def _run_lane(self, lane: list[QueueRecord], deadline: Deadline) -> dict[str, RecordFate]:
        fates: dict[str, RecordFate] = {}
        blocked = False
        for record in lane:
            if blocked or deadline.remaining() < self._start_budget:
                fates[record.message_id] = RecordFate.SKIPPED
                continue
            fate = self._run_record(record, deadline)
            fates[record.message_id] = fate
            # Within a FIFO group nothing may overtake a record that will come back.
            blocked = record.group_id is not None and fate is RecordFate.RETRY
        return fates

    def _run_record(self, record: QueueRecord, deadline: Deadline) -> RecordFate:
        ids = {"message_id": record.message_id, "receive_count": record.receive_count}
        if record.not_before is not None and record.not_before - self._clock() >= 1:
            # A deferred copy on a FIFO queue, which has no per-message delay: it waits out its
            # time invisible, one receive of the fresh copy's deliveries.
            self._delay(record, math.ceil(record.not_before - self._clock()))
            return RecordFate.RETRY
        if self._trail is None:
            return self._expire_record(record, ids, deadline)
        with self._trail.event(TRIGGER_QUEUE, deadline):
            return self._expire_record(record, ids, deadline)

    def _expire_record(
        self, record: QueueRecord, ids: dict[str, Any], deadline: Deadline
    ) -> RecordFate:
        try:
            event = parse_record(record.body)
            if self._trail is not None:
                self._trail.received(
                    event,
                    trigger=TRIGGER_QUEUE,
                    message_id=record.message_id,
                    receive_count=record.receive_count,
                    deferrals=record.deferrals or None,
                )
            result = self._service.expire(event, deadline)
        except Exception as exc:  # noqa: BLE001 - one record's failure must not end the batch
            return self._failed(record, exc, ids, deadline)
        logger.info("record done", extra={**ids, "status": result.status.value})
        trail.step("done", status=result.status.value, reason=result.reason)
        return RecordFate.DONE

    def _park_unreportable(self, record: QueueRecord) -> None:
        # Keyed by content: a FIFO dead-letter queue needs a deduplication id. The body may hold
        # numbers: a keyed hash of it, or without a hash key a random id (never a plain hash).
        body = _sendable(record.body)
        digest = self._service.content_digest(body) or uuid.uuid4().hex
        message = "the record has no messageId: it cannot be handed back, so it is parked"
        logger.warning("record without messageId", extra={"code": MALFORMED_RECORD})
        if not self._park(record, MALFORMED_RECORD, message, dedup_id=digest):
            logger.error("record without messageId not parked", extra={"code": MALFORMED_RECORD})

    def _failed(
        self, record: QueueRecord, exc: Exception, ids: dict[str, Any], deadline: Deadline
    ) -> RecordFate:
        outcome = disposition(exc)
        kind = outcome.kind
        if isinstance(exc, MaskingUnsetError):
            code, message = exc.code, exc.message
            log = {**ids, "code": code, "kind": kind.value, "reason": message}
            logger.warning("record failed", extra=log)
        else:
            code, message = "internal_error", "unexpected failure"
            logger.exception("record failed unexpectedly", extra={**ids, "kind": kind.value})
        trail.step("failed", code=code, reason=message)
        if deadline.remaining() < self._budget.send:
            # A send cut off by the timeout would fail the whole batch: it comes back instead.
            logger.warning("no time left to park or delay the record", extra=ids)
            return RecordFate.RETRY
        if outcome.park and self._park(record, code, message):
            return RecordFate.PARKED
        # A FIFO record is deferred only when its deliveries run out: a copy goes to the back of
        # its group, so until then it is handed back and keeps its place.
        deferrable = record.group_id is None or record.receive_count >= self._max_receives
        if outcome.defer and deferrable:
            fate = self._defer(record, exc, code, message)
            if fate is not None:
                return fate
        if record.receive_count >= self._max_receives:
            last = f"gave up after {record.receive_count} deliveries: {message}"
            if self._park(record, code, last):
                return RecordFate.PARKED
        trail.step("handed_back", code=code, receive_count=record.receive_count)
        if deadline.remaining() >= self._budget.send:
            self._delay(record)
        return RecordFate.RETRY

    def _park(
        self, record: QueueRecord, code: str, message: str, *, dedup_id: str | None = None
    ) -> bool:
        if self._dead_letters is None:
            return False
        try:
            self._dead_letters.send(
                _sendable(record.body),
                attributes={
                    ATTR_ERROR_CODE: code,
                    ATTR_ERROR_MESSAGE: message[:1000],
                    ATTR_SOURCE_MESSAGE_ID: record.message_id,
                    ATTR_RECEIVE_COUNT: str(record.receive_count),
                },
                group_id=record.group_id,
                dedup_id=dedup_id or record.message_id,
            )
        except MaskingUnsetError as exc:
            logger.error("dead-letter send failed", extra={"code": exc.code})
            return False
        except Exception:  # noqa: BLE001 - a record that can't be parked is handed back instead
            logger.exception("dead-letter send failed unexpectedly")
            return False
        count_by("DeadLettered", "reason", code)
        trail.step("parked", code=code, reason=message)
        logger.info("record dead-lettered", extra={"message_id": record.message_id, "code": code})
        return True

    def _defer(
        self, record: QueueRecord, exc: Exception, code: str, message: str
    ) -> RecordFate | None:
        """Send the record again as a new message that waits; None (hand it back instead) when
        that send fails."""
        if self._requeue is None:
            return None
        now = self._clock()
        since = record.deferred_since or record.sent_at or now
        waited = now - since
        if waited > self._deferral.max_age_seconds:
            hours = waited / 3600
            last = (
                f"DeepCall unavailable to this event for {hours:.1f} h, longer than "
                f"QUEUE_DEFER_MAX_AGE_SECONDS: {message}"
            )
            return RecordFate.PARKED if self._park(record, code, last) else None
        wait = exc.retry_after if isinstance(exc, UpstreamError) else None
        seconds = self._deferral.seconds(wait, self._backoff, record.deferrals, self._rng)
        deferrals = record.deferrals + 1
        try:
            self._requeue.send(
                _sendable(record.body),
                attributes={
                    ATTR_DEFERRED_SINCE: str(int(since)),
                    ATTR_NOT_BEFORE: str(math.ceil(now + seconds)),
                    ATTR_DEFERRALS: str(deferrals),
                },
                group_id=record.group_id,
                # A new id per deferral: a FIFO queue would drop a copy with the same one.
                dedup_id=f"{record.message_id}:{deferrals}",
                delay_seconds=seconds,
            )
        except Exception:  # noqa: BLE001 - not deferred: handed back like any failure
            logger.warning("record not deferred", extra={"message_id": record.message_id})
            return None
        count("RecordsDeferred")
        trail.step("deferred", reason=code, delay_seconds=seconds, deferrals=deferrals)
        if isinstance(exc, CircuitOpen):
            count("DeferredWhileOpen")
        logger.info(
            "record deferred",
            extra={"message_id": record.message_id, "code": code, "seconds": seconds},
        )
        return RecordFate.DEFERRED

    def _delay(self, record: QueueRecord, seconds: int | None = None) -> None:
        if self._visibility is None or not record.receipt_handle:
            return
        if seconds is None:
            seconds = self._backoff.seconds(record.receive_count, self._rng)
        try:
            self._visibility.delay_redelivery(record.receipt_handle, seconds)
        except MaskingUnsetError as exc:
            # The record still comes back, after the queue's own visibility timeout.
            logger.warning("visibility not changed", extra={"code": exc.code})
        except Exception:  # noqa: BLE001 - same: the record comes back all the same
            logger.exception("visibility not changed unexpectedly")


def _sendable(text: str) -> str:
    # What only a hand-built event can hold (a lone surrogate, a NUL, U+FFFF; no body at all)
    # cannot be sent to SQS as it is: such characters are written as JSON escapes.
    return sqs_body(text) or EMPTY_BODY


_REDELIVER = frozenset({RecordFate.RETRY, RecordFate.SKIPPED})
