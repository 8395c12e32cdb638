"""One DeepCall rate for the deployment (clients/fleet_rate.py) on the moto server: the limiter
with a fake clock, then several containers (each its own App, boto3 clients and limiter) at once
against the DeepCall stand-in."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import pytest

from masking_unset.app import App
from masking_unset.clients.fleet_rate import (
    TABLE_RETRY_SECONDS,
    FleetRateLimiter,
)
from masking_unset.config import Settings
from masking_unset.handlers.sqs import read_record
from masking_unset.logic.ratelimit import TokenBucket
from masking_unset.models.budget import Deadline
from masking_unset.models.deepcall import SsidCredentials, UnsetTarget
from masking_unset.models.errors import UpstreamUnavailable
from masking_unset.observability import metrics
from masking_unset_tools.local.aws_endpoint import LocalAwsEndpoint
from masking_unset_tools.local.stack import DEMO_SSID, LocalStack
from tests.conftest import sqs_record
from tests.support.deepcall import Fault, ScriptedDeepCall
from tests.support.logs import captured_logs

START = 1_000_000.0  # a window boundary


class FakeClock:
    """Wall time that moves only when slept on (shared by every limiter of a test)."""

    def __init__(self, now: float = START) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class TickingClock(FakeClock):
    """A clock that moves 0.3 s each time it is read."""

    def __call__(self) -> float:
        self.now += 0.3
        return self.now


@pytest.fixture
def table(aws: LocalAwsEndpoint) -> str:
    name = f"fleet-{uuid.uuid4().hex[:8]}"
    aws.client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def limiter(
    aws: LocalAwsEndpoint, table: str, rate: float, clock: FakeClock, **kwargs: Any
) -> FleetRateLimiter:
    """A limiter with its own boto3 client, as in another container."""
    fallback = TokenBucket(rate, max_wait=kwargs.get("max_wait", float("inf")), clock=clock)
    return FleetRateLimiter(
        aws.client("dynamodb"),
        table,
        rate,
        fallback=fallback,
        clock=clock,
        sleep=clock.sleep,
        **kwargs,
    )


def window_item(aws: LocalAwsEndpoint, table: str, window: int) -> dict[str, Any] | None:
    found = aws.client("dynamodb").get_item(
        TableName=table, Key={"id": {"S": f"rate#default#{window}"}}, ConsistentRead=True
    )
    item: dict[str, Any] | None = found.get("Item")
    return item


# -- the limiter, with a fake clock -------------------------------------------------------------


def test_containers_share_one_evenly_spaced_sequence_of_slots(
    aws: LocalAwsEndpoint, table: str
) -> None:
    clock = FakeClock()
    first, second = limiter(aws, table, 4, clock), limiter(aws, table, 4, clock)
    granted = []
    for i in range(12):
        assert (first if i % 2 else second).acquire()
        granted.append(clock.now - START)
    # Four slots a second, 1/4 s apart, whichever container asks: one sequence for the fleet.
    assert granted == [pytest.approx(i / 4) for i in range(12)]
    item = window_item(aws, table, int(START))
    assert item is not None
    assert item["n"] == {"N": "4"}
    assert int(item["expiration"]["N"]) >= START + 1 + 60  # kept a few minutes, then TTL


def test_a_slot_later_than_max_wait_is_refused_and_takes_nothing(
    aws: LocalAwsEndpoint, table: str
) -> None:
    clock = FakeClock()
    pacer = limiter(aws, table, 2, clock, max_wait=0.4)
    assert pacer.acquire()
    assert not pacer.acquire()  # the next slot is 0.5 s away
    assert pacer.wait_time() == pytest.approx(0.5)
    assert window_item(aws, table, int(START))["n"] == {"N": "1"}  # type: ignore[index]
    assert clock.slept == []
    clock.now += 0.5
    assert pacer.acquire()
    assert window_item(aws, table, int(START))["n"] == {"N": "2"}  # type: ignore[index]


def test_a_full_window_sends_the_request_to_the_next_one(aws: LocalAwsEndpoint, table: str) -> None:
    clock = FakeClock(START + 0.6)
    pacer = limiter(aws, table, 2, clock, max_wait=1.0)
    assert pacer.acquire()
    assert pacer.acquire()  # both slots of the window are in the past: no wait
    assert clock.now == START + 0.6
    assert pacer.acquire()  # the window is full: the next one's first slot
    assert clock.now == pytest.approx(START + 1.0)


def test_a_fractional_rate_uses_longer_windows(aws: LocalAwsEndpoint, table: str) -> None:
    clock = FakeClock()
    pacer = limiter(aws, table, 0.5, clock)
    assert (pacer.window, pacer.slots) == (2.0, 1)
    for expected in (0.0, 2.0, 4.0):
        assert pacer.acquire()
        assert clock.now - START == pytest.approx(expected)


def test_a_pause_stops_every_container_until_it_ends(aws: LocalAwsEndpoint, table: str) -> None:
    clock = FakeClock()
    told, other = (limiter(aws, table, 10, clock, max_wait=1.0) for _ in range(2))
    told.pause(3.0)  # DeepCall answered 429 with Retry-After: 3 to this container
    assert not told.acquire()
    assert told.wait_time() == pytest.approx(3.0)
    clock.now += 0.1
    assert not other.acquire()  # it learns the pause from the window it tries
    assert other.wait_time() == pytest.approx(2.9, abs=0.01)
    clock.now = START + 1.5
    assert not other.acquire()  # still paused for longer than max_wait: refused at once
    clock.now = START + 2.5
    fresh = limiter(aws, table, 10, clock, max_wait=1.0)  # a container started meanwhile
    assert fresh.acquire()  # learns the pause and waits it out: within max_wait
    assert clock.now >= START + 3.0
    assert other.acquire()
    assert told.acquire()
    assert clock.now < START + 3.5


def test_a_long_pause_marks_a_bounded_number_of_windows(aws: LocalAwsEndpoint, table: str) -> None:
    clock = FakeClock()
    limiter(aws, table, 10, clock, max_pause_windows=5).pause(3600)
    assert window_item(aws, table, int(START) + 4) is not None
    assert window_item(aws, table, int(START) + 5) is None


def test_marking_a_pause_stops_after_its_time(aws: LocalAwsEndpoint, table: str) -> None:
    clock = TickingClock()  # each look at the clock takes 0.3 s: marking is slow
    limiter(aws, table, 10, clock, pause_write_seconds=1.0).pause(60)
    marked = [window_item(aws, table, int(START) + k) is not None for k in range(8)]
    assert marked[0]  # the window it stopped in, first
    assert 1 <= sum(marked) <= 4  # not the whole minute
    assert marked == sorted(marked, reverse=True)  # the nearest ones


def test_a_failing_table_falls_back_to_the_container_bucket_and_warns_once(
    aws: LocalAwsEndpoint,
) -> None:
    clock = FakeClock()
    name = f"fleet-missing-{uuid.uuid4().hex[:8]}"
    pacer = limiter(aws, name, 2, clock, max_wait=1.0)
    metrics.clear_metrics()
    with captured_logs() as logs:
        assert pacer.acquire()  # the bucket's burst of one
        assert pacer.acquire()  # then its rate: 0.5 s later
        assert clock.now == pytest.approx(START + 0.5)
        pacer.pause(2.0)  # the bucket pauses too
        assert not pacer.acquire()
    warnings = [json.loads(line) for line in logs.getvalue().splitlines()]
    assert [w["message"] for w in warnings] == [
        "FLEET_STATE_TABLE failed: pacing DeepCall per container at DEEPCALL_MAX_RPS"
    ]
    assert warnings[0]["error"] == "ResourceNotFoundException"
    assert sum(metrics.metric_set["FleetRateUnavailable"]["Value"]) >= 1
    metrics.clear_metrics()
    # Once the table answers again, the container goes back to the fleet's slots.
    aws.client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    clock.now += TABLE_RETRY_SECONDS
    assert pacer.acquire()
    assert window_item(aws, name, int(clock.now)) is not None


# -- several containers at once, over HTTP ------------------------------------------------------

RATE = 20
CREDENTIALS = SsidCredentials.model_validate({"ssid": DEMO_SSID})


def container_env(stack: LocalStack, **extra: str) -> dict[str, str]:
    env = {**stack.env(), "DEEPCALL_MAX_RPS": str(RATE), "MAX_CONCURRENCY": "4", **extra}
    env.pop("IDEMPOTENCY_TABLE", None)  # at-most-once is not what these tests look at
    return env


@pytest.fixture
def region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


def run_containers(apps: list[App], masks_per_app: int) -> None:
    """Each container processes its own SQS batch in its own thread, and gets the records it
    handed back again, as SQS would deliver them (bounded)."""
    errors: list[BaseException] = []

    def container(index: int, app: App) -> None:
        try:
            records = [
                read_record(
                    sqs_record(
                        {"event_id": f"c{index}-{i}", "mask": mask(index, i)}, f"c{index}-{i}"
                    )
                )
                for i in range(masks_per_app)
            ]
            for _ in range(20):
                failed = set(app.batch.process(records, Deadline()))
                records = [r for r in records if r.message_id in failed]
                if not records:
                    return
            raise AssertionError(f"container {index} never finished")
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=container, args=(i, app)) for i, app in enumerate(apps)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors


def mask(container: int, index: int) -> str:
    return f"80{container:02d}00{index:04d}"


def test_several_containers_together_keep_to_the_deployment_rate(
    stack: LocalStack, deepcall: ScriptedDeepCall, region: None
) -> None:
    apps = [App(Settings.from_env(container_env(stack))) for _ in range(4)]
    assert len({id(app.pacer) for app in apps}) == 4
    assert all(isinstance(app.pacer, FleetRateLimiter) for app in apps)
    run_containers(apps, masks_per_app=15)
    assert sum(deepcall.expired.values()) == 60
    arrived = deepcall.received_at
    assert len(arrived) == 60
    # Slots are 1/RATE apart and no one-second window hands out more than RATE, so any run of
    # requests from the i-th to the j-th arrival fits RATE * (span + 1 s); half a second more
    # for the network and a busy machine. Four containers each at RATE would send the 60 in
    # under a second, far over this bound.
    for i in range(len(arrived)):
        for j in range(i, len(arrived)):
            assert j - i + 1 <= RATE * (arrived[j] - arrived[i] + 1.5) + 1, (i, j)


def test_a_429_to_one_container_pauses_the_others(
    stack: LocalStack, deepcall: ScriptedDeepCall, region: None
) -> None:
    told, other = (App(Settings.from_env(container_env(stack))) for _ in range(2))
    deepcall.enqueue(Fault.retry_after(2))
    with pytest.raises(UpstreamUnavailable) as caught:
        told.deepcall.unset(CREDENTIALS, UnsetTarget(mask="8040001234"))
    assert caught.value.http_status == 429
    [throttled] = deepcall.received_at
    with pytest.raises(UpstreamUnavailable) as refused:
        other.deepcall.unset(CREDENTIALS, UnsetTarget(mask="8040001235"))
    assert refused.value.code == "rate_limited"  # nothing sent: the fleet is paused
    assert len(deepcall.unset_calls) == 1
    assert refused.value.retry_after is not None
    assert refused.value.retry_after > 1.0
    # The queue path waits for the pause and then expires both, after it ended.
    run_containers([told, other], masks_per_app=2)
    later = deepcall.received_at[1:]
    assert len(later) == 4
    assert min(later) >= throttled + 2.0


def test_a_failing_fleet_table_never_stops_expiries(
    stack: LocalStack, deepcall: ScriptedDeepCall, region: None
) -> None:
    env = container_env(stack, FLEET_STATE_TABLE=f"missing-{uuid.uuid4().hex[:8]}")
    apps = [App(Settings.from_env(env)) for _ in range(2)]
    with captured_logs() as logs:
        run_containers(apps, masks_per_app=5)
    assert sum(deepcall.expired.values()) == 10
    warned = [line for line in logs.getvalue().splitlines() if "FLEET_STATE_TABLE failed" in line]
    assert len(warned) == 2  # once per container
    metrics.clear_metrics()
