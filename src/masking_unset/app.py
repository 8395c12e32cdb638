"""The container's long-lived objects, built lazily on first use and reused while warm."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING

from masking_unset.config import Settings, get_settings

if TYPE_CHECKING:
    import boto3

    from masking_unset.clients.deepcall import DeepCallClient
    from masking_unset.clients.masking_map import MaskingMapTable
    from masking_unset.clients.queues import QueueClient
    from masking_unset.clients.secrets import SecretStore
    from masking_unset.logic.batch import BatchProcessor
    from masking_unset.logic.idempotency import DynamoDBIdempotency
    from masking_unset.logic.pipeline import UnsetService
    from masking_unset.logic.webhooks import WebhookReceiver


@dataclass
class App:
    """Clients and services of one Lambda container."""

    settings: Settings

    @cached_property
    def boto3_session(self) -> boto3.session.Session:
        """One session for every AWS client (honours ``AWS_ENDPOINT_URL``)."""
        import boto3

        return boto3.session.Session()

    @cached_property
    def secrets(self) -> SecretStore:
        """Secrets Manager behind a per-container cache."""
        from masking_unset.clients.secrets import SecretStore

        client = self.boto3_session.client("secretsmanager")
        return SecretStore(client, max_age=self.settings.secrets_cache_seconds)

    @cached_property
    def deepcall(self) -> DeepCallClient:
        """The DeepCall client, its connection pool sized to the batch concurrency."""
        from masking_unset.clients.deepcall import DeepCallClient, build_session

        return DeepCallClient(
            self.settings.deepcall_base_url,
            session=build_session(self.settings.max_concurrency),
            connect_timeout=self.settings.deepcall_connect_timeout_seconds,
            read_timeout=self.settings.deepcall_timeout_seconds,
        )

    @cached_property
    def masking_map(self) -> MaskingMapTable | None:
        """The ticket -> masking table, when ``MASKING_MAP_TABLE`` is set."""
        if not self.settings.masking_map_table:
            return None
        from masking_unset.clients.masking_map import MaskingMapTable

        client = self.boto3_session.client("dynamodb")
        return MaskingMapTable(client, self.settings.masking_map_table)

    @cached_property
    def idempotency(self) -> DynamoDBIdempotency | None:
        """At-most-once per event, when ``IDEMPOTENCY_TABLE`` is set."""
        if not self.settings.idempotency_table:
            return None
        from masking_unset.logic.idempotency import DynamoDBIdempotency

        return DynamoDBIdempotency(
            self.boto3_session.client("dynamodb"),
            self.settings.idempotency_table,
            window_seconds=self.settings.idempotency_window_seconds,
        )

    @cached_property
    def service(self) -> UnsetService:
        """The unset pipeline."""
        from masking_unset.logic.pipeline import UnsetService
        from masking_unset.logic.retry import RetryPolicy

        settings = self.settings
        retry = RetryPolicy(
            max_attempts=settings.deepcall_max_attempts,
            base_delay=settings.deepcall_retry_base_seconds,
            max_delay=settings.deepcall_retry_max_seconds,
            retry_after_cap=settings.retry_after_cap_seconds,
            attempt_budget=settings.deepcall_connect_timeout_seconds
            + settings.deepcall_timeout_seconds,
        )
        return UnsetService(
            settings,
            self.secrets,
            self.deepcall,
            mapping=self.masking_map,
            idempotency=self.idempotency,
            retry=retry,
        )

    def _queue(self, url: str | None) -> QueueClient | None:
        if not url:
            return None
        from masking_unset.clients.queues import QueueClient

        return QueueClient(self.boto3_session.client("sqs"), url)

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
        from masking_unset.logic.webhooks import WebhookReceiver

        return WebhookReceiver(self.settings, self.secrets, self.service, fallback=self.queue)

    @cached_property
    def batch(self) -> BatchProcessor:
        """The SQS batch flow."""
        from masking_unset.logic.batch import Backoff, BatchProcessor

        settings = self.settings
        return BatchProcessor(
            self.service,
            dead_letters=self.dead_letter_queue,
            visibility=self.queue,
            max_concurrency=settings.max_concurrency,
            backoff=Backoff(
                settings.queue_backoff_base_seconds, settings.queue_backoff_max_seconds
            ),
            start_budget_seconds=settings.deepcall_connect_timeout_seconds
            + settings.deepcall_timeout_seconds
            + 2.0,
        )


@lru_cache(maxsize=1)
def get_app() -> App:
    """This container's :class:`App` (raises ConfigurationError if the environment is wrong)."""
    return App(get_settings())


def reset_app() -> None:
    """Forget settings and clients, so the next invocation reads the environment afresh."""
    get_app.cache_clear()
    get_settings.cache_clear()
