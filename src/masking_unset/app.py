"""The container's long-lived objects, built lazily on first use and reused while warm."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING

from masking_unset.config import Settings, get_settings

if TYPE_CHECKING:
    import boto3

    from masking_unset.clients.deepcall import DeepCallClient
    from masking_unset.clients.secrets import SecretStore
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
    def service(self) -> UnsetService:
        """The unset pipeline."""
        from masking_unset.logic.pipeline import UnsetService

        return UnsetService(self.settings, self.secrets, self.deepcall)

    @cached_property
    def webhook_receiver(self) -> WebhookReceiver:
        """The webhook flow."""
        from masking_unset.logic.webhooks import WebhookReceiver

        return WebhookReceiver(self.settings, self.secrets, self.service)


@lru_cache(maxsize=1)
def get_app() -> App:
    """This container's :class:`App` (raises ConfigurationError if the environment is wrong)."""
    return App(get_settings())


def reset_app() -> None:
    """Forget settings and clients, so the next invocation reads the environment afresh."""
    get_app.cache_clear()
    get_settings.cache_clear()
