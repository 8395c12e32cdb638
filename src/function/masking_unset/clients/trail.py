"""The trail table in DynamoDB: per event (partition key ``id``), its steps in order, the ticket
and the keyed hash of its masking number (each behind an index), and a TTL (``expiration``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from masking_unset.models.errors import UpstreamUnavailable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

# The table's indexes (template.yaml, TrailTable; local/stack.py).
TICKET_INDEX = "by-ticket"
MASK_INDEX = "by-mask"


def step_item(step: Mapping[str, str | int]) -> AttributeValueTypeDef:
    """One step as a DynamoDB map: text as S, whole numbers as N."""
    return {
        "M": {
            name: {"N": str(value)} if isinstance(value, int) else {"S": str(value)}
            for name, value in step.items()
        }
    }


def plain_step(value: Mapping[str, object]) -> dict[str, str | int]:
    """A step as read back from DynamoDB (a map of S and N)."""
    fields = value.get("M", {})
    step: dict[str, str | int] = {}
    if isinstance(fields, Mapping):
        for name, typed in fields.items():
            if isinstance(typed, Mapping) and "N" in typed:
                step[str(name)] = int(str(typed["N"]))
            elif isinstance(typed, Mapping) and "S" in typed:
                step[str(name)] = str(typed["S"])
    return step


class TrailTable:
    """Appends an event's steps in one ``UpdateItem`` (``list_append``)."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def append(
        self,
        key: str,
        steps: Sequence[Mapping[str, str | int]],
        *,
        index: Mapping[str, str],
        expires_at: int,
    ) -> None:
        """Add ``steps`` after those already kept, set ``index`` and the TTL (see the port)."""
        names = {"#steps": "steps", "#expiration": "expiration"}
        values: dict[str, AttributeValueTypeDef] = {
            ":steps": {"L": [step_item(step) for step in steps]},
            ":none": {"L": []},
            ":expiration": {"N": str(expires_at)},
        }
        sets = [
            "#steps = list_append(if_not_exists(#steps, :none), :steps)",
            "#expiration = :expiration",
        ]
        for i, (name, value) in enumerate(sorted(index.items())):
            names[f"#a{i}"] = name
            values[f":a{i}"] = {"S": value}
            sets.append(f"#a{i} = :a{i}")
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"id": {"S": key}},
                UpdateExpression="SET " + ", ".join(sets),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except (ClientError, BotoCoreError) as exc:
            code = (
                str(exc.response.get("Error", {}).get("Code", ""))
                if isinstance(exc, ClientError)
                else type(exc).__name__
            )
            raise UpstreamUnavailable(f"trail table unavailable ({code})") from None
