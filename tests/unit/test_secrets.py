"""Why a secret could not be read: the AWS error code behind Powertools' GetParameterError."""

from __future__ import annotations

import pytest
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
)

from masking_unset.clients.secrets import read_failure


def wrapped(cause: Exception) -> GetParameterError:
    """What Powertools raises: the SDK's error is the context, not the cause."""
    try:
        try:
            raise cause
        except Exception as exc:  # noqa: BLE001 - as Powertools does
            raise GetParameterError(str(exc))  # noqa: B904
    except GetParameterError as error:
        return error


def client_error(code: str, status: int) -> ClientError:
    response = {
        "Error": {"Code": code, "Message": "m"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "GetSecretValue")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("cause", "expected"),
    [
        (client_error("ResourceNotFoundException", 400), ("ResourceNotFoundException", False)),
        (client_error("AccessDeniedException", 400), ("AccessDeniedException", False)),
        (client_error("DecryptionFailure", 400), ("DecryptionFailure", False)),
        (client_error("ThrottlingException", 400), ("ThrottlingException", True)),
        (client_error("InternalServiceError", 500), ("InternalServiceError", True)),
        (client_error("", 503), ("HTTP 503", True)),
        (EndpointConnectionError(endpoint_url="https://x"), ("EndpointConnectionError", True)),
    ],
)
def test_the_aws_error_code_is_named(cause: Exception, expected: tuple[str, bool]) -> None:
    assert read_failure(wrapped(cause)) == expected


def test_nothing_behind_it_names_the_error_itself() -> None:
    assert read_failure(GetParameterError("no")) == ("GetParameterError", False)


@pytest.mark.parametrize(
    ("cause", "hint"),
    [
        (NoCredentialsError(), "AWS_ACCESS_KEY_ID"),
        (PartialCredentialsError(provider="env", cred_var="AWS_SECRET_ACCESS_KEY"), "AWS_PROFILE"),
        (NoRegionError(), "AWS_REGION"),
    ],
)
def test_a_missing_aws_setup_is_not_transient_and_says_what_to_set(
    cause: Exception, hint: str
) -> None:
    # An SDK error, but no outage: retrying will not give the container credentials.
    reason, transient = read_failure(wrapped(cause))
    assert not transient
    assert type(cause).__name__ in reason
    assert hint in reason


def test_a_secret_written_key_for_value_is_scrubbed_by_its_key_and_field_names_are_not() -> None:
    from masking_unset.clients.secrets import _texts
    from masking_unset.models.redact import remember_secrets, scrub

    remember_secrets(_texts({"s3cr3t-ssid-value-9": "ssid", "token": "tok-3x4mpl3-v4lue"}))

    assert scrub("ssid s3cr3t-ssid-value-9 token tok-3x4mpl3-v4lue") == (
        "ssid [redacted] token [redacted]"
    )
