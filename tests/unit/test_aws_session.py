"""The region every boto3 session is created in: AWS_DEFAULT_REGION, else AWS_REGION (as Lambda
sets both, and boto3 reads only the first)."""

from __future__ import annotations

import pytest

from masking_unset.clients.aws import aws_region, aws_session


@pytest.mark.parametrize(
    ("default", "region", "expected"),
    [
        (None, "ap-south-1", "ap-south-1"),
        ("eu-west-1", "ap-south-1", "eu-west-1"),
        ("eu-west-1", None, "eu-west-1"),
        ("  ", "ap-south-1", "ap-south-1"),
        (None, None, None),
    ],
)
def test_the_region_follows_lambda(
    monkeypatch: pytest.MonkeyPatch, default: str | None, region: str | None, expected: str | None
) -> None:
    for name, value in (("AWS_DEFAULT_REGION", default), ("AWS_REGION", region)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.delenv("AWS_PROFILE", raising=False)

    assert aws_region() == expected
    assert aws_session().region_name == expected
