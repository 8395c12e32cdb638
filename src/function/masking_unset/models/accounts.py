"""Named DeepCall accounts (docs/deploying.md, "Several DeepCall accounts"): one deployment
serving several brands, each with its own DeepCall base URL, credentials and request rate.

The single-account settings (``DEEPCALL_BASE_URL``, ``DEEPCALL_SECRET_ID``) are the account
named ``default``; ``DEEPCALL_ACCOUNTS`` adds the others."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.functional_validators import BeforeValidator

from masking_unset.models.deepcall import normalise_base_url

DEFAULT_ACCOUNT: Final = "default"
ACCOUNTS_VARIABLE: Final = "DEEPCALL_ACCOUNTS"
MAX_ACCOUNTS: Final = 50
# An account name is a URL path segment and a metric dimension: short, lower case, no dots.
ACCOUNT_NAME: Final = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
ACCOUNT_NAME_RULE: Final = "lower-case letters, digits and hyphens, at most 32, not starting with -"


def is_account_name(value: object) -> bool:
    """Whether ``value`` is a well-formed account name (configured or not)."""
    return isinstance(value, str) and ACCOUNT_NAME.fullmatch(value) is not None


def scoped_source(source: str, account: str | None) -> str:
    """What stored keys are scoped by (:attr:`CloseEvent.scope`): the source, and a named
    account's name; the default account keeps the keys it always had."""
    if account is None or account == DEFAULT_ACCOUNT:
        return source
    return f"{source}@{account}"


class AccountConfig(BaseModel):
    """One named account of ``DEEPCALL_ACCOUNTS``. What it leaves out is the deployment's:
    ``max_rps`` defaults to ``DEEPCALL_MAX_RPS`` (a rate of its own, not a share), and
    ``webhook_secrets_id`` to ``WEBHOOK_SECRETS_ID``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str = Field(min_length=1)
    secret_id: str = Field(min_length=1, max_length=2048)
    max_rps: float | None = Field(default=None, ge=0)
    # How this account's maskings write numbers (DEEPCALL_NUMBER_FORMAT's values); default the
    # deployment's.
    number_format: Literal["national", "e164", "digits"] | None = None
    # The webhook secrets of this account's senders: without its own, every account's senders
    # share one, and a sender that holds it could call another account's routes.
    webhook_secrets_id: str | None = Field(default=None, min_length=1, max_length=2048)

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return normalise_base_url(value)


def _accounts_json(value: object) -> object:
    if value is None or (isinstance(value, str) and not value.strip()):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError(
                'must be a JSON object: {"<account>": {"base_url": "https://...", '
                '"secret_id": "<secret name or ARN>"}}'
            ) from None
    if not isinstance(value, dict):
        raise ValueError("must be a JSON object from account name to its settings")
    if len(value) > MAX_ACCOUNTS:
        raise ValueError(f"holds more than {MAX_ACCOUNTS} accounts")
    accounts: dict[str, AccountConfig] = {}
    for name, config in value.items():
        if not is_account_name(name):
            raise ValueError(f"an account name must be {ACCOUNT_NAME_RULE}")
        if name == DEFAULT_ACCOUNT:
            raise ValueError(
                f'"{DEFAULT_ACCOUNT}" is DEEPCALL_BASE_URL and DEEPCALL_SECRET_ID: name the '
                "others differently"
            )
        try:
            accounts[name] = AccountConfig.model_validate(config)
        except ValidationError as exc:
            # Field names and rules only: never a value (a secret id may be sensitive).
            problems = [
                f"{'.'.join(str(p) for p in error['loc']) or 'settings'}: " + _plain(error)
                for error in exc.errors(include_input=False, include_url=False)
            ]
            raise ValueError(f"account {name}: " + "; ".join(problems)) from None
    return accounts


_SETTINGS = ", ".join(AccountConfig.model_fields)


def _plain(error: Any) -> str:
    """A field's problem in plain words, never its value."""
    kind = error.get("type")
    if kind == "extra_forbidden":
        return f"is not a setting of an account (use {_SETTINGS})"
    if kind == "missing":
        return "is required"
    if kind in ("model_type", "dict_type"):
        return f"must be a JSON object with {_SETTINGS}"
    if kind in ("string_type", "string_too_short"):
        return "must be non-empty text"
    if kind == "literal_error":
        return "must be one of national, e164, digits"
    if kind in ("float_type", "float_parsing", "greater_than_equal"):
        return "must be a number of requests per second, 0 or more"
    return str(error.get("msg", "is not valid")).removeprefix("Value error, ")


# The named accounts, parsed from DEEPCALL_ACCOUNTS' JSON.
AccountConfigs = Annotated[dict[str, AccountConfig], BeforeValidator(_accounts_json)]
