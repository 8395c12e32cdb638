"""The one table that classifies every failure and decides what becomes of it; everything else
asks it. Each channel only renders the answer: the webhook as an HTTP status
(:mod:`masking_unset.handlers.responses`), the queue as a hand-back or a dead letter
(:mod:`masking_unset.logic.batch`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import cache

from masking_unset.models.errors import (
    NOT_SENT_CODES,
    CircuitOpen,
    ConfigurationError,
    InFlight,
    MaskingUnsetError,
    OutcomeUnknown,
    UpstreamError,
    UpstreamUnavailable,
)


class FailureKind(StrEnum):
    """What to do about a failure."""

    RETRYABLE = "retryable"  # try again later: the same request may succeed
    CREDENTIALS = "credentials"  # re-read the secret (it may have rotated), retry once
    CONFIGURATION = "configuration"  # an operator must fix something; keep the event meanwhile
    PERMANENT = "permanent"  # the same request will never succeed: park it with its reason
    # An answer nobody documented (an unknown code, a 4xx): kept and tried again later like an
    # outage, and parked with its reason once the queue's deliveries run out. Not retried at
    # once within the invocation: the same answer would most likely come back.
    UNRECOGNISED = "unrecognised"
    ALREADY_DONE = "already_done"  # nothing active to expire: the goal is met


# DeepCall's documented codes (see docs/deepcall.md for their meaning).
DEEPCALL_CODES: dict[int, FailureKind] = {
    1009: FailureKind.RETRYABLE,  # something went wrong (unexpected server error)
    1010: FailureKind.RETRYABLE,  # error in DB connect
    1014: FailureKind.CREDENTIALS,  # invalid token (expired or invalid)
    1015: FailureKind.CONFIGURATION,  # permission denied: the account lacks the permission
    1000: FailureKind.PERMANENT,  # invalid parameters
    1047: FailureKind.PERMANENT,  # invalid request data
    1501: FailureKind.PERMANENT,  # m1 and m2 cannot be the same
    1502: FailureKind.PERMANENT,  # expiry must be an integer
    1503: FailureKind.PERMANENT,  # a previous request has not expired yet
    1504: FailureKind.PERMANENT,  # masking could not be inserted
    1505: FailureKind.PERMANENT,  # masking number not available
}

# DeepCall does not document its answer for an unknown or already expired masking. Only these
# phrases, in the message of a 2xx answer, count as "nothing active to expire": each one speaks
# of the masking itself, never of a user, route, account or key (docs/deepcall.md lists them).
ALREADY_DONE_PHRASES: tuple[str, ...] = (
    r"masking\s+(is\s+|was\s+|has\s+)?already\s+(been\s+)?(expired|unset|removed)",
    r"no\s+(active|such)\s+masking",
    r"masking\s+(does\s+not|doesn't)\s+exist",
    r"masking\s+(is\s+)?not\s+found",
    r"masking\s+(is\s+)?not\s+active",
)


@cache
def _nothing_active() -> re.Pattern[str]:
    # Compiled on first use: only a failed call needs it, and compiling costs a cold start ~1 ms.
    return re.compile("|".join(ALREADY_DONE_PHRASES), re.IGNORECASE)


def says_nothing_active(message: str) -> bool:
    """Whether DeepCall's message is one of :data:`ALREADY_DONE_PHRASES`."""
    return _nothing_active().search(message) is not None


def _is_2xx(status: int | None) -> bool:
    return status is not None and 200 <= status < 300


# DeepCall's closest published answer for a masking that is not there (the stand-in answers it
# for an expired one). Alone it is a failure; with the ledger's proof it is already_expired.
NOTHING_ACTIVE_CODES: frozenset[int] = frozenset({1505})


def says_masking_gone(exc: BaseException, *, already_done_codes: frozenset[int]) -> bool:
    """Whether DeepCall answered (2xx) that it has nothing active for the masking: ``1505``,
    one of ``already_done_codes``, or one of :data:`ALREADY_DONE_PHRASES`. Not enough to call
    the event done on its own: the ledger must show this deployment expired it
    (:class:`masking_unset.logic.expiry.MaskingExpirer`)."""
    if not isinstance(exc, UpstreamError) or not _is_2xx(exc.http_status):
        return False
    code = exc.deepcall_code
    if code is not None and code in NOTHING_ACTIVE_CODES | already_done_codes:
        return True
    return says_nothing_active(exc.upstream_message)


