"""The DeepCall client against the stand-in over real HTTP: every kind of answer is typed."""

from __future__ import annotations

import json
import tracemalloc
from email.utils import formatdate

import pytest
from hypothesis import given
from hypothesis import strategies as st

from masking_unset.clients.deepcall import (
    MAX_RETRY_AFTER_SECONDS,
    DeepCallClient,
    build_session,
    parse_retry_after,
)
from masking_unset.models.deepcall import SsidCredentials, UnsetTarget
from masking_unset.models.errors import UpstreamRejected, UpstreamUnavailable
from masking_unset.models.json_input import MAX_BYTES
from masking_unset_tools.local.deepcall_standin import DeepCallStandIn, Fault

_JSON = "application/json"
CREDS = SsidCredentials.model_validate({"ssid": "s-1"})
TARGET = UnsetTarget(mask="8040001234")


@pytest.fixture
def standin() -> DeepCallStandIn:
    with DeepCallStandIn(credentials={"ssid": "s-1"}) as server:
        yield server


def client(server: DeepCallStandIn, read_timeout: float = 2.0) -> DeepCallClient:
    return DeepCallClient(server.base_url, session=build_session(2), read_timeout=read_timeout)


def test_success_sends_json_with_expiry_minus_one(standin: DeepCallStandIn) -> None:
    reply = client(standin).unset(CREDS, TARGET)
    assert reply.succeeded
    [call] = standin.unset_calls
    assert call.headers.get("Content-Type", call.headers.get("content-type")) == "application/json"
    assert call.json == {"ssid": "s-1", "mask": "8040001234", "expiry_duration": -1}


def test_session_is_reused(standin: DeepCallStandIn) -> None:
    deepcall = client(standin)
    deepcall.unset(CREDS, TARGET)
    deepcall.unset(CREDS, UnsetTarget(mask="8040001235"))
    assert len(standin.unset_calls) == 2
    pools = deepcall._session.get_adapter(standin.base_url).poolmanager.pools
    [pool] = [pools[key] for key in pools.keys()]  # noqa: SIM118 - RecentlyUsedContainer
    assert pool.num_connections == 1  # the second request rode the kept-alive connection


@pytest.mark.parametrize("status", [200, 400, 503])
def test_error_body_is_typed_with_its_code_whatever_the_status(
    standin: DeepCallStandIn, status: int
) -> None:
    standin.enqueue(Fault.error(1047, "Invalid request data", status=status))
    with pytest.raises(UpstreamRejected) as caught:
        client(standin).unset(CREDS, TARGET)
    assert caught.value.deepcall_code == 1047
    assert caught.value.http_status == status


def test_code_as_text_is_understood(standin: DeepCallStandIn) -> None:
    standin.enqueue(Fault(body=b'{"status": "error", "code": "1014", "message": "Invalid token"}'))
    with pytest.raises(UpstreamRejected) as caught:
        client(standin).unset(CREDS, TARGET)
    assert caught.value.deepcall_code == 1014


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        (Fault.html(502), "upstream_bad_response"),
        (Fault(status=200, body=b"OK"), "upstream_bad_response"),
        (Fault(status=200, body=b"[1, 2]"), "upstream_bad_response"),
        (Fault(truncate=True), "upstream_bad_response"),
        (Fault(reset=True), "upstream_unreachable"),
        (Fault(status=503, body=b'{"message": "busy"}'), "upstream_unavailable"),
    ],
)
def test_unusable_answers_are_unavailable_never_a_crash(
    standin: DeepCallStandIn, fault: Fault, code: str
) -> None:
    standin.enqueue(fault)
    with pytest.raises(UpstreamUnavailable) as caught:
        client(standin).unset(CREDS, TARGET)
    assert caught.value.code == code


def test_http_error_without_error_body_is_rejected(standin: DeepCallStandIn) -> None:
    standin.enqueue(Fault(status=404, body=b'{"message": "no route"}'))
    with pytest.raises(UpstreamRejected) as caught:
        client(standin).unset(CREDS, TARGET)
    assert caught.value.deepcall_code is None
    assert caught.value.http_status == 404


