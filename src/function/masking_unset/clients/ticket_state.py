"""The ticket state table in DynamoDB: per ticket, the newest event claimed and whether it was
applied, and the ledger of what DeepCall confirmed for each of its masking targets. The
conditional write is what decides between concurrent events for one ticket."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from masking_unset.models.accounts import DEFAULT_ACCOUNT
from masking_unset.models.errors import ConfigurationError, UpstreamUnavailable
from masking_unset.models.events import Action
from masking_unset.models.tickets import (
    LEDGER_PREFIX,
    Claimed,
    LedgerAction,
    LedgerEntry,
    TicketState,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, UpdateItemInputTypeDef

# Kept past the longest grace period or extension (30 days), then removed by the TTL.
STATE_TTL_SECONDS = 35 * 86_400
_CONDITION_FAILED = "ConditionalCheckFailedException"
# Nothing recorded (the item may hold only the ledger); or a retry of the very same event (its
# key under any hash key); or a newer event once the recorded one is settled or its lease has
# run out.
_UNRECORDED = "attribute_not_exists(occurred_at)"
_SAME_EVENT = "(occurred_at = :at AND event_key IN ({same}))"
_NEWER = "(occurred_at < :at AND (applied = :yes OR lease_until < :now))"
# A reopen's proof, decided in the same write as its claim: an older close, applied. A close
# still in flight proves nothing yet, and the reopen waits for it like any newer event.
_AFTER_CLOSE = "(occurred_at < :at AND #action = :close AND applied = :yes)"


class TicketStateTable:
    """Reads, claims and settles ticket states, and keeps the ledger beside them (partition key
    ``id``, TTL on ``expiration``)."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def read(self, key: str) -> TicketState | None:
        """The ticket's recorded state, or None (read consistently)."""
        item = self._item(key)
        return _state(item) if item and "occurred_at" in item else None

    def ledger(self, key: str) -> Mapping[str, LedgerEntry]:
        """The ledger kept on the ticket's item (read consistently): entries by attribute name."""
        return _ledger(self._item(key) or {})

    def _item(self, key: str) -> dict[str, Any] | None:
        """The ticket's item as DynamoDB holds it, read consistently, or None."""
        try:
            item: dict[str, Any] | None = self._client.get_item(
                TableName=self._table, Key={"id": {"S": key}}, ConsistentRead=True
            ).get("Item")
        except ClientError as exc:
            raise self._error(exc) from None
        except BotoCoreError as exc:
            raise UpstreamUnavailable(
                f"ticket state table unreachable ({type(exc).__name__})"
            ) from None
        return item

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
        # An update, not a put: the ledger on the same item stays.
        fields: dict[str, AttributeValueTypeDef] = {
            "occurred_at": {"N": str(state.occurred_at_ms)},
            "action": {"S": state.action.value},
            "event_key": {"S": state.event_key},
            "applied": {"BOOL": state.applied},
            "lease_until": {"N": str(state.lease_until)},
            "expiration": {"N": str(int(now) + STATE_TTL_SECONDS)},
        }
        same: dict[str, AttributeValueTypeDef] = {":ek": fields["event_key"]}
        same.update({f":ek{i}": {"S": k} for i, k in enumerate(same_event) if k != state.event_key})
        values: dict[str, AttributeValueTypeDef] = {
            ":at": fields["occurred_at"],
            **same,
            ":yes": {"BOOL": True},
            ":new_action": fields["action"],
            ":new_applied": fields["applied"],
            ":new_lease": fields["lease_until"],
            ":new_expiration": fields["expiration"],
        }
        names: dict[str, str] = {"#action": "action"}  # a reserved word
        unrecorded_wins = not needs_close or closed_elsewhere
        parts = [_UNRECORDED] if unrecorded_wins else []
        parts.append(_SAME_EVENT.format(same=", ".join(same)))
        if needs_close:
            parts.append(_AFTER_CLOSE)
            values[":close"] = {"S": Action.CLOSE.value}
        else:
            parts.append(_NEWER)
            values[":now"] = {"N": str(now)}
        request: UpdateItemInputTypeDef = {
            "TableName": self._table,
            "Key": {"id": {"S": key}},
            "UpdateExpression": (
                "SET occurred_at = :at, #action = :new_action, event_key = :ek, "
                "applied = :new_applied, lease_until = :new_lease, expiration = :new_expiration"
            ),
            "ConditionExpression": " OR ".join(parts),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ReturnValues": "ALL_OLD",  # the ledger as it was: read in the same write
        }
        try:
            old = self._client.update_item(**request).get("Attributes") or {}
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
        return Claimed(written=True, ledger=_ledger(old))

    def settle(
        self,
        key: str,
        event_key: str,
        *,
        applied: bool,
        ledger: tuple[str, LedgerEntry] | None = None,
        now: float = 0.0,
    ) -> None:
        """End ``event_key``'s lease, and record ``ledger`` (attribute name, entry) in the same
        write; when a newer event has claimed the ticket since, only the ledger is recorded."""
        values: dict[str, AttributeValueTypeDef] = {
            ":applied": {"BOOL": applied},
            ":zero": {"N": "0"},
            ":ek": {"S": event_key},
        }
        update = "SET applied = :applied, lease_until = :zero"
        names: dict[str, str] = {}
        if ledger is not None:
            name, entry = ledger
            update += ", #ledger = :entry, expiration = :expiration"
            names["#ledger"] = name
            values[":entry"] = _entry_item(entry)
            values[":expiration"] = {"N": str(_expiration(entry, now))}
        request: UpdateItemInputTypeDef = {
            "TableName": self._table,
            "Key": {"id": {"S": key}},
            "UpdateExpression": update,
            "ConditionExpression": "event_key = :ek",
            "ExpressionAttributeValues": values,
        }
        if names:
            request["ExpressionAttributeNames"] = names
        try:
            self._client.update_item(**request)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != _CONDITION_FAILED:
                raise self._error(exc) from None
            if ledger is not None:
                self.record(key, *ledger, now=now)
        except BotoCoreError as exc:
            raise UpstreamUnavailable(
                f"ticket state table unreachable ({type(exc).__name__})"
            ) from None

    def record(self, key: str, name: str, entry: LedgerEntry, *, now: float) -> None:
        """Record ``entry`` under ``name`` on the ticket's item, in one write, unless the
        ledger already holds a later confirmation for the target."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"id": {"S": key}},
                UpdateExpression="SET #ledger = :entry, expiration = :expiration",
                ConditionExpression="attribute_not_exists(#ledger) OR #ledger.#at < :at",
                ExpressionAttributeNames={"#ledger": name, "#at": "at"},
                ExpressionAttributeValues={
                    ":entry": _entry_item(entry),
                    ":expiration": {"N": str(_expiration(entry, now))},
                    ":at": {"N": str(entry.at_ms)},
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
        ledger=_ledger(item),
    )


def _expiration(entry: LedgerEntry, now: float) -> int:
    # The item's TTL: never sooner than the ticket state needs, nor than the entry is kept.
    return max(entry.kept_until, int(now) + STATE_TTL_SECONDS)


def _entry_item(entry: LedgerEntry) -> AttributeValueTypeDef:
    return {
        "M": {
            "action": {"S": entry.action.value},
            "at": {"N": str(entry.at_ms)},
            "until": {"N": str(entry.until_ms)},
            "event": {"S": entry.event},
            "repeat": {"S": entry.repeat},
            "kept_until": {"N": str(entry.kept_until)},
            "account": {"S": entry.account},
        }
    }


def _ledger(item: Mapping[str, Any]) -> dict[str, LedgerEntry]:
    entries: dict[str, LedgerEntry] = {}
    for name, value in item.items():
        if not name.startswith(LEDGER_PREFIX):
            continue
        try:
            fields = value["M"]
            entries[name] = LedgerEntry(
                action=LedgerAction(fields["action"]["S"]),
                at_ms=int(fields["at"]["N"]),
                until_ms=int(fields["until"]["N"]),
                event=fields["event"]["S"],
                repeat=fields["repeat"]["S"],
                kept_until=int(fields["kept_until"]["N"]),
                account=fields.get("account", {}).get("S", DEFAULT_ACCOUNT),
            )
        except (KeyError, TypeError, ValueError):
            continue  # not one this version wrote: proves nothing
    return entries
