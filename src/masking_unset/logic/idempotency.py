"""At most one DeepCall call per close event: the key, and the guard around the call."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from masking_unset.models.errors import InFlight, UpstreamUnavailable

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_dynamodb import DynamoDBClient

    from masking_unset.models.deepcall import UnsetTarget
    from masking_unset.models.events import CloseEvent

DUPLICATE = "duplicate"


def idempotency_key(event: CloseEvent, target: UnsetTarget | None) -> str:
    """The event id (body ``event_id`` or the sender's delivery id), else a hash of the ticket id,
    the target and ``occurred_at``. Scoped by source so two senders' ids never collide."""
    if event.event_id:
        return f"{event.source}:id:{event.event_id}"
    parts = [
        event.source,
        event.ticket_id or "",
        *(f"{k}={v}" for k, v in sorted((target.fields() if target else {}).items())),
        event.occurred_at.isoformat() if event.occurred_at else "",
    ]
    # Hashed: the key is stored, and it must not hold phone numbers.
    return f"{event.source}:hash:" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


class IdempotencyGuard(Protocol):
    """Runs an action at most once per key within the window."""

    def register(self, context: LambdaContext) -> None:
        """Tell the guard how long this invocation may run (for in-flight records)."""

    def once(self, key: str, action: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """``action()``'s result; on a repeat, the stored result with ``"status": "duplicate"``."""
        ...


def _run_once(key_data: dict[str, str], action: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    return action()


class DynamoDBIdempotency:
    """Powertools idempotency on a DynamoDB table (``id`` key, TTL on ``expiration``)."""

    def __init__(self, client: DynamoDBClient, table_name: str, *, window_seconds: int) -> None:
        from aws_lambda_powertools.utilities.idempotency import (
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )

        store = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=client)
        self._config = IdempotencyConfig(
            event_key_jmespath="key",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=window_seconds,
            hash_function="sha256",
            response_hook=self._mark_duplicate,
        )
        self._guarded = idempotent_function(
            data_keyword_argument="key_data", persistence_store=store, config=self._config
        )(_run_once)

    @staticmethod
    def _mark_duplicate(response: Any, idempotent_data: Any) -> Any:
        if isinstance(response, dict):
            return {**response, "status": DUPLICATE, "first_status": response.get("status")}
        return response

    def register(self, context: LambdaContext) -> None:
        """Record the invocation's deadline so an interrupted attempt does not block retries."""
        self._config.register_lambda_context(context)

    def once(self, key: str, action: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Run ``action`` unless ``key`` was seen within the window."""
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            IdempotencyAlreadyInProgressError,
            IdempotencyPersistenceLayerError,
        )

        try:
            result: dict[str, Any] = self._guarded(key_data={"key": key}, action=action)
        except IdempotencyAlreadyInProgressError:
            raise InFlight("this event is already being processed") from None
        except IdempotencyPersistenceLayerError as exc:
            raise UpstreamUnavailable(
                f"idempotency store unavailable ({type(exc.__cause__ or exc).__name__})",
                code="idempotency_unavailable",
            ) from None
        return result
