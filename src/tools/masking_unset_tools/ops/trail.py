"""``trail``: what happened to an event, step by step, read from the trail table
(``TRAIL_TABLE``, see :mod:`masking_unset.logic.trail`); and the "redriven" steps ``redrive``
adds. Takes a boto3 DynamoDB client so tests hand it one aimed at a local endpoint."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from masking_unset.clients.trail import MASK_INDEX, TICKET_INDEX, TrailTable, plain_step
from masking_unset.config import Settings
from masking_unset.logic.trail import (
    MASK_ATTRIBUTE,
    TICKET_ATTRIBUTE,
    e164,
    mask_digests,
    now_text,
    trail_key,
)
from masking_unset.models.accounts import scoped_source
from masking_unset.models.errors import MaskingUnsetError
from masking_unset.models.events import CloseEvent
from masking_unset.models.hashing import HASH_KEY_VARIABLE, HashKeys, parse_hash_keys
from masking_unset.models.redact import displayable
from masking_unset.sources import SOURCES
from masking_unset_tools.ops.console import Out
from masking_unset_tools.ops.errors import OperationFailed, UsageError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

TRAIL_VARIABLE = "TRAIL_TABLE"
STACK_OUTPUT = "TrailTableName"
# Where an event can come from besides the webhook sources: the queue (a message without a
# source) and the `expire` command.
OTHER_SOURCES = ("queue", "cli")
_SHOWN_FIRST = ("step", "at", "fn")


@dataclass
class EventTrail:
    """One event's kept trail."""

    key: str
    ticket: str = ""
    event_id: str = ""
    steps: list[dict[str, str | int]] = field(default_factory=list)

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> EventTrail:
        """Read a DynamoDB item of the trail table."""

        def text(name: str) -> str:
            value = item.get(name, {})
            return str(value.get("S", "")) if isinstance(value, dict) else ""

        raw = item.get("steps", {}).get("L", [])
        return cls(
            key=text("id"),
            ticket=text(TICKET_ATTRIBUTE),
            event_id=text("event_id"),
            steps=[plain_step(step) for step in raw if isinstance(step, dict)],
        )


def _aws_failure(action: str, exc: Exception) -> OperationFailed:
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        return OperationFailed(f"{action} failed: {code}")
    return OperationFailed(f"{action} failed: {type(exc).__name__}")


def table_name(option: str | None, stack: str | None, cloudformation: Any = None) -> str:
    """The trail table: ``--table``, else ``TRAIL_TABLE``, else the ``TrailTableName`` output
    of the stack ``--stack`` names. :class:`UsageError` when none gives one."""
    name = (option or os.environ.get(TRAIL_VARIABLE, "")).strip()
    if name:
        return name
    if not stack:
        raise UsageError(f"{TRAIL_VARIABLE} is not set (or pass --table, or --stack NAME)")
    try:
        stacks = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except (ClientError, BotoCoreError) as exc:
        raise _aws_failure("DescribeStacks", exc) from None
    for output in stacks[0].get("Outputs", []) if stacks else []:
        if output.get("OutputKey") == STACK_OUTPUT:
            return str(output["OutputValue"])
    raise UsageError(f"the stack {stack!r} has no {STACK_OUTPUT} output")


def event_keys(event_id: str, account: str | None = None) -> list[str]:
    """The keys an event id may be kept under: its id under each source, or ``SOURCE:ID``'s;
    of a named DeepCall ``account``'s events when given."""
    sources = (*sorted(SOURCES), *OTHER_SOURCES)
    keys = [f"{scoped_source(source, account)}:id:{event_id}" for source in sources]
    source, _, rest = event_id.partition(":")
    if rest and (source in SOURCES or source in OTHER_SOURCES):
        keys.insert(0, f"{scoped_source(source, account)}:id:{rest}")
    return keys


def ticket_of(ticket: str, account: str | None = None) -> str:
    """``SOURCE:ID`` as the trail indexes it: scoped by a named DeepCall ``account``."""
    source, _, rest = ticket.partition(":")
    return f"{scoped_source(source, account)}:{rest}"


