"""The ticket -> masking mapping in DynamoDB, written by whoever creates the maskings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from masking_unset.models.deepcall import NUMBER_FIELDS
from masking_unset.models.errors import ConfigurationError, UpstreamUnavailable
from masking_unset.models.mapping import KEY_ATTRIBUTE, mapping_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["MaskingMapTable", "mapping_key"]


class MaskingMapTable:
    """Looks up which masking a ticket has, and forgets it once the masking is expired."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def lookup(self, source: str, ticket_id: str) -> dict[str, str] | None:
        """The numbers recorded for the ticket (``mask`` and/or ``m1``/``m2``), or None."""
        try:
            item = self._client.get_item(
                TableName=self._table,
                Key={KEY_ATTRIBUTE: {"S": mapping_key(source, ticket_id)}},
                ConsistentRead=True,
                ProjectionExpression=", ".join(NUMBER_FIELDS),
            ).get("Item")
        except ClientError as exc:
            raise self._error(exc) from None
        except BotoCoreError as exc:
            raise UpstreamUnavailable(f"masking map unreachable ({type(exc).__name__})") from None
        if not item:
            return None
        numbers = {
            field: value["S"]
            for field in NUMBER_FIELDS
            if (value := item.get(field)) is not None and "S" in value
        }
        return numbers or None

    def forget(self, source: str, ticket_id: str) -> None:
        """Delete the ticket's item: the masking is gone, and so should its numbers be."""
        try:
            self._client.delete_item(
                TableName=self._table, Key={KEY_ATTRIBUTE: {"S": mapping_key(source, ticket_id)}}
            )
        except (ClientError, BotoCoreError) as exc:
            raise UpstreamUnavailable(f"masking map unreachable ({type(exc).__name__})") from None

    @staticmethod
    def _error(exc: ClientError) -> Exception:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in {"ResourceNotFoundException", "AccessDeniedException"}:
            return ConfigurationError(f"MASKING_MAP_TABLE cannot be read ({code})")
        return UpstreamUnavailable(f"masking map unavailable ({code or 'error'})")
