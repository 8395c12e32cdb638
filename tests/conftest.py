"""Shared fixtures: a real moto server and a real DeepCall stand-in, both on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from masking_unset.app import reset_app
from masking_unset_tools.local.aws_endpoint import LocalAwsEndpoint
from masking_unset_tools.local.lambda_context import LocalLambdaContext
from masking_unset_tools.local.stack import DEMO_SSID, LocalStack, provision
from tests.support.aws_faults import FaultyAwsProxy
from tests.support.botocore_data import share_botocore_loaders
from tests.support.deepcall import ScriptedDeepCall
from tests.support.sqs_limits import SqsLimitedEndpoint
from tests.support.worker_servers import BorrowedEndpoint, stop_worker_endpoint, worker_endpoint


def pytest_configure(config: pytest.Config) -> None:
    """botocore parses its data files once per test process (tests/support/botocore_data.py)."""
    share_botocore_loaders()
    config.addinivalue_line(
        "markers", "slow: a test of several seconds, started before the others (docs/testing.md)"
    )


# The marks of the tests that run first: `make test` hands the tests to its workers in this order
# (after the repo-files group, the largest unit of work), and a long test handed out last would
# end after every other worker had finished.
FIRST_MARKS = ("slow", "soak")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests first, the others in their order."""
    items.sort(key=lambda item: not any(item.get_closest_marker(m) for m in FIRST_MARKS))


@pytest.fixture(autouse=True)
def no_remembered_secrets() -> Iterator[None]:
    """The secrets a container has read are scrubbed from its texts for its life; every test is
    a new container, so none scrubs another test's secrets."""
    from masking_unset.models import redact

    with redact._known_lock:
        redact._known_secrets.clear()
    yield
    with redact._known_lock:
        redact._known_secrets.clear()


@pytest.fixture(autouse=True)
def fresh_circuit_counters() -> Iterator[None]:
    """Powertools counts each circuit's consecutive failures per process, as a container does
    across its invocations; every test is a new deployment, so none inherits another's count."""
    from aws_lambda_powertools.utilities.circuit_breaker import base

    counters = (base._LOCAL_FAILURES, base._LOCAL_SUCCESSES, base._LAST_OBSERVED_STATE)
    for counter in counters:
        counter.clear()
    yield
    for counter in counters:
        counter.clear()


@pytest.fixture(scope="session")
def _worker_servers() -> Iterator[None]:
    """The worker's moto server (tests/support/worker_servers.py) stops when the session ends."""
    yield
    stop_worker_endpoint()


@pytest.fixture(scope="session")
def aws(_worker_servers: None) -> SqsLimitedEndpoint:
    """One moto server for the session (per xdist worker); each test provisions its own uniquely
    named resources. Every client of it (the test's, the functions', a subprocess's) passes
    through a check of what real SQS refuses and moto accepts (tests/support/sqs_limits.py)."""
    return worker_endpoint()


@pytest.fixture(autouse=True)
def _sqs_limits_in_local_stacks(monkeypatch: pytest.MonkeyPatch, _worker_servers: None) -> None:
    """The tooling's own local stacks (``demo``, ``invoke`` and ``serve`` without a deployment,
    run in the test's process) use the worker's moto server, behind the SQS-limits double too,
    instead of starting their own."""
    monkeypatch.setattr("masking_unset_tools.local.stack.LocalAwsEndpoint", BorrowedEndpoint)


@pytest.fixture
def deepcall() -> Iterator[ScriptedDeepCall]:
    """A fresh DeepCall stand-in that accepts the demo ssid, scriptable by the tests."""
    with ScriptedDeepCall(credentials={"ssid": DEMO_SSID}) as standin:
        yield standin


@pytest.fixture
def stack(
    aws: LocalAwsEndpoint, deepcall: ScriptedDeepCall, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LocalStack]:
    """A provisioned deployment, with the handlers' environment pointing at it."""
    local = provision(aws, deepcall)
    for name, value in local.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "INFO")
    # Tests of single events script DeepCall's failures one after another; the circuit breaker
    # would rightly stop calling DeepCall after three. Its own tests (test_fleet.py) and the
    # demo set the production threshold.
    monkeypatch.setenv("BREAKER_FAILURE_THRESHOLD", "1000")
    reset_app()
    yield local
    reset_app()


@pytest.fixture
def faulty_aws(
    stack: LocalStack, aws: LocalAwsEndpoint, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FaultyAwsProxy]:
    """The stack, with the functions' AWS calls passing through a fault-injecting proxy (the
    test's own calls through ``stack.aws`` still go straight to the moto server)."""
    with FaultyAwsProxy(aws.url) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        reset_app()
        yield proxy
    reset_app()


@pytest.fixture
def context() -> LocalLambdaContext:
    """A Lambda context with 30 s to go."""
    return LocalLambdaContext()


def sqs_record(body: str | dict[str, Any], message_id: str, **attributes: str) -> dict[str, Any]:
    """An SQS record as the event source mapping delivers it."""
    text = body if isinstance(body, str) else json.dumps(body)
    return {
        "messageId": message_id,
        "receiptHandle": f"rh-{message_id}",
        "body": text,
        "attributes": {"ApproximateReceiveCount": "1", **attributes},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:masking-unset-queue",
        "awsRegion": "us-east-1",
    }