def classify(
    exc: BaseException, *, already_done_codes: frozenset[int] = frozenset()
) -> FailureKind:
    """Classify a failure. ``already_done_codes`` are extra DeepCall codes an operator has seen
    mean "nothing active to expire" (configuration, since DeepCall leaves it open).

    "Already done" needs a 2xx answer that says so, by one of those codes or by one of
    :data:`ALREADY_DONE_PHRASES`: a non-2xx status (a proxy's 404, a 401 about the account) is
    never taken to mean that the masking is gone.
    """
    if isinstance(exc, UpstreamUnavailable | InFlight):
        return FailureKind.RETRYABLE
    if isinstance(exc, OutcomeUnknown):
        return FailureKind.PERMANENT  # DeepCall may have expired it: park it, never call twice
    if isinstance(exc, UpstreamError):
        code, status = exc.deepcall_code, exc.http_status
        if _is_2xx(status) and code is not None and code in already_done_codes:
            return FailureKind.ALREADY_DONE
        if code is not None and code in DEEPCALL_CODES:
            return DEEPCALL_CODES[code]
        if _is_2xx(status) and says_nothing_active(exc.upstream_message):
            return FailureKind.ALREADY_DONE
        if code is None and status is not None and (status == 429 or status >= 500):
            return FailureKind.RETRYABLE
        # Unknown codes and 4xx answers: a failure, never "done"; retried later, then parked
        # in the dead-letter queue with its reason.
        return FailureKind.UNRECOGNISED
    if isinstance(exc, ConfigurationError):
        return FailureKind.CONFIGURATION
    if isinstance(exc, MaskingUnsetError):
        return FailureKind.PERMANENT  # bad input or unresolvable target
    return FailureKind.RETRYABLE  # an unexpected bug or outage: keep the event, try again


@dataclass(frozen=True, slots=True)
class Disposition:
    """What becomes of an event that failed this way, whichever way it came."""

    kind: FailureKind
    # It can succeed later: a webhook sender is asked to deliver again (503, Ack false), a queued
    # record is handed back to the queue.
    retry: bool = False
    # A webhook hands it to the queue (202) rather than asking its sender to deliver again.
    queue: bool = False
    # A queued record is parked in the dead-letter queue at once, with its reason.
    park: bool = False
    # Tried again within this invocation, after a backoff (the retry policy).
    retry_now: bool = False
    # Re-read the DeepCall secret (it may have rotated) and call once more.
    refresh: bool = False
    # Nothing is left to do: the goal is met.
    done: bool = False
    # The failure is DeepCall's, not the record's: a queued record is deferred (sent again as a
    # new message, with a delay) rather than handed back, so an outage uses up none of its
    # deliveries and never parks it (backpressure, not a failed attempt).
    defer: bool = False


DISPOSITIONS: dict[FailureKind, Disposition] = {
    FailureKind.RETRYABLE: Disposition(
        FailureKind.RETRYABLE, retry=True, queue=True, retry_now=True
    ),
    FailureKind.CREDENTIALS: Disposition(
        FailureKind.CREDENTIALS, retry=True, queue=True, refresh=True
    ),
    FailureKind.CONFIGURATION: Disposition(FailureKind.CONFIGURATION, retry=True, queue=True),
    FailureKind.UNRECOGNISED: Disposition(FailureKind.UNRECOGNISED, retry=True, queue=True),
    FailureKind.PERMANENT: Disposition(FailureKind.PERMANENT, park=True),
    FailureKind.ALREADY_DONE: Disposition(FailureKind.ALREADY_DONE, done=True),
}
# Another delivery of the same event is running it: queuing this one would only make a
# duplicate, so the sender is asked to come back shortly instead.
IN_FLIGHT = replace(DISPOSITIONS[FailureKind.RETRYABLE], queue=False)
# DeepCall is down or pacing us (no answer, 5xx, 429, 1009/1010, the rate limit, the circuit
# breaker): not the record's fault, so it is deferred, never parked for it.
OUTAGE = replace(DISPOSITIONS[FailureKind.RETRYABLE], defer=True)
# The whole fleet has seen DeepCall fail: retrying now would only wait for the same answer, so
# a webhook queues the event at once and a queued record is deferred.
CIRCUIT_OPEN = replace(OUTAGE, retry_now=False)


def disposition(
    exc: BaseException, *, already_done_codes: frozenset[int] = frozenset()
) -> Disposition:
    """What becomes of an event that failed with ``exc`` (see :func:`classify`)."""
    if isinstance(exc, InFlight):
        return IN_FLIGHT
    if isinstance(exc, CircuitOpen):
        return CIRCUIT_OPEN
    kind = classify(exc, already_done_codes=already_done_codes)
    if kind is FailureKind.RETRYABLE and isinstance(exc, UpstreamError):
        return OUTAGE
    return DISPOSITIONS[kind]


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` shows DeepCall itself failing, so that it counts towards opening the
    circuit breaker: no answer, a timeout, a 5xx or 429, ``1009``/``1010``. Never an answer about
    one masking (1501-1505, a refusal, an unrecognised 4xx), nor a failure raised before anything
    was sent (the rate limit, the time left, the open circuit itself)."""
    return (
        isinstance(exc, UpstreamError)
        and exc.code not in NOT_SENT_CODES
        and classify(exc) is FailureKind.RETRYABLE
    )
