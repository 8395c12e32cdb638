"""DeepCall's circuit breaker: Powertools' circuit breaker around the unset call, its state in
DynamoDB (``FLEET_STATE_TABLE``) so that every container of both functions shares it, with a
single half-open probe across the fleet (docs/fleet.md)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from aws_lambda_powertools.utilities.circuit_breaker import (
    CircuitBreakerConfig,
    CircuitInfo,
    CircuitState,
    CircuitTransition,
    circuit_breaker,
)
from aws_lambda_powertools.utilities.circuit_breaker.persistence import (
    CircuitBreakerDynamoDBPersistence,
)

from masking_unset.models.deepcall import (
    EXPIRE_NOW_MINUTES,
    DeepCallCredentials,
    DeepCallReply,
    UnsetTarget,
)
from masking_unset.models.errors import NOT_SENT_CODES, CircuitOpen, UpstreamError
from masking_unset.observability import count, count_by, logger

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class _Caller(Protocol):
    def unset(
        self,
        credentials: DeepCallCredentials,
        target: UnsetTarget,
        expiry_duration: int = ...,
        *,
        time_limit: float | None = ...,
    ) -> DeepCallReply: ...


def circuit_name(account: str) -> str:
    """The circuit's name, which is also its item's ``id`` in the table."""
    return f"circuit#deepcall#{account}"


class _Outage(Exception):
    """Carries a failure that counts against DeepCall through Powertools' breaker, which counts
    exceptions by type only."""

    def __init__(self, cause: UpstreamError) -> None:
        super().__init__(cause.code)
        self.cause = cause


class _Answered:
    """DeepCall answered about the masking (a refusal, "not available"): a failure of the
    event, but proof that DeepCall is up, so the circuit counts it as a success."""

    def __init__(self, error: UpstreamError) -> None:
        self.error = error


class FleetCircuitStore(CircuitBreakerDynamoDBPersistence):
    """Powertools' DynamoDB store, with two additions:

    - a ``Retry-After`` longer than the open time keeps the circuit open that long: the failure
      that trips (or re-opens) the circuit leaves its wait with :meth:`hold`, and the transition
      is written with ``opened_at`` moved forward accordingly;
    - the half-open election fails open like every read: a table that cannot be written lets
      the caller probe rather than keep the circuit open until the table answers again.
    """

    def __init__(self, table_name: str, client: DynamoDBClient) -> None:
        super().__init__(table_name=table_name, boto3_client=client)
        self._held = threading.local()  # the failing call and the transition share a thread

    def hold(self, seconds: float | None) -> None:
        """Keep the circuit open at least ``seconds`` if this thread's call now opens it."""
        self._held.seconds = seconds

    def _shifted(self, name: str, opened_at: int) -> int:
        seconds = getattr(self._held, "seconds", None)
        self._held.seconds = None
        if not seconds:
            return opened_at
        recovery = self._settings_for(name).recovery_timeout
        return int(opened_at + max(0, math.ceil(seconds) - recovery))

    def save_open(self, name: str, failure_count: int, opened_at: int) -> None:
        super().save_open(name, failure_count, self._shifted(name, opened_at))

    def save_reopen(self, name: str, opened_at: int) -> None:
        super().save_reopen(name, self._shifted(name, opened_at))

    def try_acquire_half_open(self, name: str, owner: str, opened_at: int) -> bool:
        try:
            return super().try_acquire_half_open(name, owner, opened_at)
        except Exception:  # noqa: BLE001 - the breaker must never become the outage
            logger.warning("circuit breaker table unavailable: probing", extra={"circuit": name})
            return True


class DeepCallBreaker:
    """An unset caller behind the account's circuit breaker.

    ``is_outage`` tells which failures count (the failure table's, injected: clients do not
    import the domain logic). While the circuit is open nothing is sent and :class:`CircuitOpen`
    is raised, its ``retry_after`` the seconds until a probe may be sent.
    """

    def __init__(
        self,
        caller: _Caller,
        store: FleetCircuitStore,
        *,
        is_outage: Callable[[BaseException], bool],
        account: str = "default",
        failure_threshold: int = 3,
        open_seconds: int = 30,
        cache_seconds: int = 2,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._caller = caller
        self._store = store
        self._is_outage = is_outage
        self.account = account
        self.name = circuit_name(account)
        self._open_seconds = open_seconds
        self._clock = clock
        config = CircuitBreakerConfig(
            failure_threshold=failure_threshold,
            recovery_timeout=open_seconds,
            success_threshold=1,  # one good answer closes it: recovery must be prompt
            handled_exceptions=(_Outage,),
            local_cache_max_age=cache_seconds,
        )
        self._protected = circuit_breaker(
            name=self.name,
            persistence_store=store,
            on_circuit_open=self._open,
            on_transition=self._transition,
            config=config,
        )(self._call)

    def unset(
        self,
        credentials: DeepCallCredentials,
        target: UnsetTarget,
        expiry_duration: int = EXPIRE_NOW_MINUTES,
        *,
        time_limit: float | None = None,
    ) -> DeepCallReply:
        """:meth:`DeepCallClient.unset`, unless the circuit is open (:class:`CircuitOpen`)."""
        try:
            reply: DeepCallReply | _Answered = self._protected(
                credentials, target, expiry_duration, time_limit
            )
        except _Outage as outage:
            raise outage.cause from None
        finally:
            self._store.hold(None)  # a wait that opened nothing is forgotten
        if isinstance(reply, _Answered):
            raise reply.error
        return reply

    def _call(
        self,
        credentials: DeepCallCredentials,
        target: UnsetTarget,
        expiry_duration: int,
        time_limit: float | None,
    ) -> DeepCallReply | _Answered:
        try:
            return self._caller.unset(credentials, target, expiry_duration, time_limit=time_limit)
        except UpstreamError as exc:
            if exc.code in NOT_SENT_CODES:
                raise  # nothing was sent: neither a failure nor a success of DeepCall's
            if not self._is_outage(exc):
                return _Answered(exc)
            self._store.hold(exc.retry_after)
            raise _Outage(exc) from None

    def _open(self, *_args: Any, circuit: CircuitInfo, **_kwargs: Any) -> DeepCallReply:
        opened_at = circuit.opened_at if circuit.opened_at is not None else self._clock()
        wait = max(1.0, opened_at + self._open_seconds - self._clock())
        if circuit.state is CircuitState.HALF_OPEN:
            wait = float(self._open_seconds)  # another container's probe is under way
        whose = "" if self.account == "default" else f" of account {self.account}"
        raise CircuitOpen(
            f"DeepCall{whose} is failing for the whole deployment (circuit breaker open); "
            f"nothing is sent until a probe in about {math.ceil(wait)} s shows it answering",
            retry_after=wait,
        )

    def _transition(self, change: CircuitTransition) -> None:
        extra = {
            "circuit": change.circuit_name,
            "from": str(change.from_state),
            "to": str(change.to_state),
        }
        if change.to_state is CircuitState.OPEN:
            count("CircuitOpened")
            count_by("CircuitOpened", "account", self.account)
            logger.warning("circuit breaker opened: deepcall is failing", extra=extra)
        elif change.to_state is CircuitState.HALF_OPEN:
            count("ProbeSent")
            count_by("ProbeSent", "account", self.account)
            logger.info("circuit breaker probing deepcall", extra=extra)
        else:
            count("CircuitClosed")
            count_by("CircuitClosed", "account", self.account)
            logger.info("circuit breaker closed: deepcall answers again", extra=extra)
