"""The container's long-lived objects, built lazily on first use and reused while warm."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any, cast

from masking_unset.config import Settings, get_settings
from masking_unset.models.budget import RATE_LIMIT_MAX_WAIT_SECONDS as _RATE_LIMIT_MAX_WAIT

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient

    from masking_unset.clients.breaker import DeepCallBreaker
    from masking_unset.clients.deepcall import DeepCallClient, RequestPacer
    from masking_unset.clients.idempotency import DynamoDBIdempotency
    from masking_unset.clients.masking_map import MaskingMapTable
    from masking_unset.clients.queues import QueueClient
    from masking_unset.clients.secrets import SecretStore
    from masking_unset.clients.ticket_state import TicketStateTable
    from masking_unset.handlers.receiver import WebhookReceiver
    from masking_unset.logic.accounts import AccountExpirers
    from masking_unset.logic.batch import BatchProcessor
    from masking_unset.logic.expiry import MaskingExpirer
    from masking_unset.logic.trail import TrailKeeper
    from masking_unset.models.budget import TimeBudget


# The longest a DeepCall request waits for a DEEPCALL_MAX_RPS slot (logic/budget.py counts it in
# every attempt). A longer wait fails the attempt as retryable (rate_limited) instead.
RATE_LIMIT_MAX_WAIT_SECONDS = _RATE_LIMIT_MAX_WAIT


def _is_rate(value: float) -> bool:
    """0 (the default) and infinity both mean no cap."""
    return 0 < value < float("inf")


class _Deferred:
    """A client built on its first use: the queue and mapping clients are only needed when an
    event fails or carries no numbers, and creating a boto3 client costs tens of milliseconds."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build

    def __getattr__(self, name: str) -> Any:
        return getattr(self._build(), name)


