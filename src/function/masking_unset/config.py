"""Settings: the environment, parsed and validated once per container."""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import StrEnum
from functools import lru_cache
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.functional_validators import BeforeValidator

from masking_unset.models.accounts import (
    ACCOUNTS_VARIABLE,
    DEFAULT_ACCOUNT,
    AccountConfigs,
)
from masking_unset.models.budget import (
    RATE_LIMIT_MAX_WAIT_SECONDS,
    WEBHOOK_TIMEOUT_SECONDS,
    TimeBudget,
)
from masking_unset.models.deepcall import normalise_base_url
from masking_unset.models.errors import ConfigurationError, UnknownAccount
from masking_unset.models.expire_at import DailyExpiry, parse_daily_expiry
from masking_unset.models.fields import FieldOverrides

DEFAULT_WEBHOOK_RETRY_AFTER_SECONDS = 30


class SettingError(ValueError):
    """A check of the settings not tied to one field; ``subject`` names the variables it is
    about, as the message of :func:`describe_validation_error` starts with them."""

    def __init__(self, subject: str, message: str) -> None:
        super().__init__(message)
        self.subject = subject


class NumberFormat(StrEnum):
    """How phone numbers are written in requests to DeepCall."""

    NATIONAL = "national"  # national significant number, 10 digits in India
    E164 = "e164"  # +918040001234
    DIGITS = "digits"  # 918040001234


def _blank_to_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


def _csv(value: object) -> object:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


def _int_set(value: object) -> object:
    if isinstance(value, str):
        parts = [part.strip() for part in value.split(",") if part.strip()]
        if not all(part.isdigit() for part in parts):
            raise ValueError("must be a comma-separated list of DeepCall error codes")
        return frozenset(int(part) for part in parts)
    return value


OptionalText = Annotated[str | None, BeforeValidator(_blank_to_none)]  # a blank value is unset
IntSet = Annotated[frozenset[int], BeforeValidator(_int_set)]
CsvList = Annotated[tuple[str, ...], BeforeValidator(_csv)]


