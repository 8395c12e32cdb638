"""A complete local environment: a moto server holding demo secrets and queues, and the DeepCall
stand-in. Used by the demo, the ``invoke`` command, the tests and the benchmarks."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final

from masking_unset.sources import SOURCES
from masking_unset_tools.local.aws_endpoint import LocalAwsEndpoint
from masking_unset_tools.local.deepcall_standin import DeepCallStandIn

# Demo values only: they protect nothing and exist so that the local run is self-contained.
DEMO_SSID = "demo-ssid-not-a-real-session"
# One secret of its own form per registered source, the same on every run.
DEMO_SOURCE_SECRETS: dict[str, list[str]] = {
    name: [source.new_secret(f"demo-{name}")] for name, source in SOURCES.items()
}
DEMO_WEBHOOK_SECRET = DEMO_SOURCE_SECRETS["generic"][0]  # the canonical source's
# The demo deployment's hash key (models/hashing.py): 32 bytes, the same on every run.
DEMO_HASH_KEY = base64.b64encode(hashlib.sha256(b"masking-unset demo hash key").digest()).decode()
DEMO_HUBSPOT_CLOSED_STAGES = "4"  # "Closed" in HubSpot's default ticket pipeline
DEMO_SALESFORCE_ORG_ID = "00D000000000DEMOAA"
# Settings the shipped events need a value for; a value the user set wins over these.
DEMO_SETTINGS: Final = {
    "HUBSPOT_CLOSED_STAGES": DEMO_HUBSPOT_CLOSED_STAGES,
    "SALESFORCE_ORG_IDS": DEMO_SALESFORCE_ORG_ID,
}
# The template's own values for these; a value the user set wins, silently.
DEFAULTS: Final = {
    "POWERTOOLS_SERVICE_NAME": "masking-unset",
    "POWERTOOLS_METRICS_NAMESPACE": "MaskingUnset",
    "POWERTOOLS_TRACE_DISABLED": "true",
}


@dataclass
class LocalStack:
    """Names and URLs of what :func:`provision` created."""

    aws: LocalAwsEndpoint
    deepcall: DeepCallStandIn
    deepcall_secret_id: str
    webhook_secrets_id: str
    queue_url: str
    dead_letter_queue_url: str
    idempotency_table: str
    masking_map_table: str
    ticket_state_table: str
    hash_key_secret_id: str
    fleet_state_table: str
    trail_table: str
    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        """The environment that points the handlers at this stack."""
        return {
            **self.aws.env(),
            "DEEPCALL_BASE_URL": self.deepcall.base_url,
            "DEEPCALL_ALLOW_HTTP": "true",
            "DEEPCALL_SECRET_ID": self.deepcall_secret_id,
            "WEBHOOK_SECRETS_ID": self.webhook_secrets_id,
            "QUEUE_URL": self.queue_url,
            "DEAD_LETTER_QUEUE_URL": self.dead_letter_queue_url,
            "IDEMPOTENCY_TABLE": self.idempotency_table,
            "MASKING_MAP_TABLE": self.masking_map_table,
            "TICKET_STATE_TABLE": self.ticket_state_table,
            "FLEET_STATE_TABLE": self.fleet_state_table,
            "TRAIL_TABLE": self.trail_table,
            "HASH_KEY_SECRET_ID": self.hash_key_secret_id,
            **DEMO_SETTINGS,
            **DEFAULTS,
            **self.extra_env,
        }

    def resources(self) -> dict[str, str]:
        """The variables that point the functions, boto3 and the CLI at this stack (endpoint,
        region, dummy credentials, tables, queues, secrets, the DeepCall stand-in): a user's
        value for any of them is replaced, or the local run would reach something else."""
        demo_only = set(DEMO_SETTINGS) | set(DEFAULTS)
        return {name: value for name, value in self.env().items() if name not in demo_only}

    def put_mapping(
        self, key: str, numbers: Mapping[str, str], expires_at: int | None = None
    ) -> None:
        """Record which masking a ticket has (``key`` is ``<source>#<ticket id>``), as the
        system that creates maskings would."""
        item: dict[str, Any] = {"pk": {"S": key}}
        item.update({field: {"S": value} for field, value in numbers.items()})
        if expires_at is not None:
            item["expires_at"] = {"N": str(expires_at)}
        self.aws.client("dynamodb").put_item(TableName=self.masking_map_table, Item=item)

    def mapping_exists(self, key: str) -> bool:
        """Whether the ticket's mapping item is still in the table."""
        found = self.aws.client("dynamodb").get_item(
            TableName=self.masking_map_table, Key={"pk": {"S": key}}, ConsistentRead=True
        )
        return "Item" in found

    def ticket_state(self, key: str) -> dict[str, Any] | None:
        """The ticket state item under ``key`` (see ``masking_unset.models.tickets.ticket_key``),
        as DynamoDB returns it, or None."""
        found = self.aws.client("dynamodb").get_item(
            TableName=self.ticket_state_table, Key={"id": {"S": key}}, ConsistentRead=True
        )
        item: dict[str, Any] | None = found.get("Item")
        return item


def provision(
    aws: LocalAwsEndpoint,
    deepcall: DeepCallStandIn,
    *,
    credentials: Mapping[str, str] | None = None,
    source_secrets: Mapping[str, list[str]] | None = None,
    prefix: str | None = None,
    hash_keys: Mapping[str, Any] | None = None,
) -> LocalStack:
    """Create the secrets, queues and tables of one deployment on the local AWS endpoint.
    ``hash_keys`` is the hash-key secret's JSON (default: :data:`DEMO_HASH_KEY`)."""
    prefix = prefix or f"mu-{uuid.uuid4().hex[:8]}"
    secrets = aws.client("secretsmanager")
    deepcall_secret = secrets.create_secret(
        Name=f"{prefix}/deepcall", SecretString=json.dumps(credentials or {"ssid": DEMO_SSID})
    )["ARN"]
    webhook_secret = secrets.create_secret(
        Name=f"{prefix}/webhooks",
        SecretString=json.dumps(source_secrets or DEMO_SOURCE_SECRETS),
    )["ARN"]
    hash_key_secret = secrets.create_secret(
        Name=f"{prefix}/hash-key",
        SecretString=json.dumps(hash_keys or {"key": DEMO_HASH_KEY}),
    )["ARN"]
    sqs = aws.client("sqs")
    dlq_url = sqs.create_queue(QueueName=f"{prefix}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    queue_url = sqs.create_queue(
        QueueName=f"{prefix}-queue",
        Attributes={
            "VisibilityTimeout": "180",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5}),
        },
    )["QueueUrl"]
    dynamodb = aws.client("dynamodb")

    def key_value_table(suffix: str, key: str = "id") -> str:
        """A table with one string hash key, as the template declares them."""
        name = f"{prefix}-{suffix}"
        dynamodb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        return name

    idempotency_table = key_value_table("idempotency")
    map_table = key_value_table("masking-map", key="pk")
    state_table = key_value_table("ticket-state")
    fleet_table = key_value_table("fleet-state")
    trail_table = f"{prefix}-trail"
    create_trail_table(dynamodb, trail_table)
    return LocalStack(
        aws=aws,
        deepcall=deepcall,
        deepcall_secret_id=deepcall_secret,
        webhook_secrets_id=webhook_secret,
        queue_url=queue_url,
        dead_letter_queue_url=dlq_url,
        idempotency_table=idempotency_table,
        masking_map_table=map_table,
        ticket_state_table=state_table,
        hash_key_secret_id=hash_key_secret,
        fleet_state_table=fleet_table,
        trail_table=trail_table,
    )


