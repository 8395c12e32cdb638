"""The session and configuration every AWS client of the container (and the tooling) is built
with."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from masking_unset.models.budget import (
    AWS_CONNECT_TIMEOUT_SECONDS,
    AWS_MAX_ATTEMPTS,
    AWS_READ_TIMEOUT_SECONDS,
    FLEET_RATE_CONNECT_TIMEOUT_SECONDS,
    FLEET_RATE_MAX_ATTEMPTS,
    FLEET_RATE_READ_TIMEOUT_SECONDS,
)
from masking_unset.models.errors import ConfigurationError

if TYPE_CHECKING:
    import boto3
    from botocore.config import Config

_REGION_HINT = "set AWS_REGION (or AWS_DEFAULT_REGION) to the deployment's region"
_CREDENTIALS_HINT = (
    "give credentials: AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (a Lambda "
    "function has its role's)"
)


def aws_region() -> str | None:
    """The region as Lambda gives it: boto3 reads only ``AWS_DEFAULT_REGION``, and Lambda sets
    ``AWS_REGION`` as well; a user who sets only ``AWS_REGION`` (as the AWS CLI allows) means it."""
    for variable in ("AWS_DEFAULT_REGION", "AWS_REGION"):
        region = os.environ.get(variable, "").strip()
        if region:
            return region
    return None


def aws_session() -> boto3.session.Session:
    """A boto3 session in :func:`aws_region` (``AWS_ENDPOINT_URL`` and the rest as boto3 reads
    them): every session the functions and the tooling create comes from here."""
    import boto3

    return boto3.session.Session(region_name=aws_region())


def aws_client_config(
    pool_size: int = 10,
    *,
    attempts: int = AWS_MAX_ATTEMPTS,
    connect_timeout: float = AWS_CONNECT_TIMEOUT_SECONDS,
    read_timeout: float = AWS_READ_TIMEOUT_SECONDS,
) -> Config:
    """The botocore configuration of every AWS client: standard retries, bounded attempts and
    timeouts (the numbers :func:`masking_unset.models.budget.aws_call_seconds` counts with)."""
    from botocore.config import Config

    return Config(
        retries={"mode": "standard", "total_max_attempts": attempts},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        max_pool_connections=max(10, pool_size),
    )


def fleet_rate_client_config(pool_size: int = 10) -> Config:
    """The DynamoDB client of the fleet's request slots: one attempt and short timeouts
    (:func:`masking_unset.models.budget.fleet_rate_call_seconds`), since a slow table is
    answered by falling back to a per-container bucket, not by waiting."""
    return aws_client_config(
        pool_size,
        attempts=FLEET_RATE_MAX_ATTEMPTS,
        connect_timeout=FLEET_RATE_CONNECT_TIMEOUT_SECONDS,
        read_timeout=FLEET_RATE_READ_TIMEOUT_SECONDS,
    )


def aws_setup_problem(exc: BaseException) -> str | None:
    """What the environment lacks when ``exc`` is the SDK saying the AWS setup is incomplete (no
    region, no credentials, an unknown profile), with a hint naming the variables to set; None
    for any other error. The SDK's text names no secret, but only its type is shown."""
    from botocore import exceptions

    name = type(exc).__name__
    if isinstance(exc, exceptions.NoRegionError | exceptions.InvalidRegionError):
        return f"no usable AWS region ({name}): {_REGION_HINT}"
    if isinstance(
        exc,
        exceptions.NoCredentialsError
        | exceptions.PartialCredentialsError
        | exceptions.ProfileNotFound
        | exceptions.InvalidConfigError,
    ):
        return f"no usable AWS credentials ({name}): {_CREDENTIALS_HINT}"
    return None


def aws_client(session: boto3.session.Session, service_name: str, config: Config) -> Any:
    """A client of ``service_name`` in ``session``.

    Raises :class:`ConfigurationError`, with a hint, when the environment gives no region or no
    credentials: found here, once, instead of as an unexplained failure of every call.
    """
    try:
        client = session.client(service_name, config=config)  # type: ignore[call-overload]
        credentials = session.get_credentials()  # resolved (and cached) by the client already
    except Exception as exc:
        if (problem := aws_setup_problem(exc)) is None:
            raise
        raise ConfigurationError(f"AWS configuration: {problem}") from None
    if credentials is None:
        problem = f"no usable AWS credentials (NoCredentialsError): {_CREDENTIALS_HINT}"
        raise ConfigurationError(f"AWS configuration: {problem}")
    return client