def test_read_timeout(standin: DeepCallStandIn) -> None:
    standin.enqueue(Fault.timeout(3.0))
    with pytest.raises(UpstreamUnavailable) as caught:
        client(standin, read_timeout=0.3).unset(CREDS, TARGET)
    assert caught.value.code == "upstream_timeout"


def test_retry_after_is_read(standin: DeepCallStandIn) -> None:
    standin.enqueue(Fault.retry_after(12))
    with pytest.raises(UpstreamUnavailable) as caught:
        client(standin).unset(CREDS, TARGET)
    assert caught.value.http_status == 429
    assert caught.value.retry_after == 12


def test_connection_refused_is_unreachable() -> None:
    server = DeepCallStandIn()
    server.start()
    url = server.base_url
    server.stop()
    deepcall = DeepCallClient(url, session=build_session(1), connect_timeout=0.5)
    with pytest.raises(UpstreamUnavailable) as caught:
        deepcall.unset(CREDS, TARGET)
    assert caught.value.code == "upstream_unreachable"


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    in_ten = parse_retry_after(formatdate(1_000_010, usegmt=True), now=1_000_000)
    assert in_ten == pytest.approx(10.0)
    assert parse_retry_after(formatdate(999_000, usegmt=True), now=1_000_000) == 0.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("9" * 400, MAX_RETRY_AFTER_SECONDS),  # float() of it is inf
        ("9" * 5000, MAX_RETRY_AFTER_SECONDS),  # int() of it raises
        ("0" * 400 + "7", 7.0),
        ("²", None),  # str.isdigit() accepts it, float() does not
        ("-5", None),
        ("1e9", None),
        ("Fri, 31 Dec 9999 23:59:59 GMT", MAX_RETRY_AFTER_SECONDS),
        ("Fri, 31 Dec 99999 23:59:59 GMT", None),
        ("x" * 10_000, None),
    ],
)
def test_parse_retry_after_is_bounded(value: str, expected: float | None) -> None:
    assert parse_retry_after(value, now=1_000_000) == expected


@given(value=st.text(max_size=60))
def test_parse_retry_after_is_none_or_a_bounded_wait(value: str) -> None:
    seconds = parse_retry_after(value, now=1_000_000)
    assert seconds is None or 0.0 <= seconds <= MAX_RETRY_AFTER_SECONDS


def test_redirects_are_not_followed(standin: DeepCallStandIn) -> None:
    # A 307 would resend the body, credentials included, to wherever Location points.
    standin.enqueue(Fault(status=307, body=b"", headers={"Location": standin.base_url + "/x"}))
    with pytest.raises(UpstreamUnavailable):
        client(standin).unset(CREDS, TARGET)
    assert len(standin.requests) == 1


@pytest.mark.parametrize("code", ["²", "9" * 5000, "-1"], ids=["sup2", "5000-nines", "negative"])
def test_an_error_code_that_is_no_number_is_kept_as_none(
    standin: DeepCallStandIn, code: str
) -> None:
    body = json.dumps({"status": "error", "code": code, "message": "Invalid parameters"})
    standin.enqueue(Fault(status=200, body=body.encode(), headers={"Content-Type": _JSON}))
    with pytest.raises(UpstreamRejected) as caught:
        client(standin).unset(CREDS, TARGET)
    assert caught.value.deepcall_code is None


@pytest.mark.parametrize("body", [b"[" * 200_000, b'{"status": "error", "message": "\\ud800"}'])
def test_an_answer_the_json_loader_refuses_is_a_bad_response(
    standin: DeepCallStandIn, body: bytes
) -> None:
    standin.enqueue(Fault(status=200, body=body, headers={"Content-Type": _JSON}))
    with pytest.raises(UpstreamUnavailable) as caught:
        client(standin).unset(CREDS, TARGET)
    assert caught.value.code == "upstream_bad_response"


# --- DeepCall's answer as bytes: its pace and its size (issue 19, items 6 and 7) ----------------

_ANSWER = b'{"status":"success","message":"Your masking unset"}'  # the stand-in's success, 51 bytes