class Settings(BaseModel):
    """Every environment variable the functions read; field aliases are the variable names."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    deepcall_base_url: str = Field(alias="DEEPCALL_BASE_URL")
    deepcall_allow_http: bool = Field(default=False, alias="DEEPCALL_ALLOW_HTTP")
    deepcall_secret_id: str = Field(alias="DEEPCALL_SECRET_ID", min_length=1)
    # The named accounts besides "default" (the two settings above): docs/deploying.md.
    deepcall_accounts: AccountConfigs = Field(default_factory=dict, alias="DEEPCALL_ACCOUNTS")
    deepcall_number_format: NumberFormat = Field(
        default=NumberFormat.NATIONAL, alias="DEEPCALL_NUMBER_FORMAT"
    )
    deepcall_timeout_seconds: float = Field(
        default=5.0, alias="DEEPCALL_TIMEOUT_SECONDS", gt=0, le=60
    )
    deepcall_connect_timeout_seconds: float = Field(
        default=3.05, alias="DEEPCALL_CONNECT_TIMEOUT_SECONDS", gt=0, le=60
    )
    phone_default_region: str = Field(default="IN", alias="PHONE_DEFAULT_REGION")
    secrets_cache_seconds: int = Field(default=300, alias="SECRETS_CACHE_SECONDS", ge=0)
    webhook_secrets_id: OptionalText = Field(default=None, alias="WEBHOOK_SECRETS_ID")
    webhook_retry_after_seconds: int = Field(
        default=DEFAULT_WEBHOOK_RETRY_AFTER_SECONDS,
        alias="WEBHOOK_RETRY_AFTER_SECONDS",
        ge=1,
        le=3600,
    )
    deepcall_max_attempts: int = Field(default=3, alias="DEEPCALL_MAX_ATTEMPTS", ge=1, le=10)
    deepcall_retry_base_seconds: float = Field(
        default=0.2, alias="DEEPCALL_RETRY_BASE_SECONDS", ge=0, le=30
    )
    deepcall_retry_max_seconds: float = Field(
        default=2.0, alias="DEEPCALL_RETRY_MAX_SECONDS", ge=0, le=60
    )
    retry_after_cap_seconds: float = Field(
        default=5.0, alias="RETRY_AFTER_CAP_SECONDS", ge=0, le=60
    )
    deepcall_already_done_codes: IntSet = Field(
        default=frozenset(), alias="DEEPCALL_ALREADY_DONE_CODES"
    )
    queue_backoff_base_seconds: float = Field(
        default=30.0, alias="QUEUE_BACKOFF_BASE_SECONDS", ge=0, le=43_200
    )
    queue_backoff_max_seconds: float = Field(
        default=900.0, alias="QUEUE_BACKOFF_MAX_SECONDS", ge=0, le=43_200
    )
    queue_max_receives: int = Field(default=5, alias="QUEUE_MAX_RECEIVES", ge=1, le=1000)
    idempotency_table: OptionalText = Field(default=None, alias="IDEMPOTENCY_TABLE")
    idempotency_window_seconds: int = Field(
        default=86_400, alias="IDEMPOTENCY_WINDOW_SECONDS", ge=60
    )
    queue_url: OptionalText = Field(default=None, alias="QUEUE_URL")
    dead_letter_queue_url: OptionalText = Field(default=None, alias="DEAD_LETTER_QUEUE_URL")
    masking_map_table: OptionalText = Field(default=None, alias="MASKING_MAP_TABLE")
    # Minutes a closed ticket's masking still lives (0: expired at once), and the minutes a
    # reopened ticket's masking is given back (0: reopens are ignored). At most 30 days.
    expiry_grace_minutes: int = Field(default=0, alias="EXPIRY_GRACE_MINUTES", ge=0, le=43_200)
    reopen_extend_minutes: int = Field(default=0, alias="REOPEN_EXTEND_MINUTES", ge=0, le=43_200)
    # Instead of the grace minutes: a closed ticket's masking lives until this time of day in a
    # time zone ("18:00 Asia/Kolkata"), or is expired at once when the close is later.
    expiry_grace_until: Annotated[DailyExpiry | None, BeforeValidator(parse_daily_expiry)] = Field(
        default=None, alias="EXPIRY_GRACE_UNTIL"
    )
    ticket_state_table: OptionalText = Field(default=None, alias="TICKET_STATE_TABLE")
    # How long the ledger (in TICKET_STATE_TABLE) keeps what DeepCall confirmed for a masking:
    # the proof that turns DeepCall's "nothing active" into already_expired.
    ledger_retention_days: int = Field(default=35, alias="LEDGER_RETENTION_DAYS", ge=1, le=365)
    # The circuit breaker's state and the deployment's DeepCall request rate, shared by every
    # container of both functions (docs/fleet.md). Unset: each container decides alone.
    fleet_state_table: OptionalText = Field(default=None, alias="FLEET_STATE_TABLE")
    # The circuit breaker (docs/fleet.md): consecutive DeepCall failures seen by one container
    # that open it for the whole deployment, how long it stays open before one probe, and how
    # long a container trusts the state it last read.
    breaker_failure_threshold: int = Field(
        default=3, alias="BREAKER_FAILURE_THRESHOLD", ge=1, le=1000
    )
    breaker_open_seconds: int = Field(default=30, alias="BREAKER_OPEN_SECONDS", ge=1, le=3600)
    breaker_cache_seconds: int = Field(default=2, alias="BREAKER_CACHE_SECONDS", ge=0, le=60)
    # A record DeepCall could not take (an outage, the rate limit) is sent again as a new
    # message, at most this many seconds later (SQS allows 900)...
    queue_defer_max_seconds: int = Field(default=90, alias="QUEUE_DEFER_MAX_SECONDS", ge=1, le=900)
    # ...until DeepCall has been unavailable to it this long (the queue's retention): then it is
    # parked with that reason.
    queue_defer_max_age_seconds: int = Field(
        default=345_600, alias="QUEUE_DEFER_MAX_AGE_SECONDS", ge=60, le=1_209_600
    )
    # How far ahead of this function's clock an event's occurred_at may be (a sender's clock
    # skew); further ahead it is refused, never recorded as the ticket's newest event.
    occurred_at_max_skew_seconds: int = Field(
        default=300, alias="OCCURRED_AT_MAX_SKEW_SECONDS", ge=0, le=86_400
    )
    # Each event's steps (received, DeepCall attempts, queued, deferred, parked, outcome), kept
    # this many days for `masking-unset trail` (logic/trail.py). Unset: no trail is kept.
    trail_table: OptionalText = Field(default=None, alias="TRAIL_TABLE")
    trail_retention_days: int = Field(default=30, alias="TRAIL_RETENTION_DAYS", ge=1, le=365)
    # The secret holding the key of every stored hash (models/hashing.py).
    hash_key_secret_id: OptionalText = Field(default=None, alias="HASH_KEY_SECRET_ID")
    dry_run: bool = Field(default=False, alias="DRY_RUN")
    max_concurrency: int = Field(default=10, alias="MAX_CONCURRENCY", ge=1, le=100)
    # DeepCall requests per second: for the whole deployment (every container of both functions,
    # through FLEET_STATE_TABLE; per container without it), and optionally per container too.
    deepcall_max_rps: float = Field(default=0.0, alias="DEEPCALL_MAX_RPS", ge=0)
    deepcall_max_rps_per_container: float = Field(
        default=0.0, alias="DEEPCALL_MAX_RPS_PER_CONTAINER", ge=0
    )
    hubspot_closed_stages: CsvList = Field(default=(), alias="HUBSPOT_CLOSED_STAGES")
    # Stages known to be open besides the default pipeline's; a stage in neither list is ignored.
    hubspot_open_stages: CsvList = Field(default=(), alias="HUBSPOT_OPEN_STAGES")
    public_base_url: OptionalText = Field(default=None, alias="PUBLIC_BASE_URL")
    salesforce_org_ids: CsvList = Field(default=(), alias="SALESFORCE_ORG_IDS")
    # Status labels counted as closed on top of each source's own (localized or custom labels).
    zendesk_closed_statuses: CsvList = Field(default=(), alias="ZENDESK_CLOSED_STATUSES")
    freshdesk_closed_statuses: CsvList = Field(default=(), alias="FRESHDESK_CLOSED_STATUSES")
    salesforce_closed_statuses: CsvList = Field(default=(), alias="SALESFORCE_CLOSED_STATUSES")
    # Status labels counted as open on top of each source's own: only an open status reopens,
    # and one in neither list is ignored as unrecognised.
    zendesk_open_statuses: CsvList = Field(default=(), alias="ZENDESK_OPEN_STATUSES")
    freshdesk_open_statuses: CsvList = Field(default=(), alias="FRESHDESK_OPEN_STATUSES")
    salesforce_open_statuses: CsvList = Field(default=(), alias="SALESFORCE_OPEN_STATUSES")
    # JSON objects {field: JMESPath expression or null} overriding where a source reads a field.
    source_fields_zendesk: FieldOverrides = Field(
        default_factory=dict, alias="SOURCE_FIELDS_ZENDESK"
    )
    source_fields_freshdesk: FieldOverrides = Field(
        default_factory=dict, alias="SOURCE_FIELDS_FRESHDESK"
    )
    source_fields_hubspot: FieldOverrides = Field(
        default_factory=dict, alias="SOURCE_FIELDS_HUBSPOT"
    )
    source_fields_salesforce: FieldOverrides = Field(
        default_factory=dict, alias="SOURCE_FIELDS_SALESFORCE"
    )

    # Which account these settings are: "default", or a copy made by for_account().
    _account: str = PrivateAttr(default=DEFAULT_ACCOUNT)

    @property
    def account(self) -> str:
        """The DeepCall account these settings call: ``default`` unless made by
        :meth:`for_account`."""
        return self._account

    @property
    def account_names(self) -> tuple[str, ...]:
        """Every configured account, ``default`` first."""
        return (DEFAULT_ACCOUNT, *sorted(self.deepcall_accounts))

    @property
    def secret_variable(self) -> str:
        """Where an operator sets this account's DeepCall secret, for error messages."""
        if self._account == DEFAULT_ACCOUNT:
            return "DEEPCALL_SECRET_ID"
        return f"{ACCOUNTS_VARIABLE} ({self._account}: secret_id)"

    @property
    def webhook_secrets_variable(self) -> str:
        """Where an operator sets the webhook secrets these settings check senders with."""
        account = self.deepcall_accounts.get(self._account)
        if account is not None and account.webhook_secrets_id is not None:
            return f"{ACCOUNTS_VARIABLE} ({self._account}: webhook_secrets_id)"
        return "WEBHOOK_SECRETS_ID"

    def for_account(self, name: str | None) -> Settings:
        """These settings as account ``name`` (None: ``default``) sees them: its base URL,
        secret, rate and webhook secrets. Raises :class:`UnknownAccount` for a name that is not
        configured (never falls back to another account)."""
        if name is None or name == DEFAULT_ACCOUNT:
            return self
        account = self.deepcall_accounts.get(name)
        if account is None:
            raise UnknownAccount(
                f"no DeepCall account of that name is configured ({ACCOUNTS_VARIABLE})"
            )
        update: dict[str, object] = {
            "deepcall_base_url": account.base_url,
            "deepcall_secret_id": account.secret_id,
        }
        if account.max_rps is not None:
            update["deepcall_max_rps"] = account.max_rps
        if account.webhook_secrets_id is not None:
            update["webhook_secrets_id"] = account.webhook_secrets_id
        if account.number_format is not None:
            update["deepcall_number_format"] = NumberFormat(account.number_format)
        copy = self.model_copy(update=update)
        copy._account = name
        return copy

    @field_validator("phone_default_region")
    @classmethod
    def _region_is_known(cls, value: str) -> str:
        import phonenumbers

        region = value.strip().upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError("must be a two-letter region such as IN or US")
        return region

    @field_validator("deepcall_base_url")
    @classmethod
    def _base_url_reachable(cls, value: str) -> str:
        # Scheme, host, port and path prefix only: a query or fragment would move the unset path
        # (and the credentials) elsewhere, and a URL no request can reach is no outage.
        return normalise_base_url(value)

    @model_validator(mode="after")
    def _base_url_scheme(self) -> Settings:
        urls = [("DEEPCALL_BASE_URL", self.deepcall_base_url)] + [
            (f"{ACCOUNTS_VARIABLE} ({name}: base_url)", account.base_url)
            for name, account in sorted(self.deepcall_accounts.items())
        ]
        for subject, url in urls:
            if not (
                url.startswith("https://")
                or (self.deepcall_allow_http and url.startswith("http://"))
            ):
                hint = (
                    ""
                    if self.deepcall_allow_http
                    else " (set DEEPCALL_ALLOW_HTTP=true for local use)"
                )
                raise SettingError(subject, "must be an https:// URL" + hint)
        return self

    @model_validator(mode="after")
    def _one_deepcall_attempt_fits_the_webhook(self) -> Settings:
        # docs/performance.md: an event starts only when one DeepCall attempt and handing the
        # event on (H) are still left; beyond this no webhook event would ever reach DeepCall.
        rates = [self.deepcall_max_rps] + [
            account.max_rps
            for account in self.deepcall_accounts.values()
            if account.max_rps is not None
        ]
        paced = any(0 < rate < float("inf") for rate in rates)
        budget = TimeBudget.from_settings(self, paced=paced)
        limit = WEBHOOK_TIMEOUT_SECONDS - budget.hand_on
        if budget.deepcall_attempt <= limit + 1e-9:  # 3.05 + 13.45 is 16.500000000000004
            return self
        subject = "DEEPCALL_CONNECT_TIMEOUT_SECONDS + DEEPCALL_TIMEOUT_SECONDS"
        if paced:
            subject += f" + {RATE_LIMIT_MAX_WAIT_SECONDS:g} s for a DEEPCALL_MAX_RPS slot"
        raise SettingError(
            subject,
            f"must be at most {limit:g} s, so that one DeepCall attempt and handing the event on "
            f"({budget.hand_on:g} s) fit the webhook function's {WEBHOOK_TIMEOUT_SECONDS:g} s "
            "timeout",
        )

    @model_validator(mode="after")
    def _one_grace_rule(self) -> Settings:
        # Two rules for the same close would leave the reader guessing which one wins.
        if self.expiry_grace_until is not None and self.expiry_grace_minutes:
            raise SettingError(
                "EXPIRY_GRACE_MINUTES and EXPIRY_GRACE_UNTIL",
                "set only one of them (EXPIRY_GRACE_MINUTES=0 with EXPIRY_GRACE_UNTIL)",
            )
        return self

    @model_validator(mode="after")
    def _hash_key_for_tables(self) -> Settings:
        # These tables store hashes of numbers: never plain ones, so no table without the key.
        tables = [
            name
            for name, value in (
                ("IDEMPOTENCY_TABLE", self.idempotency_table),
                ("TICKET_STATE_TABLE", self.ticket_state_table),
                ("TRAIL_TABLE", self.trail_table),
            )
            if value
        ]
        if tables and not self.hash_key_secret_id:
            raise SettingError(
                "HASH_KEY_SECRET_ID",
                f"must be set when {' and '.join(tables)} is: the tables store only keyed hashes",
            )
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Parse settings from the environment; the error names each bad variable."""
        source = os.environ if environ is None else environ
        try:
            return cls.model_validate(dict(source))
        except ValidationError as exc:
            raise ConfigurationError(describe_validation_error(exc, cls)) from None


# What to set a required variable to, for the message that says it is missing.
_REQUIRED_HINTS = {
    "DEEPCALL_BASE_URL": "set it to DeepCall's API base URL, e.g. https://v4-api.deepcall.com",
    "DEEPCALL_SECRET_ID": (
        "set it to the name or ARN of the Secrets Manager secret that holds DeepCall's "
        "credentials (docs/deploying.md)"
    ),
}


def plain_words(error: Mapping[str, object]) -> str:
    """A pydantic error in plain words: what the value must be (never the value itself)."""
    kind = error.get("type")
    ctx = error.get("ctx")
    limits = ctx if isinstance(ctx, Mapping) else {}
    bounds = {
        "greater_than": ("must be more than", "gt"),
        "greater_than_equal": ("must be at least", "ge"),
        "less_than": ("must be less than", "lt"),
        "less_than_equal": ("must be at most", "le"),
    }
    if kind in bounds:
        words, key = bounds[str(kind)]
        return f"{words} {limits.get(key)}"
    fixed = {
        "int_parsing": "must be a whole number",
        "int_from_float": "must be a whole number",
        "int_type": "must be a whole number",
        "float_parsing": "must be a number",
        "float_type": "must be a number",
        "finite_number": "must be a finite number",
        "bool_parsing": "must be true or false",
        "bool_type": "must be true or false",
        "string_too_short": "must not be empty",
        "string_type": "must be text",
    }
    if kind in fixed:
        return fixed[str(kind)]
    if kind in ("string_too_long", "too_long"):
        return f"must be at most {limits.get('max_length')} characters"
    if kind == "enum":
        return f"must be one of {limits.get('expected')}"
    return str(error.get("msg", "is not valid")).removeprefix("Value error, ")


def describe_validation_error(exc: ValidationError, model: type[BaseModel]) -> str:
    """Name each bad field by its alias and say in plain words what to set it to, without
    echoing the offending value; a check of several fields (a :class:`SettingError`) names the
    variables it is about."""
    aliases = {name: (field.alias or name) for name, field in model.model_fields.items()}
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        loc = error["loc"]
        field = str(loc[0]) if loc else ""
        cause = error.get("ctx", {}).get("error")
        if field:
            name = aliases.get(field, field)
        elif isinstance(cause, SettingError):
            name = cause.subject
        else:  # the environment as a whole (never a mapping: from_env always passes one)
            name = "the environment"
        if error["type"] == "missing":
            hint = _REQUIRED_HINTS.get(name, "set it (README.md, Configuration)")
            problems.append(f"{name} is not set: {hint}")
            continue
        message = str(cause) if isinstance(cause, SettingError) else plain_words(error)
        problems.append(f"{name}: {message}")
    return "invalid configuration: " + "; ".join(problems)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this container, parsed on first use."""
    return Settings.from_env()
