"""``serve``: the webhook function behind a local HTTP server, no Docker, no API Gateway.

Every request becomes an API Gateway HTTP API (payload 2.0) event for the webhook handler, and the
handler's ``statusCode``/``headers``/``body`` go back as the HTTP answer. HTTP/1.1 framing is h11's
(a development dependency, like the rest of this developer tooling).
"""

from __future__ import annotations

import base64
import json
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
from typing import Any, Final
from urllib.parse import urlsplit

import h11

from masking_unset_tools.local.events import Handler, http_api_event
from masking_unset_tools.ops.console import Out, function_stdout
from masking_unset_tools.ops.errors import OperationFailed

# API Gateway HTTP APIs refuse larger payloads before the function sees them.
MAX_BODY_BYTES: Final = 10 * 1024 * 1024
MAX_HEAD_BYTES: Final = 64 * 1024  # request line and headers together
# A connection that sends nothing for this long is closed (408 if a request was under way).
TIMEOUT_SECONDS: Final = 30.0
SERVER_NAME: Final = "masking-unset-serve"
_RECEIVE_BYTES: Final = 64 * 1024
_LINGER_SECONDS: Final = 2.0
_LINGER_BYTES: Final = 1024 * 1024


@dataclass(frozen=True)
class HttpAnswer:
    """What to write back: status, headers (repeats allowed) and the body bytes."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


def http_answer(result: Any) -> HttpAnswer:
    """Turn a payload 2.0 handler result into an HTTP answer, as API Gateway does."""
    if not isinstance(result, dict) or "statusCode" not in result:
        # API Gateway's rule for payload 2.0: anything else is a 200 JSON body.
        return HttpAnswer(200, [("Content-Type", "application/json")], json.dumps(result).encode())
    body = result.get("body") or ""
    raw = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode("utf-8")
    headers = [(str(k), str(v)) for k, v in (result.get("headers") or {}).items()]
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers.extend((str(name), str(value)) for value in values)
    headers.extend(("Set-Cookie", str(cookie)) for cookie in result.get("cookies") or [])
    return HttpAnswer(int(result["statusCode"]), headers, raw)


def _error(status: int, code: str, message: str) -> HttpAnswer:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    return HttpAnswer(status, [("Content-Type", "application/json")], body)


class WebhookServer(socketserver.ThreadingTCPServer):
    """A threading HTTP/1.1 server that hands every request to ``handler`` as a payload 2.0 event.

    The framing (request line, headers, Content-Length, chunked bodies, keep-alive) is h11's:
    whatever it cannot parse gets its 4xx and the connection is closed. Calls to the handler
    are serialised, like invocations of one warm Lambda container.
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: Handler,
        *,
        context_factory: Callable[[], Any],
        out: Out | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
        timeout_seconds: float = TIMEOUT_SECONDS,
    ) -> None:
        super().__init__(address, _Connection)
        self.handler = handler
        self.context_factory = context_factory
        self.out = out
        self.max_body_bytes = max_body_bytes
        self.timeout_seconds = timeout_seconds
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` the server listens on."""
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def answer(self, event: dict[str, Any]) -> HttpAnswer:
        """Run the handler on ``event``; a crash becomes a 500 without any trace."""
        with self.lock:
            try:
                with function_stdout():
                    result = self.handler(event, self.context_factory())
                return http_answer(result)
            except Exception as exc:  # noqa: BLE001 - the caller gets a JSON error, not a trace
                self.log(f"handler raised {type(exc).__name__}")
                return _error(500, "internal_error", "the event could not be processed")

    def log(self, line: str) -> None:
        """One line to the console, if there is one."""
        if self.out is not None:
            self.out(line)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """socketserver would print a traceback to stderr; one line is enough."""
        self.log("a connection failed unexpectedly")


class _Refused(Exception):
    """A request answered without reaching the handler; the connection closes after it."""

    def __init__(self, answer: HttpAnswer) -> None:
        super().__init__(answer.status)
        self.answer = answer


class _Connection(socketserver.BaseRequestHandler):
    """One client connection: requests read with h11, one after the other (keep-alive)."""

    server: WebhookServer
    request: socket.socket

    def setup(self) -> None:
        self.request.settimeout(self.server.timeout_seconds)
        self.http = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)

    def handle(self) -> None:
        try:
            while self._exchange():
                self.http.start_next_cycle()
        except OSError:
            pass  # the client went away, or stopped reading: nobody is left to answer

    def finish(self) -> None:
        # Closing with unread request bytes makes the kernel send a reset, which can destroy
        # the answer before the client reads it: stop sending, then drain a bounded amount.
        try:
            self.request.shutdown(socket.SHUT_WR)
            self.request.settimeout(_LINGER_SECONDS)
            drained = 0
            while drained < _LINGER_BYTES and (data := self.request.recv(_RECEIVE_BYTES)):
                drained += len(data)
        except OSError:
            pass

    def _exchange(self) -> bool:
        """Read one request and answer it; whether the connection can carry another."""
        started = time.monotonic()
        try:
            request = self._next(h11.Request)
            if request is None:
                return False  # closed between requests: a normal end
            body = self._body(request)
        except h11.RemoteProtocolError as exc:
            status = exc.error_status_hint
            self.server.log(f"rejected a request that is not valid HTTP -> {status}")
            # h11's own message may quote a header, token and all: a fixed one is answered.
            message = f"not a valid HTTP/1.1 request ({HTTPStatus(status).phrase.lower()})"
            return self._send(_error(status, _CODES.get(status, "bad_request"), message), None)
        except TimeoutError:
            if self.http.their_state is h11.IDLE and not self.http.trailing_data[0]:
                return False  # an idle keep-alive connection: close it quietly
            self.server.log("rejected a request that stopped arriving -> 408")
            return self._send(_error(408, "request_timeout", "the request was not completed"), None)
        except _Refused as refused:
            answer = refused.answer
        else:
            event = http_api_event(
                request.method.decode("ascii"),
                _text(request.target),
                [(_text(name), _text(value)) for name, value in request.headers],
                body,
                source_ip=str(self.client_address[0]),
            )
            answer = self.server.answer(event)
        # Logged before the answer goes out, so the line is there once the caller has it. The
        # path only: a query string may carry a token (Salesforce).
        method, path = request.method.decode("ascii"), urlsplit(_text(request.target)).path
        elapsed = (time.monotonic() - started) * 1000
        self.server.log(f"{method} {path} -> {answer.status} ({elapsed:.0f} ms)")
        return self._send(answer, request)

    def _next(self, *kinds: type[h11.Event]) -> Any:
        """The next event of one of ``kinds``, receiving as needed; None when the client closed
        the connection cleanly."""
        while True:
            event = self.http.next_event()
            if event is h11.NEED_DATA:
                if self.http.they_are_waiting_for_100_continue:
                    self._write(h11.InformationalResponse(status_code=100, headers=[]))
                self.http.receive_data(self.request.recv(_RECEIVE_BYTES))
            elif isinstance(event, h11.ConnectionClosed):
                return None
            elif isinstance(event, kinds):
                return event
            else:  # h11 yields nothing else for a server in these states
                raise h11.RemoteProtocolError("unexpected data", error_status_hint=400)

    def _body(self, request: h11.Request) -> bytes:
        """The whole body; :class:`_Refused` with 413 as soon as it is known to be too long."""
        limit = self.server.max_body_bytes
        lengths = [value for name, value in request.headers if name == b"content-length"]
        chunked = any(name == b"transfer-encoding" for name, _ in request.headers)
        if lengths and chunked:
            # Allowed by RFC 9112 to reject: two framings are how requests are smuggled.
            raise h11.RemoteProtocolError(
                "both Content-Length and Transfer-Encoding", error_status_hint=400
            )
        if lengths and int(lengths[0]) > limit:
            raise _Refused(_error(413, "payload_too_large", f"the body is over {_size(limit)}"))
        chunks: list[bytes] = []
        size = 0
        while True:
            event = self._next(h11.Data, h11.EndOfMessage)
            if event is None:
                raise h11.RemoteProtocolError("the body was cut off", error_status_hint=400)
            if isinstance(event, h11.EndOfMessage):
                return b"".join(chunks)
            size += len(event.data)
            if size > limit:
                raise _Refused(_error(413, "payload_too_large", f"the body is over {_size(limit)}"))
            chunks.append(event.data)

    def _send(self, answer: HttpAnswer, request: h11.Request | None) -> bool:
        """Write ``answer``; whether the connection stays open. Closed after any answer that
        left the request unread (or unreadable)."""
        finished = request is not None and self.http.their_state is h11.DONE
        if self.http.our_state not in {h11.IDLE, h11.SEND_RESPONSE}:
            return False  # h11 cannot answer any more (it never happens after a request)
        headers = [
            (name, value)
            for name, value in answer.headers
            if name.lower() not in {"content-length", "transfer-encoding", "connection"}
        ]
        if answer.body and not any(name.lower() == "content-type" for name, _ in headers):
            headers.append(("Content-Type", "application/json"))
        headers += [
            ("Content-Length", str(len(answer.body))),
            ("Date", formatdate(usegmt=True)),
            ("Server", SERVER_NAME),
        ]
        if not finished:
            headers.append(("Connection", "close"))
        reason = HTTPStatus(answer.status).phrase if answer.status in _STATUSES else ""
        try:
            self._write(h11.Response(status_code=answer.status, headers=headers, reason=reason))
            if request is None or request.method != b"HEAD":
                self._write(h11.Data(data=answer.body))
            self._write(h11.EndOfMessage())
        except h11.LocalProtocolError as exc:
            # A handler header that is no valid HTTP; the status line may already be out.
            self.server.log(f"the answer could not be written ({exc})")
            return False
        return self._reusable()

    def _reusable(self) -> bool:
        # Both sides done and neither asked to close: the next request may follow.
        return self.http.our_state is h11.DONE and self.http.their_state is h11.DONE

    def _write(self, event: h11.Event) -> None:
        data = self.http.send(event)
        if data:
            self.request.sendall(data)


def _text(raw: bytes) -> str:
    # Header bytes are UTF-8 in practice; anything else is kept byte for byte as Latin-1.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _size(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MiB" if limit >= 1024 * 1024 else f"{limit} bytes"


_STATUSES = frozenset(status.value for status in HTTPStatus)
_CODES = {
    400: "bad_request",
    408: "request_timeout",
    413: "payload_too_large",
    431: "headers_too_large",
    501: "not_implemented",
    505: "http_version_not_supported",
}


def webhook_context() -> Any:
    """A fresh Lambda context with the webhook function's 25 s timeout."""
    from masking_unset_tools.local.lambda_context import LocalLambdaContext

    return LocalLambdaContext(function_name="masking-unset-webhook", timeout_seconds=25.0)


def webhook_handler() -> Handler:
    """The deployed webhook entry point."""
    from masking_unset.handlers.webhook import lambda_handler

    return lambda_handler


@contextmanager
def running_server(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    handler: Handler | None = None,
    out: Out | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    timeout_seconds: float = TIMEOUT_SECONDS,
) -> Iterator[WebhookServer]:
    """A :class:`WebhookServer` serving in a background thread until the block ends."""
    try:
        server = WebhookServer(
            (host, port),
            handler or webhook_handler(),
            context_factory=webhook_context,
            out=out,
            max_body_bytes=max_body_bytes,
            timeout_seconds=timeout_seconds,
        )
    except OSError as exc:
        raise OperationFailed(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    thread = threading.Thread(target=server.serve_forever, name="serve", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass
class Serving:
    """A running ``serve``: its URL, and the local stack when the stand-ins are in use."""

    server: WebhookServer
    stack: Any | None  # LocalStack in local mode

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return self.server.url


@contextmanager
def serving(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    live: bool = False,
    public_url: str | None = None,
    out: Out | None = None,
) -> Iterator[Serving]:
    """Serve the webhook function: on the local stand-ins (default) or on the environment's
    configuration (``live``). The environment is restored when the block ends.

    ``public_url`` becomes ``PUBLIC_BASE_URL`` (the URL HubSpot signs, e.g. a tunnel's); on the
    stand-ins it defaults to the server's own URL.
    """
    from masking_unset.app import reset_app
    from masking_unset_tools.local.stack import environment

    if live:
        from masking_unset.config import Settings
        from masking_unset.models.errors import ConfigurationError
        from masking_unset_tools.ops.errors import UsageError

        try:
            Settings.from_env()
        except ConfigurationError as exc:
            raise UsageError(exc.message) from None
        overrides = {"PUBLIC_BASE_URL": public_url} if public_url else {}
        with running_server(host, port, out=out) as server, environment(overrides):
            reset_app()
            try:
                yield Serving(server, None)
            finally:
                reset_app()
        return
    from masking_unset_tools.local.stack import local_stack

    with local_stack() as stack, running_server(host, port, out=out) as server:
        env = {**stack.env(), "PUBLIC_BASE_URL": public_url or server.url}
        with environment(env):
            reset_app()
            try:
                yield Serving(server, stack)
            finally:
                reset_app()


def announce(serving: Serving, out: Out) -> None:
    """The URL and, on the stand-ins, how to send a request that verifies."""
    url = serving.url
    out(f"serving the webhook function on {url}/webhooks/{{source}}")
    if serving.stack is None:
        out("configuration: the environment (live)")
        return
    out(f"local AWS endpoint (moto): {serving.stack.aws.url}")
    out(f"DeepCall stand-in:         {serving.stack.deepcall.base_url}")
    from masking_unset_tools.local.stack import DEMO_SOURCE_SECRETS

    out(f"sources with demo secrets: {', '.join(sorted(DEMO_SOURCE_SECRETS))}")
    out("sign a body for the generic source with the demo secret:")
    target = f"{url}/webhooks/generic"
    out(f"  masking-unset sign --source generic --demo-secret BODY.json --url {target}")
    out("press Ctrl-C to stop")
