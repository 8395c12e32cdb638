"""``masking-unset serve`` speaks HTTP/1.1 correctly: raw bytes over a socket to a served instance.

Every malformed request gets its 4xx as a JSON error and the connection is closed; nothing reaches
the handler, nothing hangs until the client gives up, and no traceback is printed.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from masking_unset_tools.local.stack import LocalStack
from masking_unset_tools.ops.serve import WebhookServer, running_server

LIMIT = 1024  # the framing server's body limit, small enough to cross in a test
HEAD = b"POST /webhooks/generic HTTP/1.1\r\nHost: localhost\r\n"


class Echo:
    """A handler that answers the length of the body it was given, and counts its calls."""

    def __init__(self) -> None:
        self.bodies: list[str] = []

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.bodies.append(event.get("body") or "")
        return {"statusCode": 200, "body": json.dumps({"length": len(self.bodies[-1])})}


@pytest.fixture
def echo() -> Echo:
    return Echo()


@pytest.fixture
def log() -> list[str]:
    return []


@pytest.fixture
def framing(
    echo: Echo, log: list[str], capfd: pytest.CaptureFixture[str]
) -> Iterator[WebhookServer]:
    """A served instance with a small body limit and a short idle timeout."""
    with running_server(
        handler=echo, out=log.append, max_body_bytes=LIMIT, timeout_seconds=2.0
    ) as server:
        yield server
    assert "Traceback" not in "".join(capfd.readouterr())
    assert "Traceback" not in "\n".join(log)


def exchange(server: WebhookServer, raw: bytes, *, hang_up: bool = False) -> bytes:
    """Send ``raw`` and read until the server closes the connection. With ``hang_up`` the
    client closes its sending side first: the server sees the end of the data."""
    host, port = server.server_address[:2]
    with socket.create_connection((str(host), port), timeout=20) as sock:
        sock.sendall(raw)
        if hang_up:
            sock.shutdown(socket.SHUT_WR)
        received = []
        while data := sock.recv(65536):
            received.append(data)
    return b"".join(received)


def responses(raw: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """Every response in ``raw``: status, headers (lower-case names) and body."""
    found = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
        length = int(headers["content-length"])
        found.append((int(status_line.split()[1]), headers, rest[:length]))
        raw = rest[length:]
    return found


def refused(raw: bytes) -> tuple[int, str]:
    """The one answer to a refused request: its status and error code; the connection closed."""
    [(status, headers, body)] = responses(raw)
    assert headers["connection"] == "close"
    assert headers["content-type"] == "application/json"
    return status, json.loads(body)["error"]["code"]


MALFORMED = {
    # Content-Length
    # As one Latin-1 byte, http.server read it as "²", which str.isdigit() accepts and int() not.
    "length superscript two": (HEAD + b"Content-Length: \xb2\r\n\r\n", 400),
    "length superscript two in UTF-8": (HEAD + "Content-Length: ²\r\n\r\n".encode(), 400),
    "length negative": (HEAD + b"Content-Length: -1\r\n\r\n", 400),
    "length not a number": (HEAD + b"Content-Length: 1e3\r\n\r\n", 400),
    "length of 30 digits": (HEAD + b"Content-Length: " + b"9" * 30 + b"\r\n\r\n", 400),
    "lengths that disagree": (HEAD + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\nabc", 400),
    "length and chunked": (
        HEAD + b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        400,
    ),
    # chunk sizes
    "chunk size -1": (HEAD + b"Transfer-Encoding: chunked\r\n\r\n-1\r\n", 400),
    "chunk size not hex": (HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n", 400),
    "chunk size of 21 digits": (
        HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + b"F" * 21 + b"\r\n",
        400,
    ),
    "chunk without its CRLF": (
        HEAD + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
        400,
    ),
    # the request line and headers
    "not a request line": (b"HELLO\r\n\r\n", 400),
    "header without a colon": (HEAD + b"Content-Length 3\r\n\r\nabc", 400),
    "no Host": (b"POST /webhooks/generic HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 400),
    "space in the target": (b"POST /web hooks HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    "headers too large": (HEAD + b"X-Big: " + b"a" * 200_000 + b"\r\n\r\n", 431),
    "unknown transfer coding": (HEAD + b"Transfer-Encoding: gzip\r\n\r\n", 501),
    # bodies over the limit
    "length over the limit": (HEAD + f"Content-Length: {LIMIT + 1}\r\n\r\n".encode(), 413),
    "oversized chunk": (
        HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + f"{LIMIT * 2:x}\r\n".encode() + b"a" * 2048,
        413,
    ),
    "chunks adding up over the limit": (
        HEAD
        + b"Transfer-Encoding: chunked\r\n\r\n"
        + (b"200\r\n" + b"a" * 512 + b"\r\n") * 2
        + b"1\r\na\r\n0\r\n\r\n",
        413,
    ),
}


@pytest.mark.parametrize(("raw", "status"), MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_request_is_answered_at_once_and_the_connection_closed(
    framing: WebhookServer, echo: Echo, raw: bytes, status: int
) -> None:
    # No hang-up: the answer must come without the client giving up first.
    answer, code = refused(exchange(framing, raw))
    assert answer == status
    assert (
        code
        == {
            400: "bad_request",
            413: "payload_too_large",
            431: "headers_too_large",
            501: "not_implemented",
        }[status]
    )
    assert echo.bodies == []


CUT_OFF = {
    "body shorter than its length": HEAD + b"Content-Length: 10\r\n\r\nabc",
    "no last chunk": HEAD + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n",
    "last chunk without its blank line": HEAD + b"Transfer-Encoding: chunked\r\n\r\n0\r\n",
    "chunk shorter than its size": HEAD + b"Transfer-Encoding: chunked\r\n\r\nFFFFFFFF\r\nabc",
    "headers without their blank line": HEAD + b"Content-Length: 0\r\n",
    "request line only": b"POST /webhooks/generic HTTP/1.1\r\n",
}


@pytest.mark.parametrize("raw", CUT_OFF.values(), ids=CUT_OFF.keys())
def test_a_request_cut_off_by_the_client_is_a_400(
    framing: WebhookServer, echo: Echo, raw: bytes
) -> None:
    assert refused(exchange(framing, raw, hang_up=True)) == (400, "bad_request")
    assert echo.bodies == []


def test_a_request_that_stops_arriving_is_a_408(framing: WebhookServer, echo: Echo) -> None:
    # The client keeps the connection open; the server's own timeout ends the wait.
    raw = exchange(framing, HEAD + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhel")
    assert refused(raw) == (408, "request_timeout")
    assert echo.bodies == []


def test_an_idle_connection_is_closed_without_an_answer(framing: WebhookServer) -> None:
    assert exchange(framing, b"") == b""


def test_valid_framings_reach_the_handler_on_one_kept_alive_connection(
    framing: WebhookServer, echo: Echo, log: list[str]
) -> None:
    requests = (
        HEAD
        + b"Content-Length: 3\r\n\r\nabc"
        # chunk extensions, upper- and lower-case hex, a trailer
        + HEAD
        + b"Transfer-Encoding: chunked\r\n\r\n"
        b"A;ext=1\r\n0123456789\r\n"
        + b"a\r\nabcdefghij\r\n0\r\nX-Trailer: 1\r\n\r\n"
        + HEAD
        + f"Content-Length: {LIMIT}\r\n\r\n".encode()
        + b"z" * LIMIT
        + HEAD
        + b"Connection: close\r\n\r\n"
    )
    answers = responses(exchange(framing, requests))
    assert [status for status, _, _ in answers] == [200, 200, 200, 200]
    assert [json.loads(body)["length"] for _, _, body in answers] == [3, 20, LIMIT, 0]
    assert [headers.get("connection") for _, headers, _ in answers] == [None, None, None, "close"]
    assert echo.bodies[1] == "0123456789abcdefghij"
    assert log[-1].startswith("POST /webhooks/generic -> 200 (")


def test_expect_100_continue_is_honoured(framing: WebhookServer, echo: Echo) -> None:
    host, port = framing.server_address[:2]
    with socket.create_connection((str(host), port), timeout=20) as sock:
        sock.sendall(HEAD + b"Expect: 100-continue\r\nContent-Length: 2\r\n\r\n")
        interim = sock.recv(65536)
        assert interim.startswith(b"HTTP/1.1 100 ")
        sock.sendall(b"ok")
        sock.shutdown(socket.SHUT_WR)
        rest = b""
        while data := sock.recv(65536):
            rest += data
    [(status, _, _)] = responses(rest)
    assert status == 200
    assert echo.bodies == ["ok"]


def test_head_gets_headers_only(framing: WebhookServer) -> None:
    raw = exchange(framing, b"HEAD /webhooks/generic HTTP/1.1\r\nHost: x\r\n\r\n", hang_up=True)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert b"Content-Length: " in head
    assert body == b""


# --- the two examples against the real webhook function --------------------------------


@pytest.fixture
def served(stack: LocalStack, capfd: pytest.CaptureFixture[str]) -> Iterator[WebhookServer]:
    with running_server("127.0.0.1", 0) as server:
        yield server
    assert "Traceback" not in "".join(capfd.readouterr())


@pytest.mark.parametrize(
    "raw",
    [
        HEAD + b"Transfer-Encoding: chunked\r\n\r\n-1\r\n",
        HEAD + b"Content-Length: \xb2\r\n\r\n",
    ],
    ids=["chunk-size-minus-one", "content-length-superscript-two"],
)
def test_the_served_webhook_function_answers_malformed_framing_with_400(
    served: WebhookServer, raw: bytes
) -> None:
    assert refused(exchange(served, raw)) == (400, "bad_request")


def test_a_refusal_never_quotes_the_request(framing: WebhookServer, log: list[str]) -> None:
    raw = exchange(framing, HEAD + b"Authorization: Bearer tok-s3cret\x00\r\n\r\n")
    assert refused(raw) == (400, "bad_request")
    assert b"tok-s3cret" not in raw
    assert "tok-s3cret" not in "\n".join(log)
