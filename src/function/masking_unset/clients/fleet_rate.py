"""The deployment's DeepCall request rate (``DEEPCALL_MAX_RPS``), shared by every container of
both functions through ``FLEET_STATE_TABLE``: docs/fleet.md, "One rate for the deployment".

Time is cut into windows of ``W`` seconds; the window item ``rate#<account>#<index>`` counts the
tickets handed out in it. A request takes the next ticket ``n`` with one conditional
``UpdateItem`` (``ADD n :1``), and its slot is ``window start + (n - 1) / rate``: requests are
spaced ``1 / rate`` apart across the fleet, and no window hands out more than ``rate * W``.
The condition (``n`` below the last ticket whose slot is in time) means a request that would
wait too long takes nothing, so refusals never waste the fleet's slots.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from masking_unset.clients.deepcall import RequestPacer
from masking_unset.models.budget import FLEET_PAUSE_WRITE_SECONDS
from masking_unset.observability import count, logger

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

DEFAULT_ACCOUNT = "default"
# Window items live a few minutes past their window, then the table's TTL removes them.
WINDOW_TTL_SECONDS = 300
# After the table failed, the container paces alone this long before trying the table again.
TABLE_RETRY_SECONDS = 30.0
# A pause marks at most this many windows (two minutes at one-second windows): a longer
# Retry-After still stops the container that got it; the rest is the circuit breaker's.
MAX_PAUSE_WINDOWS = 120
_CONDITION_FAILED = "ConditionalCheckFailedException"
# What a table failure can raise; a reply missing its attribute counts as one too.
_TABLE_ERRORS = (BotoCoreError, ClientError, KeyError, ValueError, TypeError)


class _TableUnavailable(Exception):
    """The table could not be written (reason in ``args[0]``, an error type or code)."""


class FleetRateLimiter:
    """At most ``rate`` DeepCall requests per second for the whole deployment, one conditional
    DynamoDB write per request; satisfies :class:`masking_unset.clients.deepcall.RequestPacer`.

    ``max_wait`` bounds the wait for a slot as :class:`masking_unset.logic.ratelimit.TokenBucket`
    does (a later slot is refused, taking nothing). :meth:`pause` (a 429 from DeepCall) marks
    every slot until then as taken, for every container. When the table fails, the container
    falls back to ``fallback`` (a per-container bucket at the full rate) and logs it once:
    expiries never stop for the table. ``clock`` (wall time, shared by the fleet) and ``sleep``
    are injectable for tests.
    """

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        rate: float,
        *,
        fallback: RequestPacer,
        account: str = DEFAULT_ACCOUNT,
        max_wait: float = math.inf,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        pause_write_seconds: float = FLEET_PAUSE_WRITE_SECONDS,
        max_pause_windows: int = MAX_PAUSE_WINDOWS,
    ) -> None:
        if not rate > 0 or math.isinf(rate):
            raise ValueError("rate must be a positive, finite number of requests per second")
        if not max_wait >= 0:
            raise ValueError("max_wait must not be negative")
        self._client = client
        self._table = table_name
        self.rate = float(rate)
        self.account = account
        self.max_wait = max_wait
        # One window holds at least one slot: a second at 1/s and more, 1/rate rounded up below.
        self.window = float(max(1, math.ceil(1.0 / self.rate)))
        self.slots = max(1, math.floor(self.rate * self.window + 1e-9))
        self._fallback = fallback
        self._clock = clock
        self._sleep = sleep
        self._pause_write_seconds = pause_write_seconds
        self._max_pause_windows = max_pause_windows
        self._lock = threading.Lock()
        self._paused_until = -math.inf  # learnt from a 429 here or from a window item
        self._full_through = -1  # the last window known to be full
        self._next_free = -math.inf  # when a refused request's slot would have been
        self._table_down_until = -math.inf
        self._warned = False

    # -- RequestPacer ---------------------------------------------------------------------

    def acquire(self) -> bool:
        """Wait for the fleet's next slot; False, at once and taking nothing, when it is later
        than ``max_wait`` from now (or DeepCall asked the fleet to pause longer than that)."""
        start = self._clock()
        deadline = start + self.max_wait
        with self._lock:
            paused_until = self._paused_until
            window = max(self._first_window_from(start, paused_until), self._full_through + 1)
            table_down = start < self._table_down_until
        if paused_until > deadline:
            return False
        if table_down:
            return self._fallback.acquire()
        tried = False
        while True:
            opens = window * self.window
            in_time = self._tickets_in_time(opens, deadline)
            if in_time < 1 or (tried and self._clock() >= deadline):
                self._refused(opens)
                return False
            try:
                granted, ticket, pause_end = self._take(window, in_time)
            except _TableUnavailable as exc:
                self._table_failed(exc)
                # A second write would run past the budgeted wait: refuse, the next call paces
                # alone at once.
                return False if tried else self._fallback.acquire()
            tried = True
            if pause_end > self._clock():
                self._learn_pause(pause_end)
                if pause_end > deadline:
                    return False
                window = max(window + 1, self._first_window_from(start, pause_end))
                continue
            if granted:
                wait = opens + (ticket - 1) / self.rate - self._clock()
                if wait > 0:
                    self._sleep(wait)
                return True
            if ticket >= self.slots:
                with self._lock:
                    self._full_through = max(self._full_through, window)
                window += 1
                continue
            self._refused(opens + ticket / self.rate)  # slots left, none in time
            return False

    def wait_time(self) -> float:
        """Seconds until a slot may be free (a hint: the fleet may take it first)."""
        now = self._clock()
        with self._lock:
            if now < self._table_down_until:
                return max(0.0, self._paused_until - now, self._fallback.wait_time())
            return max(0.0, self._paused_until - now, self._next_free - now)

    def pause(self, seconds: float) -> None:
        """No new slot for anyone in the fleet for ``seconds`` (DeepCall's ``Retry-After``):
        this container stops at once, and the windows until then are marked full for the others
        (for at most ``pause_write_seconds`` of writes; a failing table only stops the marking)."""
        if not seconds > 0 or math.isnan(seconds):
            return
        now = self._clock()
        until = now + seconds
        self._fallback.pause(seconds)
        with self._lock:
            self._paused_until = max(self._paused_until, until)
            if now < self._table_down_until:
                return
        window = self._window_of(now)
        # Up to the last window that opens before ``until``.
        last = min(math.ceil(until / self.window) - 1, window + self._max_pause_windows - 1)
        while window <= last:
            try:
                self._mark_paused(window, until)
            except _TableUnavailable as exc:
                self._table_failed(exc)
                return
            window += 1
            if self._clock() - now >= self._pause_write_seconds:
                return

    # -- the table --------------------------------------------------------------------------

    def _window_of(self, moment: float) -> int:
        return math.floor(moment / self.window)

    def _first_window_from(self, now: float, paused_until: float) -> int:
        """The window of ``now``, or while paused the first one opening when the pause ends
        (a pause marks the window it ends in full)."""
        if paused_until > now:
            return math.ceil(paused_until / self.window)
        return self._window_of(now)

    def _tickets_in_time(self, opens: float, deadline: float) -> int:
        """How many of a window's tickets have their slot by ``deadline``."""
        if math.isinf(deadline):
            return self.slots
        if opens > deadline:
            return 0
        return min(self.slots, math.floor((deadline - opens) * self.rate + 1e-9) + 1)

    def _key(self, window: int) -> dict[str, AttributeValueTypeDef]:
        return {"id": {"S": f"rate#{self.account}#{window}"}}

    def _expiration(self, window: int) -> AttributeValueTypeDef:
        return {"N": str(math.ceil((window + 1) * self.window) + WINDOW_TTL_SECONDS)}

    def _take(self, window: int, in_time: int) -> tuple[bool, int, float]:
        """Take ticket ``n`` of ``window`` if ``n <= in_time``: (taken, n if taken else the
        tickets already out, the latest pause end recorded on the window)."""
        try:
            reply = self._client.update_item(
                TableName=self._table,
                Key=self._key(window),
                UpdateExpression="SET expiration = :exp ADD n :one",
                ConditionExpression="attribute_not_exists(n) OR n < :in_time",
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":in_time": {"N": str(in_time)},
                    ":exp": self._expiration(window),
                },
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            item: dict[str, Any] = dict(reply["Attributes"])
            taken = True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != _CONDITION_FAILED:
                raise _TableUnavailable(_error_code(exc)) from None
            item = dict(exc.response.get("Item") or {})  # type: ignore[call-overload]
            taken = False
        except BotoCoreError as exc:
            raise _TableUnavailable(type(exc).__name__) from None
        try:
            tickets = int(item["n"]["N"]) if "n" in item else 0
            pauses = [float(v) for v in item.get("pauses", {}).get("NS", [])]
        except _TABLE_ERRORS as exc:
            raise _TableUnavailable(type(exc).__name__) from None
        return taken, tickets, max(pauses, default=-math.inf)

    def _mark_paused(self, window: int, until: float) -> None:
        """Fill ``window`` (its tickets then all refused) and record the pause end on it, so
        the containers that look at it learn the pause and stop asking."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(window),
                UpdateExpression="SET expiration = :exp ADD n :all, pauses :until",
                ExpressionAttributeValues={
                    ":all": {"N": str(self.slots)},
                    ":until": {"NS": [f"{math.ceil(until * 1000) / 1000:.3f}"]},
                    ":exp": self._expiration(window),
                },
            )
        except ClientError as exc:
            raise _TableUnavailable(_error_code(exc)) from None
        except BotoCoreError as exc:
            raise _TableUnavailable(type(exc).__name__) from None

    # -- local state --------------------------------------------------------------------------

    def _learn_pause(self, until: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, until)

    def _refused(self, next_free: float) -> None:
        with self._lock:
            self._next_free = next_free

    def _table_failed(self, exc: _TableUnavailable) -> None:
        """Fail open: pace alone for a while; log once per container, count every time."""
        count("FleetRateUnavailable")
        with self._lock:
            self._table_down_until = self._clock() + TABLE_RETRY_SECONDS
            first, self._warned = not self._warned, True
        if first:
            logger.warning(
                "FLEET_STATE_TABLE failed: pacing DeepCall per container at DEEPCALL_MAX_RPS",
                extra={"error": str(exc), "retry_table_after_seconds": TABLE_RETRY_SECONDS},
            )


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code") or "ClientError")[:64]