@pytest.mark.parametrize("chunked", [False, True], ids=["with-length", "chunked"])
def test_an_answer_dripped_a_byte_at_a_time_ends_at_the_attempt_deadline(
    standin: DeepCallStandIn, chunked: bool
) -> None:
    # Each byte comes well within the read timeout (2 s); the whole answer would take 10 s.
    standin.enqueue(Fault.slow_drip(0.2, chunked=chunked))
    deepcall = DeepCallClient(
        standin.base_url, session=build_session(1), connect_timeout=0.5, read_timeout=2.0
    )
    with pytest.raises(UpstreamUnavailable) as caught:
        deepcall.unset(CREDS, TARGET, time_limit=1.0)
    assert caught.value.code == "upstream_timeout"
    # Abandoned long before the server could finish (about 5 bytes in 1 s; bounded loosely).
    assert standin.streamed_bytes < len(_ANSWER) // 2
    # The abandoned connection was discarded, not pooled half-read: the next call is answered.
    assert deepcall.unset(CREDS, UnsetTarget(mask="8040001235")).succeeded


def test_without_a_time_limit_a_drip_ends_within_connect_plus_read_timeout(
    standin: DeepCallStandIn,
) -> None:
    standin.enqueue(Fault.slow_drip(0.2))
    deepcall = DeepCallClient(
        standin.base_url, session=build_session(1), connect_timeout=0.3, read_timeout=0.7
    )
    with pytest.raises(UpstreamUnavailable) as caught:
        deepcall.unset(CREDS, TARGET)
    assert caught.value.code == "upstream_timeout"
    assert standin.streamed_bytes < len(_ANSWER) // 2


def test_no_time_left_sends_nothing(standin: DeepCallStandIn) -> None:
    with pytest.raises(UpstreamUnavailable) as caught:
        client(standin).unset(CREDS, TARGET, time_limit=0.0)
    assert caught.value.code == "upstream_timeout"
    assert standin.unset_calls == []


_HUGE = 64 * 1024 * 1024  # read whole, it would take 64 MiB at least (and twice that, joined)


@pytest.mark.parametrize(
    "fault",
    [Fault.huge(_HUGE), Fault.huge(_HUGE, chunked=True), Fault.huge(_HUGE, gzip=True)],
    ids=["with-length", "chunked", "gzip-bomb"],
)
def test_a_huge_answer_is_refused_after_at_most_the_json_limit(
    standin: DeepCallStandIn, fault: Fault
) -> None:
    # Valid JSON, success and all: the padding is trailing whitespace.
    standin.enqueue(fault)
    deepcall = client(standin)
    tracemalloc.start()
    try:
        with pytest.raises(UpstreamUnavailable) as caught:
            deepcall.unset(CREDS, TARGET)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024  # a few pieces of 64 KiB and the 1 MiB kept, not 64 MiB
    assert caught.value.code == "upstream_bad_response"
    assert caught.value.http_status == 200
    assert "over 1024 KiB" in str(caught.value)
    if not fault.gzip:  # what the sockets' buffers hold at most, nowhere near the whole
        assert standin.streamed_bytes < _HUGE // 4
    assert deepcall.unset(CREDS, UnsetTarget(mask="8040001235")).succeeded


def test_a_length_over_the_limit_is_refused_before_the_body_is_read(
    standin: DeepCallStandIn,
) -> None:
    standin.enqueue(Fault.huge(MAX_BYTES + 1, gzip=False))
    deepcall = client(standin)
    tracemalloc.start()
    try:
        with pytest.raises(UpstreamUnavailable) as caught:
            deepcall.unset(CREDS, TARGET)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 512 * 1024  # not even the first 1 MiB was kept
    assert caught.value.code == "upstream_bad_response"


@pytest.mark.parametrize(
    "fault",
    [Fault.huge(MAX_BYTES), Fault.huge(MAX_BYTES, chunked=True), Fault.huge(MAX_BYTES, gzip=True)],
    ids=["with-length", "chunked", "gzip"],
)
def test_an_answer_of_exactly_the_limit_is_still_read(
    standin: DeepCallStandIn, fault: Fault
) -> None:
    standin.enqueue(fault)
    assert client(standin).unset(CREDS, TARGET).succeeded
