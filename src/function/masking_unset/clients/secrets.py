"""Secrets Manager, through Powertools' cached provider."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from masking_unset.clients.aws import aws_setup_problem
from masking_unset.models.errors import (
    ConfigurationError,
    MaskingUnsetError,
    UpstreamUnavailable,
)
from masking_unset.models.json_input import load_json
from masking_unset.models.redact import remember_secrets

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

# Codes that say Secrets Manager (or the way to it) is failing, not the deployment: retried.
_TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "InternalServiceError",
        "InternalFailure",
        "ServiceUnavailable",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)


def read_failure(exc: BaseException) -> tuple[str, bool]:
    """The AWS error code (or the SDK exception's name) behind a failed read, and whether it is
    transient. Powertools re-raises the SDK's error without ``from``: it is the context."""
    from botocore.exceptions import BotoCoreError, ClientError

    cause = exc.__cause__ or exc.__context__ or exc
    if (problem := aws_setup_problem(cause)) is not None:
        return problem, False  # no region or no credentials: the deployment's to fix
    if isinstance(cause, ClientError):
        error = cause.response.get("Error", {})
        code = str(error.get("Code") or "")
        status = cause.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return code or f"HTTP {status}", code in _TRANSIENT_CODES or status >= 500
    return type(cause).__name__, isinstance(cause, BotoCoreError)


class SecretStore:
    """Reads JSON secrets, cached per container for ``max_age`` seconds."""

    def __init__(self, client: SecretsManagerClient, *, max_age: int = 300) -> None:
        self._provider = SecretsProvider(boto3_client=client)
        self._max_age = max_age

    def get_json(self, secret_id: str, *, variable: str, refresh: bool = False) -> dict[str, Any]:
        """The secret's JSON object; ``refresh`` bypasses the cache (after a rejected credential).

        Errors name the environment ``variable`` that points at the secret, never its content.
        """
        try:
            # Raw, decoded here: Powertools' own transform lets a non-UTF-8 SecretBinary's
            # decode error escape. The raw value is what the provider caches.
            raw = self._provider.get(secret_id, max_age=self._max_age, force_fetch=refresh)
        except GetParameterError as exc:
            reason, transient = read_failure(exc)
            message = f"the secret named by {variable} could not be read ({reason})"
            if transient:
                raise UpstreamUnavailable(message, code="secrets_unavailable") from None
            raise ConfigurationError(message) from None
        if not isinstance(raw, str | bytes):
            raise ConfigurationError(f"the secret named by {variable} is not JSON text")
        try:
            value = load_json(raw, what=f"the secret named by {variable}")
        except MaskingUnsetError as exc:  # not UTF-8, not JSON, too deep or too large
            raise ConfigurationError(exc.message) from None
        if not isinstance(value, dict):
            raise ConfigurationError(f"the secret named by {variable} must be a JSON object")
        # Whatever a secret holds is scrubbed from any upstream text shown afterwards.
        remember_secrets(_texts(value))
        return value

    def clear(self) -> None:
        """Forget every cached secret: the next read goes to Secrets Manager."""
        self._provider.clear_cache()  # type: ignore[no-untyped-call]


def _texts(value: object, depth: int = 0) -> list[str]:
    """Every string in a decoded JSON secret, a few levels deep: its values, and its keys too (a
    secret written key-for-value holds the credential in a key), except the words that name
    fields ("ssid", "token"): those are no secret, and scrubbing them would blank out DeepCall's
    own messages."""
    if isinstance(value, str):
        return [] if _FIELD_NAME.fullmatch(value) else [value]
    if depth > 4:
        return []
    if isinstance(value, dict):
        keys = [text for key in value for text in _texts(key, depth + 1)]
        return keys + [text for item in value.values() for text in _texts(item, depth + 1)]
    items = value if isinstance(value, list) else []
    return [text for item in items for text in _texts(item, depth + 1)]


# A field's name, not a credential: a few letters (or underscores), like every key the
# service's secrets are documented with.
_FIELD_NAME = re.compile(r"[A-Za-z_]{1,16}")
