"""The DeepCall stand-in over real HTTP on loopback: what the other tests rely on it for (its
answers, what it records, its faults on the wire, and stopping with requests in flight)."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from masking_unset_tools.local.deepcall_standin import (
    DEFAULT_ALREADY_DONE_REPLY,
    UNSET_PATH,
    DeepCallStandIn,
    Fault,
)
from tests.support.deepcall import ScriptedDeepCall

SSID = "demo"
JOIN_TIMEOUT = 5.0


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        # Loopback only: an HTTP(S)_PROXY in the environment must not capture these calls.
        session.trust_env = False
        yield session


@pytest.fixture
def standin() -> Iterator[ScriptedDeepCall]:
    with ScriptedDeepCall(credentials={"ssid": SSID}) as server:
        yield server


def unset(
    http: requests.Session,
    standin: DeepCallStandIn,
    body: Any | None = None,
    *,
    timeout: float = 5.0,
    **fields: Any,
) -> requests.Response:
    payload = body if body is not None else {"ssid": SSID, "expiry_duration": -1, **fields}
    return http.post(f"{standin.base_url}{UNSET_PATH}", json=payload, timeout=timeout)


def test_success_is_answered_and_recorded(http: requests.Session, standin: DeepCallStandIn) -> None:
    response = unset(http, standin, mask="9000000001")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"status": "success", "message": "Your masking unset"}
    [call] = standin.unset_calls
    assert call.method == "POST"
    assert call.path == UNSET_PATH
    assert call.json == {"ssid": SSID, "expiry_duration": -1, "mask": "9000000001"}
    assert call.headers["Content-Type"] == "application/json"
    assert standin.requests == [call]
    assert standin.expired == {"9000000001": 1}


def test_m1_m2_key_and_unquoted_numbers(http: requests.Session, standin: DeepCallStandIn) -> None:
    response = unset(http, standin, m1=9876543210, m2="9123456780")

    assert response.json()["status"] == "success"
    assert standin.expired == {"9876543210|9123456780": 1}


def test_second_unset_answers_already_done(
    http: requests.Session, standin: DeepCallStandIn
) -> None:
    assert unset(http, standin, mask="9000000001").json()["status"] == "success"
    second = unset(http, standin, mask="9000000001")

    assert second.status_code == 200
    assert second.json() == DEFAULT_ALREADY_DONE_REPLY
    assert standin.expired["9000000001"] == 1


def test_inactive_target_gets_the_configured_reply(http: requests.Session) -> None:
    reply = {"status": "error", "code": 1503, "message": "already expired"}
    with DeepCallStandIn(active={"9000000001"}, already_done_reply=reply) as server:
        known = unset(http, server, mask="9000000001")
        unknown = unset(http, server, mask="9000000002")

    assert known.json()["status"] == "success"
    assert unknown.json() == reply
    assert server.expired == {"9000000001": 1}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param({"expiry_duration": -1, "mask": "1"}, 1000, id="auth-missing"),
        pytest.param({"ssid": "other", "expiry_duration": -1, "mask": "1"}, 1014, id="bad-ssid"),
        pytest.param(
            {"userId": "u", "token": "t", "expiry_duration": -1, "mask": "1"},
            1014,
            id="wrong-auth-form",
        ),
        pytest.param({"ssid": SSID, "mask": "1"}, 1502, id="no-expiry"),
    ],
)
def test_invalid_requests_get_deepcall_errors(
    http: requests.Session, standin: DeepCallStandIn, body: Any, code: int
) -> None:
    response = unset(http, standin, body)

    assert response.status_code == 200
    assert response.json()["status"] == "error"
    assert response.json()["code"] == code
    assert standin.expired == {}


def test_user_id_and_token_credentials(http: requests.Session) -> None:
    with DeepCallStandIn(credentials={"userId": "42", "token": "t"}) as server:
        ok = unset(http, server, {"userId": 42, "token": "t", "expiry_duration": -1, "mask": "1"})
        with_ssid = unset(
            http,
            server,
            {"userId": "42", "token": "t", "ssid": "s", "expiry_duration": -1, "mask": "2"},
        )
        wrong = unset(
            http, server, {"userId": "42", "token": "x", "expiry_duration": -1, "m1": "3"}
        )

    assert ok.json()["status"] == "success"
    assert with_ssid.json()["code"] == 1000  # ssid must not be present with userId/token
    assert wrong.json()["code"] == 1014


def test_rotation_rejects_the_old_credential(
    http: requests.Session, standin: ScriptedDeepCall
) -> None:
    standin.set_credentials({"ssid": "rotated"})

    old = unset(http, standin, mask="1")
    new = unset(http, standin, {"ssid": "rotated", "expiry_duration": -1, "mask": "1"})

    assert old.json() == {"status": "error", "code": 1014, "message": "Invalid token"}
    assert new.json()["status"] == "success"


def test_other_paths_and_methods(http: requests.Session, standin: DeepCallStandIn) -> None:
    missing = http.post(f"{standin.base_url}/api/v2/Masking/set", json={}, timeout=5)
    wrong_method = http.get(f"{standin.base_url}{UNSET_PATH}", timeout=5)

    assert missing.status_code == 404
    assert missing.json()["status"] == "error"
    assert wrong_method.status_code == 405
    assert wrong_method.headers["Allow"] == "POST"
    assert standin.unset_calls == []


def test_error_fault_with_5xx(http: requests.Session, standin: DeepCallStandIn) -> None:
    standin.enqueue(Fault.error(1009, "Something went wrong", status=503))

    response = unset(http, standin, mask="1")

    assert response.status_code == 503
    assert response.json() == {"status": "error", "message": "Something went wrong", "code": 1009}
    assert standin.expired == {}


def test_status_fault_without_body_processes_normally(
    http: requests.Session, standin: DeepCallStandIn
) -> None:
    standin.enqueue(Fault(status=500))

    response = unset(http, standin, mask="1")

    # DeepCall did the work; something in front of it reported a failure anyway.
    assert response.status_code == 500
    assert response.json()["status"] == "success"
    assert standin.expired == {"1": 1}


def test_retry_after_fault(http: requests.Session, standin: DeepCallStandIn) -> None:
    standin.enqueue(Fault.retry_after(7))

    response = unset(http, standin, mask="1")

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert standin.expired == {}


def test_html_fault(http: requests.Session, standin: DeepCallStandIn) -> None:
    standin.enqueue(Fault.html())

    response = unset(http, standin, mask="1")

    assert response.status_code == 502
    assert response.headers["Content-Type"].startswith("text/html")
    assert "<html>" in response.text
    with pytest.raises(requests.JSONDecodeError):
        response.json()


def test_truncated_fault(http: requests.Session, standin: DeepCallStandIn) -> None:
    standin.enqueue(Fault(truncate=True))

    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        unset(http, standin, mask="1")
    # The stand-in keeps serving on new connections.
    assert unset(http, standin, mask="2").json()["status"] == "success"


def test_reset_fault(http: requests.Session, standin: DeepCallStandIn) -> None:
    standin.enqueue(Fault(reset=True))

    with pytest.raises(requests.ConnectionError) as excinfo:
        unset(http, standin, mask="1")

    assert "ConnectionResetError" in repr(excinfo.value)
    assert standin.expired == {}
    assert len(standin.unset_calls) == 1


def test_timeout_fault(http: requests.Session, standin: DeepCallStandIn) -> None:
    # The stand-in's stop() cuts the 30 s delay short, so this test does not wait for it.
    standin.enqueue(Fault.timeout(30))

    with pytest.raises(requests.ReadTimeout):
        unset(http, standin, mask="1", timeout=0.2)


def test_latency_is_applied_and_changeable(
    http: requests.Session, standin: DeepCallStandIn
) -> None:
    standin.latency = 30.0
    with pytest.raises(requests.ReadTimeout):
        unset(http, standin, mask="1", timeout=0.2)

    standin.latency = 0.0
    assert unset(http, standin, mask="2").json()["status"] == "success"


def test_faults_are_consumed_in_order(http: requests.Session, standin: DeepCallStandIn) -> None:
    standin.enqueue(Fault.error(1010, "Error in DB connect"), Fault.html(504))

    responses = [unset(http, standin, mask=str(i)) for i in range(3)]

    assert [r.status_code for r in responses] == [200, 504, 200]
    assert responses[0].json()["code"] == 1010
    assert responses[2].json()["status"] == "success"
    assert standin.expired == {"2": 1}


def test_an_outage_answers_every_request_until_it_ends(http: requests.Session) -> None:
    # The tooling stand-in itself (the demo plays an outage on it), not the tests' subclass.
    with DeepCallStandIn(credentials={"ssid": SSID}) as server:
        server.enqueue(Fault.error(1010, "Error in DB connect"))
        server.set_outage(Fault(status=503, body=b'{"message": "Service Unavailable"}'))

        during = [unset(http, server, mask=str(i)).status_code for i in range(3)]
        server.set_outage(None)
        after = [unset(http, server, mask=str(i)).json().get("code") for i in range(2)]

        assert during == [503, 503, 503]
        assert after == [1010, None]  # the queued fault was kept for after the outage
        assert server.expired == {"1": 1}


def test_a_watcher_sees_each_request_before_it_is_answered(http: requests.Session) -> None:
    with DeepCallStandIn(credentials={"ssid": SSID}) as server:
        seen: list[tuple[Any, int]] = []
        server.set_watcher(
            lambda request: seen.append((request.json, sum(server.expired.values())))
        )

        unset(http, server, mask="1")
        server.set_watcher(None)
        unset(http, server, mask="2")

        # Called once, with the request as recorded, before it expired anything.
        assert seen == [({"ssid": SSID, "expiry_duration": -1, "mask": "1"}, 0)]


def outcomes_with_fault_rate(http: requests.Session, seed: int) -> list[str]:
    """What 40 sequential unset calls see under a 40% seeded fault rate."""
    faults = [Fault.error(1009, "Something went wrong", status=500), Fault.html(502)]
    with ScriptedDeepCall(credentials={"ssid": SSID}) as server:
        server.set_fault_rate(0.4, faults, seed=seed)
        results = []
        for i in range(40):
            response = unset(http, server, mask=f"90000{i:05d}")
            is_json = response.headers["Content-Type"] == "application/json"
            code = response.json().get("code") if is_json else "html"
            results.append(f"{response.status_code}:{code}")
        expired = server.expired
    assert sum(expired.values()) == results.count("200:None")
    return results


def test_fault_rate_is_deterministic_for_a_seed(http: requests.Session) -> None:
    first = outcomes_with_fault_rate(http, seed=7)
    second = outcomes_with_fault_rate(http, seed=7)
    other = outcomes_with_fault_rate(http, seed=8)

    assert first == second
    assert first != other
    assert {"200:None", "500:1009", "502:html"} <= set(first)


def test_clear_forgets_requests_expired_and_faults(
    http: requests.Session, standin: DeepCallStandIn
) -> None:
    unset(http, standin, mask="1")
    standin.enqueue(Fault.html())

    standin.clear()

    assert standin.requests == []
    assert standin.expired == {}
    assert unset(http, standin, mask="1").json()["status"] == "success"


def test_stop_returns_promptly_with_a_delayed_request_in_flight(http: requests.Session) -> None:
    server = ScriptedDeepCall(credentials={"ssid": SSID})
    server.start()
    server.enqueue(Fault(delay=60))
    outcome: list[BaseException | requests.Response] = []

    def call() -> None:
        try:
            outcome.append(unset(http, server, mask="1", timeout=30))
        except requests.RequestException as exc:
            outcome.append(exc)

    client = threading.Thread(target=call)
    client.start()
    assert server.wait_for_unset_calls(1, timeout=JOIN_TIMEOUT)

    stopper = threading.Thread(target=server.stop)
    stopper.start()
    stopper.join(JOIN_TIMEOUT)
    client.join(JOIN_TIMEOUT)

    assert not stopper.is_alive()
    assert not client.is_alive()
    # The delayed request was dropped, not answered, and nothing was expired.
    assert isinstance(outcome[0], requests.ConnectionError)
    assert server.expired == {}


def test_stop_with_an_idle_keep_alive_connection(http: requests.Session) -> None:
    server = DeepCallStandIn()
    server.start()
    unset(http, server, mask="1")  # leaves a pooled connection open

    stopper = threading.Thread(target=server.stop)
    stopper.start()
    stopper.join(JOIN_TIMEOUT)

    assert not stopper.is_alive()


def test_command_line_serves_until_terminated(http: requests.Session) -> None:
    # The argument list is fixed; no shell, no outside input.
    process = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "masking_unset_tools.local.deepcall_standin",
            "--port",
            "0",
            "--ssid",
            SSID,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        body = {"ssid": SSID, "expiry_duration": -1, "mask": "1"}
        first = http.post(f"{base_url}{UNSET_PATH}", json=body, timeout=5)
        again = http.post(f"{base_url}{UNSET_PATH}", json=body, timeout=5)
        wrong = http.post(f"{base_url}{UNSET_PATH}", json={**body, "ssid": "x"}, timeout=5)
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=JOIN_TIMEOUT)

    assert first.json()["status"] == "success"
    assert again.json() == DEFAULT_ALREADY_DONE_REPLY  # the masking was expired the first time
    assert wrong.json()["code"] == 1014  # --ssid is the one accepted
    assert process.returncode == 0
    assert "Traceback" not in stderr
