"""``mapping put|get|delete``: the ticket -> masking items the functions look up when a close
names no number (docs/mapping.md), written under the very key each source looks up.

The table operations take a boto3 DynamoDB client so tests hand them one aimed at a local
endpoint. Numbers are checked with the functions' own parser, stored in international form, and
never shown beyond their last four digits.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from masking_unset.config import Settings
from masking_unset.logic.phone import parse_number
from masking_unset.models.accounts import ACCOUNT_NAME_RULE, is_account_name, scoped_source
from masking_unset.models.deepcall import NUMBER_FIELDS
from masking_unset.models.errors import InvalidNumber
from masking_unset.models.events import CloseEvent
from masking_unset.models.mapping import EXPIRES_AT_ATTRIBUTE, KEY_ATTRIBUTE, mapping_key
from masking_unset.models.redact import displayable, redact_number, scrub
from masking_unset_tools.ops.console import Out
from masking_unset_tools.ops.errors import OperationFailed, UsageError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

TABLE_VARIABLE: Final = "MASKING_MAP_TABLE"
REGION_VARIABLE: Final = "PHONE_DEFAULT_REGION"
# What a queue message without a ``source`` field is keyed under (models/events.py).
QUEUE_SOURCE: Final = str(CloseEvent.model_fields["source"].default)
MAX_TICKET_ID: Final = 256  # the canonical event's limit: a longer id is refused before lookup
MAX_EXPIRY_DAYS: Final = 3650
_SALESFORCE_SHORT_ID: Final = 15
_SHOWN_INPUT: Final = 40


@dataclass(frozen=True)
class MappingItem:
    """One ticket's item: its key, its numbers (``mask`` and/or ``m1``/``m2``) and TTL."""

    key: str
    numbers: dict[str, str]
    expires_at: int | None = None
    problems: list[str] = field(default_factory=list)  # numbers the functions could not use

    def redacted(self) -> dict[str, str]:
        """The numbers cut to their last four digits."""
        return {name: redact_number(value) for name, value in self.numbers.items()}

    def to_dict(self) -> dict[str, Any]:
        """JSON form, numbers redacted."""
        return {
            "key": self.key,
            **self.redacted(),
            "expires_at": self.expires_at,
            "problems": self.problems,
        }

    def describe(self) -> str:
        """One line: ``key: mask=***1234 expires_at=...``."""
        parts = [f"{name}={value}" for name, value in self.redacted().items()]
        if self.expires_at is not None:
            parts.append(f"expires_at={_when(self.expires_at)}")
        return f"{self.key}: {' '.join(parts)}"


def _when(seconds: int) -> str:
    shown = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
    return f"{shown} ({seconds})"


def _shown(text: str) -> str:
    """Operator input quoted in an error: no control characters, no whole number, cut short."""
    return repr(scrub(text, limit=_SHOWN_INPUT))


# --- arguments -----------------------------------------------------------------------------


def source_names() -> list[str]:
    """The sources a key may name: every registered webhook source, and ``queue``."""
    from masking_unset.sources import SOURCES

    return [*SOURCES, QUEUE_SOURCE]


def source_name(text: str) -> str:
    """``text`` as the source the functions key the item by: the webhook route lower-cases its
    URL's source, so the name is matched without regard to case."""
    name = text.strip().lower()
    valid = source_names()
    if name not in valid:
        raise UsageError(f"unknown source {_shown(text)}: give one of {', '.join(valid)}")
    return name


def ticket_id(text: str) -> str:
    """The ticket id exactly as the key holds it. Webhook sources read ids without surrounding
    blanks, so an id with any would be written under a key nothing looks up: refused."""
    if not text or not text.strip():
        raise UsageError("--ticket is empty")
    if text != text.strip():
        raise UsageError("--ticket begins or ends with a blank: give the id as the sender sends it")
    if displayable(text) != text:
        raise UsageError("--ticket holds control characters")
    if len(text) > MAX_TICKET_ID:
        raise UsageError(f"--ticket is longer than {MAX_TICKET_ID} characters")
    return text


def ticket_notes(source: str, ticket: str) -> list[str]:
    """Warnings about an id the source is unlikely to send as written."""
    if source == "salesforce" and len(ticket) == _SALESFORCE_SHORT_ID:
        return [
            "note: Salesforce outbound messages carry the 18-character Id; "
            "a 15-character Id is looked up only if the message names the case so"
        ]
    return []


