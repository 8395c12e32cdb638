"""The ticket state table in DynamoDB: per ticket, the newest event claimed and whether it was
applied. The conditional write is what decides between concurrent events for one ticket."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from masking_unset.models.errors import ConfigurationError, UpstreamUnavailable
from masking_unset.models.events import Action
from masking_unset.models.tickets import Claimed, TicketState

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, PutItemInputTypeDef

# Kept past the longest grace period or extension (30 days), then removed by the TTL.
STATE_TTL_SECONDS = 35 * 86_400
_CONDITION_FAILED = "ConditionalCheckFailedException"
# Nothing recorded; or a retry of the very same event (its key under any hash key); or a newer
# event once the recorded one is settled or its lease has run out.
_UNRECORDED = "attribute_not_exists(id)"
_SAME_EVENT = "(occurred_at = :at AND event_key IN ({same}))"
_NEWER = "(occurred_at < :at AND (applied = :yes OR lease_until < :now))"
# A reopen's proof, decided in the same write as its claim: an older close, applied. A close
# still in flight proves nothing yet, and the reopen waits for it like any newer event.
_AFTER_CLOSE = "(occurred_at < :at AND #action = :close AND applied = :yes)"


class TicketStateTable:
    """Reads, claims and settles ticket states (partition key ``id``, TTL on ``expiration``)."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def read(self, key: str) -> TicketState | None:
        """The ticket's recorded state, or None (read consistently)."""
        try:
            item = self._client.get_item(
                TableName=self._table, Key={"id": {"S": key}}, ConsistentRead=True
            ).get("Item")
        except ClientError as exc:
            raise self._error(exc) from None
        except BotoCoreError as exc:
            raise UpstreamUnavailable(
                f"ticket state table unreachable ({type(exc).__name__})"
            ) from None
        return _state(item) if item else None

    def claim(
        self,
        key: str,
        state: TicketState,
        *,
        now: float,
        same_event: Sequence[str] = (),
        needs_close: bool = False,
        closed_elsewhere: bool = False,
    ) -> Claimed:
        """Write ``state`` unless the recorded one wins (see the port)."""
        item: dict[str, AttributeValueTypeDef] = {
            "id": {"S": key},
            "occurred_at": {"N": str(state.occurred_at_ms)},
            "action": {"S": state.action.value},
            "event_key": {"S": state.event_key},
            "applied": {"BOOL": state.applied},
            "lease_until": {"N": str(state.lease_until)},
            "expiration": {"N": str(int(now) + STATE_TTL_SECONDS)},
        }
        same: dict[str, AttributeValueTypeDef] = {":ek": item["event_key"]}
        same.update({f":ek{i}": {"S": k} for i, k in enumerate(same_event) if k != state.event_key})
        values: dict[str, AttributeValueTypeDef] = {
            ":at": item["occurred_at"],
            **same,
            ":yes": {"BOOL": True},
        }
        names: dict[str, str] = {}
        unrecorded_wins = not needs_close or closed_elsewhere
        parts = [_UNRECORDED] if unrecorded_wins else []
        parts.append(_SAME_EVENT.format(same=", ".join(same)))
        if needs_close:
            parts.append(_AFTER_CLOSE)
            values[":close"] = {"S": Action.CLOSE.value}
            names["#action"] = "action"  # a reserved word
        else:
            parts.append(_NEWER)
            values[":now"] = {"N": str(now)}
        request: PutItemInputTypeDef = {
            "TableName": self._table,
            "Item": item,
            "ConditionExpression": " OR ".join(parts),
            "ExpressionAttributeValues": values,
        }
        if names:  # DynamoDB refuses names the expression does not use
            request["ExpressionAttributeNames"] = names
        try:
            self._client.put_item(**request)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != _CONDITION_FAILED:
                raise self._error(exc) from None
            recorded = self.read(key)
            # Deleted (its TTL) in between: nothing stands in the way any more.
            if recorded is None and unrecorded_wins:
                return self.claim(
                    key,
                    state,
                    now=now,
                    same_event=same_event,
                    needs_close=needs_close,
                    closed_elsewhere=closed_elsewhere,
                )
            return Claimed(written=False, recorded=recorded)
        except BotoCoreError as exc:
            raise UpstreamUnavailable(
                f"ticket state table unreachable ({type(exc).__name__})"
            ) from None
        return Claimed(written=True)

    def settle(self, key: str, event_key: str, *, applied: bool) -> None:
        """End ``event_key``'s lease; nothing when a newer event has claimed the ticket since."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"id": {"S": key}},
                UpdateExpression="SET applied = :applied, lease_until = :zero",
                ConditionExpression="event_key = :ek",
                ExpressionAttributeValues={
                    ":applied": {"BOOL": applied},
                    ":zero": {"N": "0"},
                    ":ek": {"S": event_key},
                },
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != _CONDITION_FAILED:
                raise self._error(exc) from None
        except BotoCoreError as exc:
            raise UpstreamUnavailable(
                f"ticket state table unreachable ({type(exc).__name__})"
            ) from None

    @staticmethod
    def _error(exc: ClientError) -> Exception:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in {"ResourceNotFoundException", "AccessDeniedException"}:
            return ConfigurationError(f"TICKET_STATE_TABLE cannot be used ({code})")
        return UpstreamUnavailable(f"ticket state table unavailable ({code or 'error'})")


def _state(item: dict[str, Any]) -> TicketState:
    return TicketState(
        occurred_at_ms=int(item["occurred_at"]["N"]),
        action=Action(item["action"]["S"]),
        event_key=item["event_key"]["S"],
        applied=bool(item.get("applied", {}).get("BOOL", False)),
        lease_until=float(item.get("lease_until", {}).get("N", "0")),
    )
