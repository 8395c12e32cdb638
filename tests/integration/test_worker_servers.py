"""One moto server per test process (tests/support/worker_servers.py): the ``aws`` fixture's,
borrowed by every local stack the tooling starts in the test's process."""

from __future__ import annotations

from masking_unset_tools.local.stack import local_stack
from tests.support.sqs_limits import SqsLimitedEndpoint


def test_a_local_stack_borrows_the_workers_server_and_leaves_it_running(
    aws: SqsLimitedEndpoint,
) -> None:
    with local_stack() as first:
        assert first.aws.url == aws.url
        assert first.aws.moto_url == aws.moto_url  # type: ignore[attr-defined]
        first_queue = first.queue_url
    with local_stack() as second:
        assert second.aws.url == aws.url
        assert second.queue_url != first_queue  # each stack its own resources
    # Still serving after both stacks stopped, and still holding the first stack's queue.
    sqs = aws.client("sqs")
    assert sqs.get_queue_url(QueueName=first_queue.rsplit("/", 1)[1])["QueueUrl"]


def test_the_endpoint_keeps_one_client_per_service(aws: SqsLimitedEndpoint) -> None:
    assert aws.client("sqs") is aws.client("sqs")
    assert aws.client("dynamodb") is not aws.client("sqs")
    with local_stack() as local:
        assert local.aws.client("sqs") is aws.client("sqs")