def by_keys(dynamodb: DynamoDBClient, table: str, keys: Iterable[str]) -> list[EventTrail]:
    """The trails kept under any of ``keys``."""
    found = []
    for key in dict.fromkeys(keys):
        try:
            item = dynamodb.get_item(TableName=table, Key={"id": {"S": key}}).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise _aws_failure("GetItem", exc) from None
        if item:
            found.append(EventTrail.from_item(dict(item)))
    return found


def _query(dynamodb: DynamoDBClient, table: str, index: str, name: str, value: str) -> list[Any]:
    items: list[Any] = []
    start: dict[str, Any] | None = None
    for _ in range(100):  # bounded: 100 pages of 1 MB
        kwargs: dict[str, Any] = {
            "TableName": table,
            "IndexName": index,
            "KeyConditionExpression": "#k = :v",
            "ExpressionAttributeNames": {"#k": name},
            "ExpressionAttributeValues": {":v": {"S": value}},
        }
        if start:
            kwargs["ExclusiveStartKey"] = start
        try:
            page = dynamodb.query(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise _aws_failure("Query", exc) from None
        items.extend(page.get("Items", []))
        start = page.get("LastEvaluatedKey")
        if not start:
            break
    return items


def by_ticket(dynamodb: DynamoDBClient, table: str, ticket: str) -> list[EventTrail]:
    """Every kept trail of the ticket ``SOURCE:ID``."""
    items = _query(dynamodb, table, TICKET_INDEX, TICKET_ATTRIBUTE, ticket)
    return [EventTrail.from_item(dict(item)) for item in items]


def by_mask(dynamodb: DynamoDBClient, table: str, digests: Sequence[str]) -> list[EventTrail]:
    """Every kept trail whose masking number has one of ``digests`` (its keyed hash under the
    current or a previous hash key)."""
    found: dict[str, EventTrail] = {}
    for digest in digests:
        for item in _query(dynamodb, table, MASK_INDEX, MASK_ATTRIBUTE, digest):
            trail = EventTrail.from_item(dict(item))
            found[trail.key] = trail
    return list(found.values())


def read_hash_keys(secretsmanager: Any) -> HashKeys:
    """The deployment's hash keys, from the secret ``HASH_KEY_SECRET_ID`` names."""
    secret_id = os.environ.get(HASH_KEY_VARIABLE, "").strip()
    if not secret_id:
        raise UsageError(f"{HASH_KEY_VARIABLE} is not set: --mask looks up a keyed hash")
    try:
        text = secretsmanager.get_secret_value(SecretId=secret_id)["SecretString"]
    except (ClientError, BotoCoreError) as exc:
        raise _aws_failure("GetSecretValue", exc) from None
    try:
        document = json.loads(text)
    except ValueError:
        raise UsageError(f"the secret named by {HASH_KEY_VARIABLE} is not JSON") from None
    if not isinstance(document, dict):
        raise UsageError(f"the secret named by {HASH_KEY_VARIABLE} is not a JSON object")
    return parse_hash_keys(document)


def default_region() -> str:
    """The region a number without a country code is read in (``PHONE_DEFAULT_REGION``)."""
    region = os.environ.get("PHONE_DEFAULT_REGION", "").strip().upper()
    return region or str(Settings.model_fields["phone_default_region"].default)


def mask_lookup(number: str, keys: HashKeys) -> tuple[str, ...]:
    """The keyed hashes ``--mask NUMBER`` looks up. :class:`UsageError` for no number."""
    written = e164(number, default_region())
    if written is None:
        raise UsageError("--mask: not a phone number (give it with its country code, +91...)")
    return mask_digests(written, keys)


def steps_in_order(trails: Sequence[EventTrail]) -> list[tuple[EventTrail, dict[str, str | int]]]:
    """Every step of ``trails``, oldest first (an event's own steps keep their order)."""
    ordered = [(trail, step) for trail in trails for step in trail.steps]
    ordered.sort(key=lambda pair: str(pair[1].get("at", "")))
    return ordered


def _time(step: dict[str, str | int]) -> str:
    # 2026-11-30T12:00:00.123Z -> 2026-11-30 12:00:00.123
    return str(step.get("at", "")).replace("T", " ").removesuffix("Z")


def _details(step: dict[str, str | int]) -> str:
    return " ".join(
        f"{name}={displayable(str(value))}"
        for name, value in step.items()
        if name not in _SHOWN_FIRST
    )


def print_timeline(trails: Sequence[EventTrail], out: Out, *, what: str) -> None:
    """The human-readable timeline of ``trails``."""
    steps = steps_in_order(trails)
    out(f"trail of {what}: {len(trails)} event(s), {len(steps)} step(s), oldest first (UTC)")
    labels = {trail.key: f"[{i}]" for i, trail in enumerate(trails, 1)}
    for trail in trails:
        ticket = f"  ticket {trail.ticket}" if trail.ticket else ""
        out(f"{labels[trail.key]} event {trail.key}{ticket}")
    for trail, step in steps:
        label = f"{labels[trail.key]} " if len(trails) > 1 else ""
        kind, function = str(step.get("step", "?")), str(step.get("fn", "?"))
        out(f"  {_time(step)}  {label}{function:<7}  {kind:<11}  {_details(step)}".rstrip())


def timeline_json(trails: Sequence[EventTrail]) -> dict[str, Any]:
    """The ``--json`` form: the events, and every step oldest first with its event's key."""
    return {
        "events": [
            {"key": trail.key, "ticket": trail.ticket, "event_id": trail.event_id}
            for trail in trails
        ],
        "steps": [{"event": trail.key, **step} for trail, step in steps_in_order(trails)],
    }


def brief(trail: EventTrail, limit: int = 8) -> list[str]:
    """A few lines for ``dlq list``: the last ``limit`` steps, oldest first."""
    steps = steps_in_order([trail])
    shown = steps[-limit:]
    lines = [
        f"{_time(step)}  {step.get('fn', '?')} {step.get('step', '?')}  {_details(step)}".rstrip()
        for _, step in shown
    ]
    if len(steps) > len(shown):
        lines.insert(0, f"... {len(steps) - len(shown)} earlier step(s)")
    return lines


# --- the key of a parked message, and "redriven" ------------------------------------------------


def message_key(body: str, keys: HashKeys | None, settings: Settings | None) -> str | None:
    """The trail key of a queued or parked message's event, as the queue function keys it; None
    when the body is no event, or has no id and no hash key (or settings) is at hand."""
    from masking_unset.logic.batch import parse_record
    from masking_unset.logic.expiry import resolve_numbers

    try:
        event: CloseEvent = parse_record(body)
    except Exception:  # noqa: BLE001 - anything unreadable has no trail
        return None
    if event.event_id:
        return trail_key(event, None, None)
    if keys is None or settings is None:
        return None
    try:
        target = resolve_numbers(event, settings) if event.has_numbers else None
    except MaskingUnsetError:
        target = None
    return trail_key(event, keys, target)


def record_redriven(dynamodb: DynamoDBClient, table: str, keys: Iterable[str], note: str) -> int:
    """Append a ``redriven`` step to each trail in ``keys`` that is kept; how many. Only onto a
    kept trail (a key without one gets no item of a lone step), keeping its expiry."""
    store = TrailTable(dynamodb, table)
    written = 0
    for key in dict.fromkeys(keys):
        try:
            item = dynamodb.get_item(TableName=table, Key={"id": {"S": key}}).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise _aws_failure("GetItem", exc) from None
        if not item:
            continue
        expiration = str(item.get("expiration", {}).get("N", "0"))
        step: dict[str, str | int] = {"at": now_text(), "fn": "cli", "step": "redriven"}
        step["reason"] = note
        try:
            store.append(key, [step], index={}, expires_at=int(expiration))
        except MaskingUnsetError as exc:
            raise OperationFailed(f"the trail: {exc.message}") from None
        written += 1
    return written