def create_trail_table(dynamodb: Any, name: str) -> None:
    """The trail table as template.yaml creates it: ``id`` key, indexes by ticket and by the
    keyed hash of the masking number."""
    from masking_unset.clients.trail import MASK_INDEX, TICKET_INDEX
    from masking_unset.logic.trail import MASK_ATTRIBUTE, TICKET_ATTRIBUTE

    indexes = [(TICKET_INDEX, TICKET_ATTRIBUTE), (MASK_INDEX, MASK_ATTRIBUTE)]
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": attribute, "AttributeType": "S"}
            for attribute in ("id", TICKET_ATTRIBUTE, MASK_ATTRIBUTE)
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": index,
                "KeySchema": [{"AttributeName": attribute, "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
            for index, attribute in indexes
        ],
        BillingMode="PAY_PER_REQUEST",
    )


@dataclass(frozen=True)
class LocalEnvironment:
    """What a local run sets, and how it treats the variables the user set.

    ``values`` go into the environment; what the user set and is not in ``values`` stays as the
    user set it."""

    values: dict[str, str]
    demo: dict[str, str]  # demo values in effect: the user set none of these
    ignored: list[str]  # variables the user set that the local stack's own replace
    yours: list[str]  # the functions' settings the user set that are in effect

    def banner(self) -> list[str]:
        """Lines saying which values are the demo's and which of the user's are ignored."""
        lines = []
        if self.yours:
            lines.append(f"your settings in effect: {', '.join(self.yours)}")
        if self.demo:
            shown = ", ".join(f"{name}={value}" for name, value in self.demo.items())
            lines.append(f"demo values: {shown}; set them to use your own")
        if self.ignored:
            lines.append(f"ignored: {', '.join(self.ignored)} (the local stack's own is used)")
        return lines


def setting_names() -> frozenset[str]:
    """Every environment variable the functions' settings read (``config.Settings`` aliases)."""
    from masking_unset.config import Settings

    return frozenset(field.alias for field in Settings.model_fields.values() if field.alias)


def user_value(environ: Mapping[str, str], name: str) -> str | None:
    """The value the user gave ``name``; a blank one counts as not set."""
    value = environ.get(name)
    return value if value is not None and value.strip() else None


def local_environment(
    stack: LocalStack,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, str] | None = None,
) -> LocalEnvironment:
    """The environment of a local run on ``stack``, given the user's ``environ`` (default: the
    process's): the stack's resources always; a demo value or default only where the user set
    none; ``overrides`` (the command's own, e.g. ``--public-url``) last."""
    environ = os.environ if environ is None else environ
    resources = stack.resources()
    values = dict(resources)
    demo: dict[str, str] = {}
    for name, value in {**DEMO_SETTINGS, **DEFAULTS}.items():
        if user_value(environ, name) is None:
            values[name] = value
            if name in DEMO_SETTINGS:
                demo[name] = value
    values.update(overrides or {})
    ignored = sorted(
        name
        for name, value in resources.items()
        if (given := user_value(environ, name)) is not None and given != value
    )
    yours = sorted(
        name
        for name in setting_names()
        if name not in values and user_value(environ, name) is not None
    )
    return LocalEnvironment(values=values, demo=demo, ignored=ignored, yours=yours)


@contextmanager
def local_stack(**kwargs: Any) -> Iterator[LocalStack]:
    """Start a moto server and the DeepCall stand-in, provision them, and stop both afterwards."""
    credentials = kwargs.pop("credentials", None) or {"ssid": DEMO_SSID}
    with LocalAwsEndpoint() as aws, DeepCallStandIn(credentials=credentials) as deepcall:
        yield provision(aws, deepcall, credentials=credentials, **kwargs)


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of the block, then restore them."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old
