"""The per-container token bucket's rate, burst and pause on a fake clock, its thread safety,
the pacer needing both slots, and the wiring of DEEPCALL_MAX_RPS(_PER_CONTAINER) into the
DeepCall client (a 429 pauses the pacer), the container and the SQS batch."""

from __future__ import annotations

import io
import json
import math
import threading
from typing import Any, cast

import pytest
import requests
from requests.structures import CaseInsensitiveDict

from masking_unset.app import RATE_LIMIT_MAX_WAIT_SECONDS, App
from masking_unset.clients.deepcall import DeepCallClient
from masking_unset.clients.fleet_rate import FleetRateLimiter
from masking_unset.config import Settings
from masking_unset.handlers.sqs import read_record
from masking_unset.logic.batch import BatchProcessor
from masking_unset.logic.expiry import MaskingExpirer
from masking_unset.logic.failures import FailureKind, classify
from masking_unset.logic.ratelimit import BothPacers, TokenBucket
from masking_unset.logic.retry import RetryPolicy
from masking_unset.models.budget import Deadline
from masking_unset.models.deepcall import SsidCredentials, UnsetTarget
from masking_unset.models.errors import UpstreamUnavailable

BASE = {"DEEPCALL_BASE_URL": "https://api.example.com", "DEEPCALL_SECRET_ID": "arn:secret"}


class FakeClock:
    """A clock that only moves when told to; ``sleep`` moves it (single-threaded tests)."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def bucket(rate: float, clock: FakeClock, **kwargs: Any) -> TokenBucket:
    return TokenBucket(rate, clock=clock, sleep=clock.sleep, **kwargs)


def test_a_fresh_bucket_lets_its_burst_through_then_spaces_by_the_rate() -> None:
    clock = FakeClock()
    limiter = bucket(4.0, clock, burst=3)
    waits = [limiter.reserve() for _ in range(6)]
    assert waits == pytest.approx([0.0, 0.0, 0.0, 0.25, 0.5, 0.75])


def test_acquisitions_follow_the_rate_over_a_long_run() -> None:
    clock = FakeClock()
    start = clock.now
    limiter = bucket(10.0, clock, burst=2)
    granted: list[float] = []
    for _ in range(200):
        assert limiter.acquire()
        granted.append(clock.now - start)
    # The burst goes at once, then exactly one every 1/rate seconds.
    expected = [max(0.0, (k - 1) / 10.0) for k in range(200)]
    assert granted == pytest.approx(expected)
    # In no window of any length T do more than burst + rate * T requests start.
    for i in range(len(granted)):
        for j in range(i, len(granted)):
            assert j - i + 1 <= 2 + 10.0 * (granted[j] - granted[i]) + 1e-9


def test_idle_time_refills_only_up_to_the_burst() -> None:
    clock = FakeClock()
    limiter = bucket(1.0, clock, burst=2)
    assert [limiter.reserve() for _ in range(2)] == [0.0, 0.0]
    clock.now += 3600  # an hour idle must not allow 3,600 requests at once
    assert [limiter.reserve() for _ in range(3)] == pytest.approx([0.0, 0.0, 1.0])


def test_fractional_rates_space_requests_by_more_than_a_second() -> None:
    clock = FakeClock()
    limiter = bucket(0.5, clock)
    assert [limiter.reserve() for _ in range(3)] == pytest.approx([0.0, 2.0, 4.0])


def test_a_wait_longer_than_max_wait_is_refused_without_taking_a_token() -> None:
    clock = FakeClock()
    limiter = bucket(2.0, clock, max_wait=0.6)
    assert limiter.acquire()  # the burst
    assert limiter.acquire()  # waits 0.5 s
    assert clock.slept == pytest.approx([0.5])
    # The next slot is 0.5 s away; a queue of two would need 1.0 s.
    assert limiter.reserve() == pytest.approx(0.5)
    assert limiter.acquire() is False
    assert clock.slept == pytest.approx([0.5])  # refused at once, no sleep
    assert limiter.wait_time() == pytest.approx(1.0)
    clock.now += 1.0
    assert limiter.reserve() == pytest.approx(0.0)  # the refusal took nothing


def test_concurrent_callers_never_share_a_slot() -> None:
    clock = FakeClock()
    recorded: list[float] = []
    lock = threading.Lock()
    limiter = TokenBucket(5.0, burst=2, clock=clock, sleep=lambda s: None)

    def take(count: int) -> None:
        for _ in range(count):
            wait = limiter.reserve()
            assert wait is not None
            with lock:
                recorded.append(wait)

    threads = [threading.Thread(target=take, args=(50,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # The clock never moved: 400 reservations must be 400 distinct slots 1/rate apart.
    expected = [0.0, 0.0] + [k / 5.0 for k in range(1, 399)]
    assert sorted(recorded) == pytest.approx(expected)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rate": 0.0},
        {"rate": -1.0},
        {"rate": math.inf},
        {"rate": math.nan},
        {"rate": 1.0, "burst": 0.5},
        {"rate": 1.0, "max_wait": -1.0},
    ],
)
def test_nonsense_parameters_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"rate|burst|max_wait"):
        TokenBucket(**kwargs)


def test_a_pause_frees_no_token_until_it_ends() -> None:
    clock = FakeClock()
    pacer = bucket(10.0, clock, max_wait=0.5)
    pacer.pause(2.0)
    assert pacer.wait_time() == pytest.approx(2.0)
    assert not pacer.acquire()
    clock.now += 1.6
    assert pacer.acquire()  # waits the last 0.4 s
    assert clock.now == pytest.approx(1002.0)
    pacer.pause(0.0)  # nothing asked: nothing changes
    pacer.pause(float("nan"))
    assert pacer.wait_time() == pytest.approx(0.1)


def test_both_pacers_need_a_slot_from_each_and_wait_for_the_longer() -> None:
    clock = FakeClock()
    own = bucket(2.0, clock, max_wait=1.0)
    shared = bucket(4.0, clock, max_wait=1.0)
    both = BothPacers(own, shared, clock=clock, sleep=clock.sleep)
    assert both.acquire()
    assert both.acquire()  # own: 0.5 s later; shared: 0.25 s; both overlap: 0.5 s in all
    assert clock.now == pytest.approx(1000.5)
    shared.pause(3.0)
    assert not both.acquire()  # the shared one refuses
    assert both.wait_time() == pytest.approx(3.0)
    both.pause(5.0)
    assert own.wait_time() == pytest.approx(5.0)


# -- wiring ----------------------------------------------------------------------------------


class FakeSession:
    """Records posts (and the order of events) and answers DeepCall's success body."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.bodies: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def post(self, url: str, *, json: dict[str, Any], **kwargs: object) -> requests.Response:
        with self._lock:
            self.log.append("post")
            self.bodies.append(json)
        response = requests.Response()
        response.status_code = 200
        response.headers = CaseInsensitiveDict({"Content-Type": "application/json"})
        # Read as a stream, as the client asks for (stream=True).
        response.raw = io.BytesIO(b'{"status": "success", "message": "Your masking unset"}')
        return response


