"""Why a secret could not be read: the AWS error code behind Powertools' GetParameterError."""

from __future__ import annotations

import pytest
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.exceptions import ClientError, EndpointConnectionError

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