@dataclass
class App:
    """Clients and services of one Lambda container."""

    settings: Settings
    # boto3 sessions are not thread-safe, and batch threads may build a deferred client.
    _client_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _clients: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    # Every random state the services draw jitter from, re-seeded by after_restore().
    _rngs: list[random.Random] = field(default_factory=list, init=False, repr=False)
    # The App of each named account (DEEPCALL_ACCOUNTS) served so far, built on its first event.
    _accounts: dict[str, App] = field(default_factory=dict, init=False, repr=False)
    _accounts_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    # What every account shares: the AWS clients, the secrets cache, the tables and queues,
    # the trail. An account has its own DeepCall client, request rate and circuit breaker.
    _SHARED = (
        "boto3_session",
        "secrets",
        "masking_map",
        "ticket_states",
        "idempotency",
        "queue",
        "dead_letter_queue",
        "trail",
    )

    def for_account(self, name: str | None) -> App:
        """The App of DeepCall account ``name`` (None or ``default``: this one). Raises
        :class:`~masking_unset.models.errors.UnknownAccount` for a name not configured."""
        if name is None or name == self.settings.account:
            return self
        with self._accounts_lock:
            account = self._accounts.get(name)
            if account is None:
                account = App(self.settings.for_account(name))
                account._clients, account._client_lock = self._clients, self._client_lock
                account._rngs = self._rngs
                for shared in self._SHARED:
                    account.__dict__[shared] = getattr(self, shared)
                self._accounts[name] = account
            return account

    @cached_property
    def expirers(self) -> AccountExpirers:
        """Routes each queued event to its account's expirer."""
        from masking_unset.logic.accounts import AccountExpirers

        return AccountExpirers(
            self.expirer,
            lambda name: self.for_account(name).expirer,
            self.settings.account_names,
        )

    def _rng(self) -> random.Random:
        rng = random.Random()  # jitter only: not for anything secret
        self._rngs.append(rng)
        return rng

    @cached_property
    def boto3_session(self) -> boto3.session.Session:
        """One session for every AWS client (honours ``AWS_ENDPOINT_URL`` and ``AWS_REGION``)."""
        from masking_unset.clients.aws import aws_session

        return aws_session()

    def _client(self, service_name: str) -> Any:
        """One boto3 client per service for the container, created on first use."""
        with self._client_lock:
            client = self._clients.get(service_name)
            if client is None:
                from masking_unset.clients.aws import aws_client, aws_client_config

                # No region or no credentials: a ConfigurationError with a hint, on every path.
                config = aws_client_config(self.settings.max_concurrency)
                client = aws_client(self.boto3_session, service_name, config)
                self._clients[service_name] = client
            return client

    @cached_property
    def budget(self) -> TimeBudget:
        """How much time each step needs (logic/budget.py): one set of figures for all."""
        from masking_unset.models.budget import TimeBudget

        return TimeBudget.from_settings(
            self.settings, paced=self.pacer is not None, shared=self.fleet_paced
        )

    @cached_property
    def secrets(self) -> SecretStore:
        """Secrets Manager behind a per-container cache."""
        from masking_unset.clients.secrets import SecretStore

        return SecretStore(
            self._client("secretsmanager"), max_age=self.settings.secrets_cache_seconds
        )

    @property
    def fleet_paced(self) -> bool:
        """Whether ``DEEPCALL_MAX_RPS`` is the fleet's: a rate and ``FLEET_STATE_TABLE`` set."""
        return _is_rate(self.settings.deepcall_max_rps) and bool(self.settings.fleet_state_table)

    @cached_property
    def pacer(self) -> RequestPacer | None:
        """What paces DeepCall requests, shared by every thread; None when unlimited.

        ``DEEPCALL_MAX_RPS`` is the deployment's rate: slots taken in ``FLEET_STATE_TABLE``
        (clients/fleet_rate.py), falling back to a bucket of this container at that rate if the
        table fails. Without the table (never in the template) each container has the whole rate.
        ``DEEPCALL_MAX_RPS_PER_CONTAINER`` adds this container's own bucket; with both, a request
        needs a slot from each."""
        from masking_unset.logic.ratelimit import BothPacers, TokenBucket

        settings = self.settings

        def bucket(rate: float) -> TokenBucket:
            # A burst of one spaces requests evenly, so no second sees more than the rate + 1.
            return TokenBucket(rate, burst=1.0, max_wait=RATE_LIMIT_MAX_WAIT_SECONDS)

        own = (
            bucket(settings.deepcall_max_rps_per_container)
            if _is_rate(settings.deepcall_max_rps_per_container)
            else None
        )
        if not _is_rate(settings.deepcall_max_rps):
            return own
        if not self.fleet_paced:
            deployment: RequestPacer = bucket(settings.deepcall_max_rps)
        else:
            from masking_unset.clients.fleet_rate import FleetRateLimiter

            deployment = FleetRateLimiter(
                cast("DynamoDBClient", _Deferred(self._fleet_rate_client)),
                cast(str, settings.fleet_state_table),
                settings.deepcall_max_rps,
                fallback=bucket(settings.deepcall_max_rps),
                max_wait=RATE_LIMIT_MAX_WAIT_SECONDS,
                account=settings.account,
            )
        return deployment if own is None else BothPacers(own, deployment)

    def _fleet_rate_client(self) -> DynamoDBClient:
        """The DynamoDB client of the fleet's request slots: one attempt, short timeouts."""
        with self._client_lock:
            client = self._clients.get("dynamodb/fleet-rate")
            if client is None:
                from masking_unset.clients.aws import aws_client, fleet_rate_client_config

                config = fleet_rate_client_config(self.settings.max_concurrency)
                client = aws_client(self.boto3_session, "dynamodb", config)
                self._clients["dynamodb/fleet-rate"] = client
            return cast("DynamoDBClient", client)

    @cached_property
    def deepcall(self) -> DeepCallClient:
        """The DeepCall client, its connection pool sized to the batch concurrency."""
        from masking_unset.clients.deepcall import DeepCallClient, build_session

        return DeepCallClient(
            self.settings.deepcall_base_url,
            session=build_session(self.settings.max_concurrency),
            connect_timeout=self.settings.deepcall_connect_timeout_seconds,
            read_timeout=self.settings.deepcall_timeout_seconds,
            pacer=self.pacer,
        )

    @cached_property
    def breaker(self) -> DeepCallBreaker | None:
        """DeepCall behind the account's circuit breaker, shared by the fleet through
        ``FLEET_STATE_TABLE``; None without the table (or in a dry run, which sends nothing)."""
        settings = self.settings
        if not settings.fleet_state_table or settings.dry_run:
            return None
        from masking_unset.clients.breaker import DeepCallBreaker, FleetCircuitStore
        from masking_unset.logic.failures import is_outage

        return DeepCallBreaker(
            self.deepcall,
            FleetCircuitStore(settings.fleet_state_table, self._client("dynamodb")),
            is_outage=is_outage,
            failure_threshold=settings.breaker_failure_threshold,
            open_seconds=settings.breaker_open_seconds,
            cache_seconds=settings.breaker_cache_seconds,
            account=settings.account,
        )

    @cached_property
    def masking_map(self) -> MaskingMapTable | None:
        """The ticket -> masking table, when ``MASKING_MAP_TABLE`` is set."""
        if not self.settings.masking_map_table:
            return None
        from masking_unset.clients.masking_map import MaskingMapTable

        client = cast("DynamoDBClient", _Deferred(lambda: self._client("dynamodb")))
        return MaskingMapTable(client, self.settings.masking_map_table)

    @cached_property
    def ticket_states(self) -> TicketStateTable | None:
        """The newest event applied per ticket, when ``TICKET_STATE_TABLE`` is set."""
        if not self.settings.ticket_state_table:
            return None
        from masking_unset.clients.ticket_state import TicketStateTable

        client = cast("DynamoDBClient", _Deferred(lambda: self._client("dynamodb")))
        return TicketStateTable(client, self.settings.ticket_state_table)

    @cached_property
    def idempotency(self) -> DynamoDBIdempotency | None:
        """At-most-once per event, when ``IDEMPOTENCY_TABLE`` is set."""
        if not self.settings.idempotency_table or self.settings.dry_run:
            return None  # a dry run records nothing, and needs no AWS
        from masking_unset.clients.idempotency import DynamoDBIdempotency

        return DynamoDBIdempotency(
            self._client("dynamodb"),
            self.settings.idempotency_table,
            window_seconds=self.settings.idempotency_window_seconds,
            budget=self.budget,
        )

    @cached_property
    def expirer(self) -> MaskingExpirer:
        """Expires the masking of a close event, whichever way it came."""
        from masking_unset.logic.expiry import MaskingExpirer
        from masking_unset.logic.retry import RetryPolicy

        settings = self.settings
        retry = RetryPolicy(
            max_attempts=settings.deepcall_max_attempts,
            base_delay=settings.deepcall_retry_base_seconds,
            max_delay=settings.deepcall_retry_max_seconds,
            retry_after_cap=settings.retry_after_cap_seconds,
            attempt_budget=self.budget.deepcall_attempt,
            safety_margin=self.budget.hand_on,
            rng=self._rng(),
        )
        # Built on first use: a dry run never reads a secret, so it needs no AWS at all.
        secrets = cast("SecretStore", _Deferred(lambda: self.secrets))
        return MaskingExpirer(
            settings,
            secrets,
            self.breaker or self.deepcall,
            mapping=self.masking_map,
            idempotency=self.idempotency,
            retry=retry,
            budget=self.budget,
            states=self.ticket_states,
        )

    @cached_property
    def trail(self) -> TrailKeeper:
        """Each event's steps (``TRAIL_TABLE``; none in a dry run), written once per event per
        invocation through a client of one attempt and short timeouts: it never holds an event."""
        from masking_unset.logic.trail import TrailKeeper

        store = None
        if self.settings.trail_table and not self.settings.dry_run:
            from masking_unset.clients.trail import TrailTable

            client = cast("DynamoDBClient", _Deferred(self._trail_client))
            store = TrailTable(client, self.settings.trail_table)
        return TrailKeeper(store, settings=self.settings, hash_keys=self.expirer.hash_keys)

    def _trail_client(self) -> DynamoDBClient:
        """The DynamoDB client of the trail: the fleet rate's short timeouts, one attempt."""
        with self._client_lock:
            client = self._clients.get("dynamodb/trail")
            if client is None:
                from masking_unset.clients.aws import aws_client, fleet_rate_client_config

                config = fleet_rate_client_config(self.settings.max_concurrency)
                client = aws_client(self.boto3_session, "dynamodb", config)
                self._clients["dynamodb/trail"] = client
            return cast("DynamoDBClient", client)

    def _queue(self, url: str | None) -> QueueClient | None:
        if not url:
            return None
        from masking_unset.clients.queues import QueueClient

        # A FIFO id SQS would refuse is replaced by its keyed hash, read when first needed.
        return QueueClient(
            cast("SQSClient", _Deferred(lambda: self._client("sqs"))),
            url,
            digest=lambda text: self.expirer.content_digest(text),
        )

    @cached_property
    def queue(self) -> QueueClient | None:
        """The main queue (``QUEUE_URL``)."""
        return self._queue(self.settings.queue_url)

    @cached_property
    def dead_letter_queue(self) -> QueueClient | None:
        """The dead-letter queue (``DEAD_LETTER_QUEUE_URL``)."""
        return self._queue(self.settings.dead_letter_queue_url)

    @cached_property
    def webhook_receiver(self) -> WebhookReceiver:
        """The webhook flow."""
        from masking_unset.handlers.receiver import WebhookReceiver

        return WebhookReceiver(
            self.settings,
            self.secrets,
            self.expirer,
            fallback=self.queue,
            budget=self.budget,
            trail=self.trail,
        )

    @cached_property
    def batch(self) -> BatchProcessor:
        """The SQS batch flow."""
        from masking_unset.logic.batch import Backoff, BatchProcessor, Deferral

        settings = self.settings
        return BatchProcessor(
            self.expirers,
            dead_letters=self.dead_letter_queue,
            visibility=self.queue,
            max_concurrency=settings.max_concurrency,
            backoff=Backoff(
                settings.queue_backoff_base_seconds, settings.queue_backoff_max_seconds
            ),
            budget=self.budget,
            max_receives=settings.queue_max_receives,
            rng=self._rng(),
            requeue=self.queue,
            deferral=Deferral(
                settings.queue_defer_max_seconds, settings.queue_defer_max_age_seconds
            ),
            trail=self.trail,
        )

    # SnapStart (handlers/snapstart.py): what is built before the snapshot, what each copy redoes.

    def warm(self) -> None:
        """Build every client and service an invocation uses: no secret is read and no
        connection opened (boto3 and requests connect on first request)."""
        for service in ("secretsmanager", "dynamodb", "sqs"):
            self._client(service)
        if self.fleet_paced:
            self._fleet_rate_client()
        _ = (self.expirer, self.webhook_receiver, self.batch, self.dead_letter_queue)

    def after_restore(self) -> None:
        """Forget what copies resumed from one snapshot must not share: the random state of the
        jitter, pooled connections (sockets of the snapshotting host) and cached secrets."""
        for rng in self._rngs:
            rng.seed()  # from os.urandom, which differs in every copy
        with self._client_lock:
            for client in self._clients.values():
                client.close()  # empties the pool; the client reconnects on its next call
        built = self.__dict__  # the cached_property values built so far
        for account in (self, *self._accounts.values()):
            if "deepcall" in account.__dict__:
                account.__dict__["deepcall"].close()
        if "secrets" in built:
            built["secrets"].clear()


@lru_cache(maxsize=1)
def get_app() -> App:
    """This container's :class:`App` (raises ConfigurationError if the environment is wrong)."""
    return App(get_settings())


def reset_app() -> None:
    """Forget settings and clients, so the next invocation reads the environment afresh."""
    get_app.cache_clear()
    get_settings.cache_clear()
