"""The local AWS endpoint (moto's server on loopback), used through boto3 over HTTP."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from masking_unset_tools.local.aws_endpoint import LocalAwsEndpoint


@pytest.fixture(scope="module")
def endpoint() -> Iterator[LocalAwsEndpoint]:
    with LocalAwsEndpoint() as aws:
        yield aws


def test_clients_reach_the_endpoint(endpoint: LocalAwsEndpoint) -> None:
    # The three services the functions use, each through a client of this endpoint.
    secrets = endpoint.client("secretsmanager")
    sqs = endpoint.client("sqs")
    dynamodb = endpoint.client("dynamodb")

    secrets.create_secret(Name="deepcall/credentials", SecretString='{"ssid": "demo"}')
    queue_url = sqs.create_queue(QueueName="masking-unset-dlq")["QueueUrl"]
    sqs.send_message(QueueUrl=queue_url, MessageBody="ticket-42")
    dynamodb.create_table(
        TableName="masking-unset-idempotency",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.put_item(TableName="masking-unset-idempotency", Item={"id": {"S": "ticket-42"}})

    assert endpoint.url.startswith("http://127.0.0.1:")
    assert secrets.meta.endpoint_url == endpoint.url
    value = secrets.get_secret_value(SecretId="deepcall/credentials")
    assert value["SecretString"] == '{"ssid": "demo"}'
    received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=1)
    assert [m["Body"] for m in received["Messages"]] == ["ticket-42"]
    item = dynamodb.get_item(TableName="masking-unset-idempotency", Key={"id": {"S": "ticket-42"}})
    assert item["Item"] == {"id": {"S": "ticket-42"}}


def test_session_clients_target_the_endpoint(endpoint: LocalAwsEndpoint) -> None:
    session = endpoint.session()
    sqs = session.client("sqs")

    sqs.create_queue(QueueName="via-session")

    assert session.region_name == "us-east-1"
    assert sqs.meta.endpoint_url == endpoint.url
    assert session.resource("dynamodb").meta.client.meta.endpoint_url == endpoint.url
    credentials = session.get_credentials()
    assert credentials is not None
    assert (credentials.access_key, credentials.secret_key) == ("testing", "testing")


def test_env_for_a_subprocess(endpoint: LocalAwsEndpoint) -> None:
    env = endpoint.env()

    assert env == {
        "AWS_ENDPOINT_URL": endpoint.url,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    # A plain boto3 client in a child process, configured only by that environment.
    script = (
        "import boto3; sqs = boto3.client('sqs'); "
        "sqs.create_queue(QueueName='from-child'); print(sqs.meta.endpoint_url)"
    )
    child_env = {"PATH": "", "HOME": "/nonexistent", **env}
    result = subprocess.run(  # noqa: S603 - fixed arguments, no shell
        [sys.executable, "-c", script],
        env=child_env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )

    assert result.stdout.strip() == endpoint.url
    assert any(
        url.endswith("/from-child") for url in endpoint.client("sqs").list_queues()["QueueUrls"]
    )


def test_module_imports_without_moto() -> None:
    # moto is a dev dependency: importing the module must not import it.
    script = (
        "import sys; import masking_unset_tools.local.aws_endpoint; print('moto' in sys.modules)"
    )
    result = subprocess.run(  # noqa: S603 - fixed arguments, no shell
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=True
    )

    assert result.stdout.strip() == "False"


def test_stop_releases_the_port_and_start_again() -> None:
    aws = LocalAwsEndpoint()
    aws.start()
    first_url = aws.url
    aws.stop()

    with pytest.raises(RuntimeError):
        _ = aws.url
    port = int(first_url.rsplit(":", 1)[1])
    with LocalAwsEndpoint(port=port) as again:
        assert again.url == first_url
        queue_url = again.client("sqs").create_queue(QueueName="after-restart")["QueueUrl"]
        assert queue_url.endswith("/after-restart")
