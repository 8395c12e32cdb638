"""The invocation's clock, in one place: how long an AWS call can take with its SDK retries, and
how much time each step must leave for what has to follow it.

Every step of an invocation starts only when it, and the worst case of what must follow it, fit
in the time left; so the worst case of the whole invocation fits the function's timeout, however
slow AWS or DeepCall are. docs/performance.md ("The invocation's clock") shows the figures.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from masking_unset.models.errors import UpstreamUnavailable

if TYPE_CHECKING:
    from masking_unset.config import Settings

# Every AWS client (Secrets Manager, DynamoDB, SQS). In-region calls answer in milliseconds; these
# bounds only cut off a hung connection or a stalled reply, which the SDK then retries once.
AWS_CONNECT_TIMEOUT_SECONDS = 0.5
AWS_READ_TIMEOUT_SECONDS = 1.0
AWS_MAX_ATTEMPTS = 2  # the first try and one SDK retry
# botocore's standard mode waits rand(0, 1) * min(base * 2**i, 20) s before retry i + 1; the base
# is 1 s after a throttling error (the longest), 25-50 ms otherwise.
_SDK_THROTTLE_BACKOFF_BASE = 1.0
_SDK_MAX_BACKOFF = 20.0
# Building and returning the answer, and flushing the metrics, after the last call.
ANSWER_SLACK_SECONDS = 0.5
# The longest a DeepCall request waits for a DEEPCALL_MAX_RPS slot.
RATE_LIMIT_MAX_WAIT_SECONDS = 1.0
# The fleet's request slots (clients/fleet_rate.py) have their own DynamoDB client: one attempt
# and short timeouts, as a slow table only means falling back to a per-container bucket.
FLEET_RATE_CONNECT_TIMEOUT_SECONDS = 0.5
FLEET_RATE_READ_TIMEOUT_SECONDS = 0.5
FLEET_RATE_MAX_ATTEMPTS = 1
# How long a 429 may spend marking the fleet's next slots taken (then one last write may run).
FLEET_PAUSE_WRITE_SECONDS = 0.5
# The webhook function's timeout (template.yaml): settings whose DeepCall attempt, and handing the
# event on after it, do not fit are refused (config.py).
WEBHOOK_TIMEOUT_SECONDS = 25.0


def aws_call_seconds(
    attempts: int = AWS_MAX_ATTEMPTS,
    connect: float = AWS_CONNECT_TIMEOUT_SECONDS,
    read: float = AWS_READ_TIMEOUT_SECONDS,
) -> float:
    """The longest one AWS call can take: every attempt timing out, the longest backoffs between."""
    backoffs = sum(
        min(_SDK_THROTTLE_BACKOFF_BASE * 2.0**i, _SDK_MAX_BACKOFF) for i in range(attempts - 1)
    )
    return float(attempts * (connect + read) + backoffs)


def fleet_rate_call_seconds() -> float:
    """The longest one write of the fleet's request slots can take (one attempt, no retry)."""
    return aws_call_seconds(
        FLEET_RATE_MAX_ATTEMPTS, FLEET_RATE_CONNECT_TIMEOUT_SECONDS, FLEET_RATE_READ_TIMEOUT_SECONDS
    )


def pacer_seconds(*, paced: bool, shared: bool) -> float:
    """What the ``DEEPCALL_MAX_RPS`` pacing adds to one DeepCall attempt at worst: the wait for a
    slot; when the slots are the fleet's (``shared``), also the last table write of the wait and
    the writes of a 429's pause (at most ``FLEET_PAUSE_WRITE_SECONDS`` plus one write)."""
    if not paced:
        return 0.0
    if not shared:
        return RATE_LIMIT_MAX_WAIT_SECONDS
    call = fleet_rate_call_seconds()
    return RATE_LIMIT_MAX_WAIT_SECONDS + call + FLEET_PAUSE_WRITE_SECONDS + call


class Deadline:
    """Time left in this invocation (from the Lambda context), or unbounded outside Lambda."""

    def __init__(self, remaining_ms: Callable[[], int] | None = None) -> None:
        self._remaining_ms = remaining_ms

    def remaining(self) -> float:
        """Seconds left."""
        return math.inf if self._remaining_ms is None else self._remaining_ms() / 1000.0


@dataclass(frozen=True)
class TimeBudget:
    """Seconds each step needs in the worst case, and the time left it requires before it starts."""

    # One DeepCall attempt: the wait for a rate-limit slot, then connect and read timeouts.
    deepcall_attempt: float = 3.05 + 5.0
    aws_call: float = aws_call_seconds()
    slack: float = ANSWER_SLACK_SECONDS

    @classmethod
    def from_settings(
        cls, settings: Settings, *, paced: bool = False, shared: bool = False
    ) -> TimeBudget:
        """The budget for these DeepCall timeouts; ``paced`` when a DeepCall rate is set,
        ``shared`` when the slots are the fleet's (``FLEET_STATE_TABLE``)."""
        return cls(
            deepcall_attempt=pacer_seconds(paced=paced, shared=shared)
            + settings.deepcall_connect_timeout_seconds
            + settings.deepcall_timeout_seconds
        )

    @property
    def hand_on(self) -> float:
        """Handing a failed event on: release its idempotency record, then queue it (webhook),
        park it or push out its visibility (queue). The retry policy's safety margin."""
        return 2 * self.aws_call + self.slack

    @property
    def aws_step(self) -> float:
        """Time left needed to start an AWS call before DeepCall (the idempotency record, the
        ticket mapping, the DeepCall secret): the call, then handing the event on."""
        return self.aws_call + self.hand_on

    @property
    def event_start(self) -> float:
        """Time left needed to start an event (and a queue record): its first AWS step, and one
        DeepCall attempt when the steps before it are quick; the batch's start budget."""
        return max(self.aws_step, self.deepcall_attempt + self.hand_on)

    @property
    def completion_retry(self) -> float:
        """Time left needed to try the idempotency completion write (again) after a success."""
        return self.aws_call + self.slack

    @property
    def release_retry(self) -> float:
        """Time left needed to try releasing the idempotency record (again) after a failure:
        the release, then the hand-on send."""
        return 2 * self.aws_call + self.slack

    @property
    def send(self) -> float:
        """Time left needed to send to a queue or change a visibility."""
        return self.aws_call + self.slack


def ensure_time(deadline: Deadline, seconds: float, doing: str) -> None:
    """Raise the retryable ``no_time_left`` unless ``seconds`` are left for ``doing``."""
    if deadline.remaining() < seconds:
        raise UpstreamUnavailable(
            f"not enough time left in this invocation for {doing}", code="no_time_left"
        )