class FakePacer:
    def __init__(self, log: list[str], *, grant: bool) -> None:
        self.log = log
        self.grant = grant

    def acquire(self) -> bool:
        self.log.append("acquire")
        return self.grant

    def wait_time(self) -> float:
        return 0.75

    def pause(self, seconds: float) -> None:
        self.log.append(f"pause {seconds:g}")


CREDENTIALS = SsidCredentials.model_validate({"ssid": "s-1"})
TARGET = UnsetTarget(mask="8040001234")


def client(session: FakeSession, pacer: Any) -> DeepCallClient:
    return DeepCallClient(
        "https://api.example.com", session=cast(requests.Session, session), pacer=pacer
    )


def test_the_pacer_is_asked_before_every_request() -> None:
    log: list[str] = []
    deepcall = client(FakeSession(log), FakePacer(log, grant=True))
    for _ in range(3):
        assert deepcall.unset(CREDENTIALS, TARGET).succeeded
    assert log == ["acquire", "post"] * 3


def test_no_slot_in_time_is_a_retryable_failure_and_sends_nothing() -> None:
    log: list[str] = []
    deepcall = client(FakeSession(log), FakePacer(log, grant=False))
    with pytest.raises(UpstreamUnavailable) as caught:
        deepcall.unset(CREDENTIALS, TARGET)
    assert log == ["acquire"]
    assert caught.value.code == "rate_limited"
    assert caught.value.retry_after == 0.75
    assert classify(caught.value) is FailureKind.RETRYABLE
    # The retry policy waits for the slot (capped) rather than a random backoff.
    assert RetryPolicy(retry_after_cap=5.0).backoff(1, caught.value) == 0.75


class ThrottledSession(FakeSession):
    """Answers every post with ``status`` and these headers."""

    def __init__(self, log: list[str], status: int, headers: dict[str, str]) -> None:
        super().__init__(log)
        self.status, self.headers = status, headers

    def post(self, url: str, *, json: dict[str, Any], **kwargs: object) -> requests.Response:
        response = super().post(url, json=json, **kwargs)
        response.status_code = self.status
        response.headers.update(self.headers)
        response._content = b'{"message": "Too Many Requests"}'
        return response


@pytest.mark.parametrize(
    ("status", "headers", "paused"),
    [
        (429, {"Retry-After": "7"}, ["pause 7"]),
        (429, {}, ["pause 1"]),  # no Retry-After: a second
        (429, {"Retry-After": "99999"}, ["pause 3600"]),  # the client's cap
        (503, {"Retry-After": "2"}, ["pause 2"]),
        (503, {}, []),  # an outage, not a request to slow down: the breaker's business
        (500, {"Retry-After": "2"}, []),
    ],
)
def test_deepcall_asking_to_slow_down_pauses_the_pacer(
    status: int, headers: dict[str, str], paused: list[str]
) -> None:
    log: list[str] = []
    deepcall = client(ThrottledSession(log, status, headers), FakePacer(log, grant=True))
    with pytest.raises(UpstreamUnavailable):
        deepcall.unset(CREDENTIALS, TARGET)
    assert log == ["acquire", "post", *paused]