def phone_region(environ: dict[str, str] | None = None) -> str:
    """The region local numbers are read in: ``PHONE_DEFAULT_REGION`` as the functions read it."""
    import phonenumbers

    env = os.environ if environ is None else environ
    default = str(Settings.model_fields["phone_default_region"].default)
    region = (env.get(REGION_VARIABLE, "").strip() or default).upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise UsageError(f"{REGION_VARIABLE}: must be a two-letter region such as IN or US")
    return region


def checked_numbers(
    *, mask: str | None, m1: str | None, m2: str | None, region: str
) -> dict[str, str]:
    """The numbers given, checked with the functions' parser and written in international form
    (``+<country code><number>``), so the item means the same whatever region reads it."""
    given = {"mask": mask, "m1": m1, "m2": m2}
    if mask is not None and (m1 is not None or m2 is not None):
        raise UsageError("give --mask, or --m1 and --m2, not both")
    if mask is None and (m1 is None or m2 is None):
        raise UsageError("give --mask, or both --m1 and --m2")
    numbers: dict[str, str] = {}
    for name, raw in given.items():
        if raw is None:
            continue
        try:
            number = parse_number(raw, field=f"--{name}", region=region)
        except InvalidNumber as exc:
            raise UsageError(exc.message) from None
        numbers[name] = f"+{number.country_code}{number.national}"
    if "m1" in numbers and numbers["m1"] == numbers.get("m2"):
        raise UsageError("--m1 and --m2 are the same number (DeepCall refuses that masking)")
    return numbers


