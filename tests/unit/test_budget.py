"""The invocation's clock: the AWS clients' configuration, the time budget's figures, and worst
cases of a whole webhook invocation on a fake clock (every AWS call and DeepCall attempt taking
as long as its timeouts and retries allow) ending before the function's timeout."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from masking_unset.app import App
from masking_unset.clients.aws import aws_client_config
from masking_unset.clients.idempotency import DynamoDBIdempotency
from masking_unset.config import Settings
from masking_unset.handlers.apigw import to_request
from masking_unset.handlers.receiver import WebhookReceiver
from masking_unset.logic.expiry import MaskingExpirer
from masking_unset.logic.retry import RetryPolicy
from masking_unset.models.budget import (
    AWS_CONNECT_TIMEOUT_SECONDS,
    AWS_MAX_ATTEMPTS,
    AWS_READ_TIMEOUT_SECONDS,
    WEBHOOK_TIMEOUT_SECONDS,
    Deadline,
    TimeBudget,
    aws_call_seconds,
)
from masking_unset.models.deepcall import DeepCallCredentials, DeepCallReply, UnsetTarget
from masking_unset.models.errors import UpstreamUnavailable
from masking_unset.models.http import WebhookResponse
from masking_unset_tools.local.stack import DEMO_HASH_KEY, DEMO_SOURCE_SECRETS, DEMO_SSID
from tests.integration.helpers import gateway_event

ENV = {
    "DEEPCALL_BASE_URL": "https://api.example.com",
    "DEEPCALL_SECRET_ID": "deepcall",
    "WEBHOOK_SECRETS_ID": "webhooks",
    "IDEMPOTENCY_TABLE": "idempotency",
    "HASH_KEY_SECRET_ID": "hash-key",
}
TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


def function_timeouts() -> tuple[int, int]:
    """The queue function's timeout (the Globals one) and the webhook function's own."""
    found = [int(t) for t in re.findall(r"^\s+Timeout: (\d+)$", TEMPLATE.read_text(), re.M)]
    queue, webhook = found[0], found[1]
    return queue, webhook


def test_the_webhook_timeout_the_settings_are_checked_against_is_the_templates() -> None:
    assert function_timeouts()[1] == WEBHOOK_TIMEOUT_SECONDS


def test_one_aws_call_is_two_attempts_of_connect_and_read_plus_one_throttling_backoff() -> None:
    assert (AWS_MAX_ATTEMPTS, AWS_CONNECT_TIMEOUT_SECONDS, AWS_READ_TIMEOUT_SECONDS) == (
        2,
        0.5,
        1.0,
    )
    assert aws_call_seconds() == 2 * (0.5 + 1.0) + 1.0
    assert aws_call_seconds(attempts=4, connect=1, read=1) == 4 * 2 + (1 + 2 + 4)


def test_every_client_of_the_container_has_the_configuration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # A client is only built with credentials to sign with (never used here: nothing is sent).
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    app = App(Settings.from_env({**ENV, "MAX_CONCURRENCY": "25"}))
    for service in ("secretsmanager", "dynamodb", "sqs"):
        config = app._client(service).meta.config
        assert config.retries == {"mode": "standard", "total_max_attempts": 2}
        assert (config.connect_timeout, config.read_timeout) == (0.5, 1.0)
        assert config.max_pool_connections == 25
    assert aws_client_config().max_pool_connections == 10


def test_the_figures_for_the_default_settings() -> None:
    budget = TimeBudget.from_settings(Settings.from_env(ENV))
    assert budget.aws_call == 4.0
    assert budget.deepcall_attempt == pytest.approx(8.05)
    assert budget.hand_on == 8.5  # the retry policy's safety margin
    assert budget.aws_step == 12.5
    assert budget.event_start == pytest.approx(16.55)  # the batch's start budget
    paced = TimeBudget.from_settings(Settings.from_env(ENV), paced=True)
    assert paced.event_start == pytest.approx(17.55)
    # The fleet's slots: the wait, one table write (1 s at most), a 429's pause writes (1.5 s).
    shared = TimeBudget.from_settings(Settings.from_env(ENV), paced=True, shared=True)
    assert shared.deepcall_attempt == pytest.approx(11.55)
    assert shared.event_start == pytest.approx(20.05)


def test_the_default_budget_fits_the_template_timeouts() -> None:
    queue, webhook = function_timeouts()
    assert (queue, webhook) == (30, 25)
    budget = TimeBudget.from_settings(Settings.from_env(ENV), paced=True, shared=True)
    # After the webhook's own secret read at its slowest, an event can still start...
    assert budget.aws_call + budget.event_start <= webhook
    # ...and every step's requirement is met by what an invocation starts with.
    assert budget.event_start <= queue


class Clock:
    """Fake time: AWS and DeepCall fakes move it by the time they take."""

    def __init__(self, timeout: float) -> None:
        self.now = 0.0
        self.timeout = timeout

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout - self.now) * 1000))


class Secrets:
    def __init__(self, clock: Clock, seconds: float) -> None:
        self.clock, self.seconds = clock, seconds

    def get_json(self, secret_id: str, *, variable: str, refresh: bool = False) -> dict[str, Any]:
        self.clock.advance(self.seconds)
        if secret_id == "webhooks":
            return dict(DEMO_SOURCE_SECRETS)
        if secret_id == "hash-key":
            return {"key": DEMO_HASH_KEY}
        return {"ssid": DEMO_SSID}


class DeepCall:
    def __init__(self, clock: Clock, seconds: float, *, succeed: bool) -> None:
        self.clock, self.seconds, self.succeed = clock, seconds, succeed
        self.calls = 0

    def unset(
        self,
        credentials: DeepCallCredentials,
        target: UnsetTarget,
        expiry_duration: int = -1,
        *,
        time_limit: float | None = None,
    ) -> DeepCallReply:
        self.calls += 1
        self.clock.advance(self.seconds)
        if not self.succeed:
            raise UpstreamUnavailable("DeepCall did not answer in time", code="upstream_timeout")
        return DeepCallReply(status="success")


class Table:
    """A DynamoDB client whose calls take ``seconds`` and, for ``failing`` operations, then fail
    as throttled."""

    def __init__(self, clock: Clock, seconds: float, failing: set[str]) -> None:
        self.clock, self.seconds, self.failing = clock, seconds, failing
        self.calls: list[str] = []

    def _call(self, operation: str) -> dict[str, Any]:
        self.calls.append(operation)
        self.clock.advance(self.seconds)
        if operation in self.failing:
            error = {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}
            raise ClientError({"Error": error}, operation)  # type: ignore[typeddict-item]
        return {}

    def put_item(self, **kwargs: Any) -> dict[str, Any]:
        return self._call("PutItem")

    def update_item(self, **kwargs: Any) -> dict[str, Any]:
        return self._call("UpdateItem")

    def delete_item(self, **kwargs: Any) -> dict[str, Any]:
        return self._call("DeleteItem")


class Queue:
    is_fifo = False

    def __init__(self, clock: Clock, seconds: float) -> None:
        self.clock, self.seconds = clock, seconds
        self.sent = 0

    def send(self, body: str, **kwargs: Any) -> str:
        self.clock.advance(self.seconds)
        self.sent += 1
        return "m-1"


def run_webhook(
    *, secrets: float, table: float, failing: set[str], deepcall: float, succeed: bool
) -> tuple[Clock, WebhookResponse, DeepCall, Queue]:
    """One webhook invocation of 25 s on the fake clock, every AWS call taking ``table`` (or
    ``secrets``) seconds."""
    settings = Settings.from_env(ENV)
    budget = TimeBudget.from_settings(settings)
    clock = Clock(timeout=function_timeouts()[1])
    guard = DynamoDBIdempotency(
        Table(clock, table, failing),  # type: ignore[arg-type]
        "idempotency",
        window_seconds=3600,
        budget=budget,
        sleep=clock.advance,
    )
    guard.register(clock)  # type: ignore[arg-type]
    caller = DeepCall(clock, deepcall, succeed=succeed)
    reader = Secrets(clock, secrets)
    retry = RetryPolicy(
        attempt_budget=budget.deepcall_attempt, safety_margin=budget.hand_on, sleep=clock.advance
    )
    service = MaskingExpirer(
        settings, reader, caller, idempotency=guard, retry=retry, budget=budget
    )
    fallback = Queue(clock, table)
    receiver = WebhookReceiver(settings, reader, service, fallback=fallback, budget=budget)
    request = to_request(gateway_event({"event_id": "e-1", "mask": "+91 80 4000 1234"}))
    response = receiver.receive(request, Deadline(clock.get_remaining_time_in_millis))
    return clock, response, caller, fallback


def test_worst_case_table_failing_on_every_call() -> None:
    clock, response, deepcall, queue = run_webhook(
        secrets=4.0, table=4.0, failing={"PutItem", "DeleteItem"}, deepcall=8.05, succeed=True
    )
    assert response.status == 202  # queued
    assert deepcall.calls == 0
    assert queue.sent == 1
    assert clock.now <= clock.timeout - 0.5


def test_worst_case_slow_steps_leave_no_time_for_deepcall() -> None:
    # Every AWS call as slow as it can be: DeepCall is never started, the event is handed on.
    clock, response, deepcall, queue = run_webhook(
        secrets=4.0, table=4.0, failing=set(), deepcall=8.05, succeed=True
    )
    assert response.status == 202
    assert "not enough time left" in response.body  # queued, with its reason
    assert deepcall.calls == 0
    assert queue.sent == 1
    assert clock.now <= clock.timeout - 0.5


def test_worst_case_deepcall_timing_out_then_slow_release_and_send() -> None:
    clock, response, deepcall, queue = run_webhook(
        secrets=0.0, table=4.0, failing=set(), deepcall=8.05, succeed=False
    )
    assert deepcall.calls >= 1
    assert response.status == 202
    assert queue.sent == 1
    assert clock.now <= clock.timeout - 0.5


def test_worst_case_success_with_the_completion_write_failing_slowly() -> None:
    clock, response, deepcall, queue = run_webhook(
        secrets=0.0, table=4.0, failing={"UpdateItem"}, deepcall=8.05, succeed=True
    )
    assert response.status == 200
    assert '"unset"' in response.body
    assert deepcall.calls == 1
    assert queue.sent == 0
    assert clock.now <= clock.timeout - 0.5