def test_without_a_pacer_requests_go_straight_out() -> None:
    log: list[str] = []
    deepcall = client(FakeSession(log), None)
    deepcall.unset(CREDENTIALS, TARGET)
    assert log == ["post"]


def test_the_container_shares_one_bucket_when_a_rate_is_set() -> None:
    app = App(Settings.from_env({**BASE, "DEEPCALL_MAX_RPS_PER_CONTAINER": "2.5"}))
    pacer = app.pacer
    assert isinstance(pacer, TokenBucket)
    assert (pacer.rate, pacer.burst, pacer.max_wait) == (2.5, 1.0, RATE_LIMIT_MAX_WAIT_SECONDS)
    assert app.deepcall._pacer is pacer
    assert app.pacer is pacer  # once per container
    assert app.budget.deepcall_attempt == pytest.approx(1.0 + 3.05 + 5.0)


def test_without_a_fleet_table_the_deployment_rate_is_a_bucket_per_container() -> None:
    app = App(Settings.from_env({**BASE, "DEEPCALL_MAX_RPS": "2.5"}))
    assert isinstance(app.pacer, TokenBucket)
    assert app.pacer.rate == 2.5


def test_with_a_fleet_table_the_deployment_rate_is_the_fleets() -> None:
    env = {**BASE, "DEEPCALL_MAX_RPS": "20", "FLEET_STATE_TABLE": "fleet"}
    app = App(Settings.from_env({**env, "AWS_DEFAULT_REGION": "us-east-1"}))
    pacer = app.pacer
    assert isinstance(pacer, FleetRateLimiter)
    assert (pacer.rate, pacer.account, pacer.max_wait) == (20, "default", 1.0)
    assert app.deepcall._pacer is pacer
    assert app.budget.deepcall_attempt == pytest.approx(3.5 + 3.05 + 5.0)
    both = App(Settings.from_env({**env, "DEEPCALL_MAX_RPS_PER_CONTAINER": "5"})).pacer
    assert isinstance(both, BothPacers)
    assert isinstance(both.fleet, FleetRateLimiter)
    assert both.bucket.rate == 5


def test_the_fleet_client_makes_one_short_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")  # a client is built only with credentials
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    app = App(Settings.from_env({**BASE, "DEEPCALL_MAX_RPS": "20", "FLEET_STATE_TABLE": "t"}))
    config = app._fleet_rate_client().meta.config
    assert config.retries == {"mode": "standard", "total_max_attempts": 1}
    assert (config.connect_timeout, config.read_timeout) == (0.5, 0.5)


@pytest.mark.parametrize(
    "environ", [BASE, {**BASE, "DEEPCALL_MAX_RPS": "0"}, {**BASE, "DEEPCALL_MAX_RPS": "inf"}]
)
def test_zero_unset_or_infinite_means_unlimited(environ: dict[str, str]) -> None:
    app = App(Settings.from_env(environ))
    assert app.pacer is None
    assert app.deepcall._pacer is None


class FakeSecrets:
    def get_json(self, secret_id: str, *, variable: str, refresh: bool = False) -> dict[str, Any]:
        return {"ssid": "s-1"}


def sqs_record(index: int) -> dict[str, Any]:
    body = {"event_id": f"evt-{index}", "mask": f"+91 80 4000 {index:04d}"}
    return {
        "messageId": f"m-{index}",
        "receiptHandle": f"rh-{index}",
        "body": json.dumps(body),
        "attributes": {"ApproximateReceiveCount": "1"},
    }


def test_records_refused_by_the_pacer_are_exactly_those_handed_back() -> None:
    # Three slots and no waiting: of six concurrent records, three are sent and three come back.
    log: list[str] = []
    session = FakeSession(log)
    clock = FakeClock()
    pacer = TokenBucket(1.0, burst=3, max_wait=0.0, clock=clock, sleep=clock.sleep)
    settings = Settings.from_env(BASE)
    service = MaskingExpirer(
        settings,
        FakeSecrets(),
        client(session, pacer),
        retry=RetryPolicy(max_attempts=1),
    )
    batch = BatchProcessor(service, dead_letters=None, visibility=None, max_concurrency=6)
    failed = batch.process([read_record(sqs_record(i)) for i in range(6)], Deadline())
    sent = {body["mask"] for body in session.bodies}
    assert len(sent) == 3
    assert len(failed) == 3
    assert {f"804000{int(m.removeprefix('m-')):04d}" for m in failed}.isdisjoint(sent)