def expiry(*, days: int | None, at: str | None, now: float | None = None) -> int | None:
    """``expires_at`` in unix seconds: ``days`` from now, or ``at`` (unix seconds, or an
    ISO-8601 date or time, UTC unless it names an offset); None when neither is given."""
    now = time.time() if now is None else now
    if days is not None:
        if not 1 <= days <= MAX_EXPIRY_DAYS:
            raise UsageError(f"--expires-in must lie in 1..{MAX_EXPIRY_DAYS} days")
        return int(now) + days * 86_400
    if at is None:
        return None
    text = at.strip()
    if text.isdigit():
        seconds = int(text)
    else:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise UsageError(
                "--expires-at must be unix seconds or an ISO-8601 date or time "
                "(2027-01-31, 2027-01-31T18:00:00+05:30)"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = int(moment.timestamp())
    if seconds <= now:
        raise UsageError("--expires-at is in the past: DynamoDB would delete the item at once")
    if seconds > now + MAX_EXPIRY_DAYS * 86_400:
        raise UsageError(f"--expires-at is more than {MAX_EXPIRY_DAYS} days ahead")
    return seconds


def table_name(value: str | None, environ: dict[str, str] | None = None) -> str:
    """``--table``, or ``MASKING_MAP_TABLE`` as the functions have it."""
    env = os.environ if environ is None else environ
    name = (value or "").strip() or env.get(TABLE_VARIABLE, "").strip()
    if not name:
        raise UsageError(
            f"{TABLE_VARIABLE} is not set (or pass --table): the stack's MaskingMapTableName output"
        )
    return name


# --- the table -----------------------------------------------------------------------------


def _aws_failure(action: str, table: str, exc: Exception) -> Exception:
    """A one-line, secret-free error for a failed DynamoDB call; a missing table, a refused
    permission or an AWS setup that is not there are configuration errors (exit 2)."""
    from masking_unset.clients.aws import aws_setup_problem

    if (problem := aws_setup_problem(exc)) is not None:
        return UsageError(f"AWS configuration: {problem}")
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or "")
        if code == "ResourceNotFoundException":
            return UsageError(
                f"{action}: no table {_shown(table)} here: check {TABLE_VARIABLE} (or --table) "
                "and the AWS region"
            )
        if code in {"AccessDeniedException", "UnrecognizedClientException"}:
            return UsageError(f"{action}: refused ({code}): the caller needs dynamodb:{action}")
        message = str(error.get("Message") or "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        text = f"{action} failed: {code or status}"
        if message and not message.lstrip().startswith("<"):  # skip HTML error pages
            text += f" ({scrub(message.splitlines()[0][:200])})"
        return OperationFailed(text)
    return OperationFailed(f"{action} failed: {type(exc).__name__}")


def put_mapping(
    dynamodb: DynamoDBClient, table: str, key: str, numbers: dict[str, str], expires_at: int | None
) -> MappingItem | None:
    """Write the ticket's item (replacing any earlier one); the earlier item, if there was one."""
    item: dict[str, Any] = {KEY_ATTRIBUTE: {"S": key}}
    item.update({name: {"S": value} for name, value in numbers.items()})
    if expires_at is not None:
        item[EXPIRES_AT_ATTRIBUTE] = {"N": str(expires_at)}
    try:
        old = dynamodb.put_item(TableName=table, Item=item, ReturnValues="ALL_OLD")
    except (ClientError, BotoCoreError) as exc:
        raise _aws_failure("PutItem", table, exc) from None
    previous = old.get("Attributes")
    return _item(key, previous) if previous else None


def get_mapping(dynamodb: DynamoDBClient, table: str, key: str, *, region: str) -> MappingItem:
    """The ticket's item, each number checked as the functions would read it;
    :class:`OperationFailed` when there is none."""
    try:
        found = dynamodb.get_item(
            TableName=table, Key={KEY_ATTRIBUTE: {"S": key}}, ConsistentRead=True
        ).get("Item")
    except (ClientError, BotoCoreError) as exc:
        raise _aws_failure("GetItem", table, exc) from None
    if not found:
        raise OperationFailed(f"no mapping for key {key!r} in {table}")
    item = _item(key, found)
    for name, value in item.numbers.items():
        try:
            parse_number(value, field=name, region=region)
        except InvalidNumber as exc:
            item.problems.append(f"{exc.message}: a close of this ticket fails invalid_number")
    if not item.numbers:
        item.problems.append("no mask, m1 or m2: a close of this ticket fails unresolved_target")
    return item


def delete_mapping(dynamodb: DynamoDBClient, table: str, key: str) -> None:
    """Remove the ticket's item; :class:`OperationFailed` when there is none."""
    try:
        dynamodb.delete_item(
            TableName=table,
            Key={KEY_ATTRIBUTE: {"S": key}},
            ConditionExpression="attribute_exists(#k)",
            ExpressionAttributeNames={"#k": KEY_ATTRIBUTE},
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            raise OperationFailed(f"no mapping for key {key!r} in {table}") from None
        raise _aws_failure("DeleteItem", table, exc) from None
    except BotoCoreError as exc:
        raise _aws_failure("DeleteItem", table, exc) from None


def _item(key: str, attributes: dict[str, Any]) -> MappingItem:
    numbers = {
        name: str(value["S"])
        for name in NUMBER_FIELDS
        if isinstance(value := attributes.get(name), dict) and "S" in value
    }
    ttl = attributes.get(EXPIRES_AT_ATTRIBUTE)
    raw = ttl.get("N") if isinstance(ttl, dict) else None
    expires_at = int(raw) if isinstance(raw, str) and raw.isdigit() else None
    return MappingItem(key=key, numbers=numbers, expires_at=expires_at)


# --- output --------------------------------------------------------------------------------


def print_item(item: MappingItem, out: Out, *, now: float | None = None) -> None:
    """The item for a person: its key, its numbers redacted, its TTL and what is wrong with it."""
    now = time.time() if now is None else now
    out(f"mapping {item.key}")
    for name, value in item.redacted().items():
        out(f"  {name + ':':<11} {value}")
    if item.expires_at is None:
        out(f"  {'expires_at:':<11} - (kept until a close expires the masking)")
    else:
        past = item.expires_at <= now
        late = "  (past: DynamoDB may delete it any time; used until then)" if past else ""
        out(f"  {'expires_at:':<11} {_when(item.expires_at)}{late}")
    for problem in item.problems:
        out(f"  problem:    {problem}")


def key_for(source: str, ticket: str, account: str | None = None) -> str:
    """The key ``mapping`` writes, reads and deletes: the functions' own :func:`mapping_key`,
    scoped by a named DeepCall account as its events are."""
    return mapping_key(scoped_source(source_name(source), account_name(account)), ticket_id(ticket))


def account_name(text: str | None) -> str | None:
    """A ``--account`` value as the functions name the account (None: the default one)."""
    if text is None:
        return None
    name = text.strip().lower()
    if not is_account_name(name):
        raise UsageError(f"--account must be {ACCOUNT_NAME_RULE}")
    return name
