"""The one HTTP/1.1 server of the developer tooling: ``masking-unset serve`` and the DeepCall
stand-in both run on it.

h11 does the framing (request line, headers, Content-Length, chunked bodies, keep-alive,
``100-continue``); whatever it cannot parse gets its 4xx and the connection is closed. Each
connection has its own thread; each complete request goes to an *app*, a function from
:class:`HttpRequest` to :class:`HttpAnswer`. An app may also misbehave on purpose, as the
stand-in's faults do: drop the connection unanswered (:class:`Drop`, optionally with a TCP reset)
or announce a body and send only half of it (``HttpAnswer.truncate``). A body may also be
produced while it is written (``HttpAnswer.stream``): slowly, or larger than memory.
"""

from __future__ import annotations

import contextlib
import json
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from types import TracebackType
from typing import Any, Final, Self
from urllib.parse import urlsplit

import h11

MAX_HEAD_BYTES: Final = 64 * 1024  # request line and headers together
_RECEIVE_BYTES: Final = 64 * 1024
_LINGER_SECONDS: Final = 2.0
_LINGER_BYTES: Final = 1024 * 1024
_STATUSES: Final = frozenset(status.value for status in HTTPStatus)
_CODES: Final = {
    400: "bad_request",
    408: "request_timeout",
    413: "payload_too_large",
    431: "headers_too_large",
    501: "not_implemented",
    505: "http_version_not_supported",
}


class Served:
    """``with server:`` starts it and stops it on the way out, whatever happened inside."""

    def start(self) -> None:
        """Start serving in the background."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop serving and release the port."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@dataclass(frozen=True)
class HttpRequest:
    """One complete request: header names as sent (repeats kept), the whole body."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    client: str


@dataclass
class HttpAnswer:
    """What to write back: status, headers (repeats allowed) and the body bytes. ``truncate``
    announces the whole body, sends half of it and closes the connection.

    ``stream``, when set, is the body instead of ``body``: each piece is written as soon as it
    is produced (the producer may wait between pieces, or raise :class:`Drop`), announced as
    ``length`` bytes when that is given, else sent chunked."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    truncate: bool = False
    stream: Iterable[bytes] | None = None
    length: int | None = None


class Drop(Exception):
    """Raised by an app: close the connection without an answer; ``reset`` closes it with a TCP
    RST, so the client sees a reset rather than an orderly end."""

    def __init__(self, *, reset: bool = False) -> None:
        super().__init__("reset" if reset else "close")
        self.reset = reset


App = Callable[[HttpRequest], HttpAnswer]
Refusal = Callable[[int, str, str], HttpAnswer]
"""The answer to a request refused before it reached the app: (status, code, message)."""


def json_error(status: int, code: str, message: str) -> HttpAnswer:
    """``{"error": {"code": ..., "message": ...}}``, the webhook API's error body."""
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    return HttpAnswer(status, [("Content-Type", "application/json")], body)


class HttpServer(socketserver.ThreadingTCPServer):
    """A threading HTTP/1.1 server handing each request to ``app``.

    ``max_body_bytes`` (None: no limit) answers 413 as soon as a body is known to be longer.
    ``timeout_seconds`` (None: wait for ever) closes a connection that sends nothing for that
    long, with a 408 if a request was under way. ``out`` receives one line per request and per
    refusal, never a request's content.
    """

    # Daemon connection threads: stop() must never wait on one stuck in a client's socket.
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        app: App,
        *,
        server_name: str,
        refusal: Refusal = json_error,
        out: Callable[[str], None] | None = None,
        max_body_bytes: int | None = None,
        timeout_seconds: float | None = None,
    ) -> None:
        super().__init__(address, _Connection)
        self.app = app
        self.server_name = server_name
        self.refusal = refusal
        self.out = out
        self.max_body_bytes = max_body_bytes
        self.timeout_seconds = timeout_seconds
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` the server listens on."""
        host, port = self.server_address[:2]
        host_text = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://{host_text}:{port}"

    def log(self, line: str) -> None:
        """One line to the console, if there is one."""
        if self.out is not None:
            self.out(line)

    def start(self, name: str = "http-server") -> None:
        """Serve in a background thread."""
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, wake every connection thread (idle keep-alive ones included) so that
        it ends, and release the port."""
        self.shutdown()
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by its thread
                connection.shutdown(socket.SHUT_RDWR)
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def process_request(self, request: Any, client_address: Any) -> None:
        """Track the connection, so that :meth:`stop` can wake its thread."""
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        """Forget the connection as it is closed."""
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """socketserver would print a traceback to stderr; one line is enough."""
        self.log("a connection failed unexpectedly")


class _Refused(Exception):
    """A request answered without reaching the app; the connection closes after it."""

    def __init__(self, answer: HttpAnswer) -> None:
        super().__init__(answer.status)
        self.answer = answer


class _Connection(socketserver.BaseRequestHandler):
    """One client connection: requests read with h11, one after the other (keep-alive)."""

    server: HttpServer
    request: socket.socket

    def setup(self) -> None:
        self.request.settimeout(self.server.timeout_seconds)
        # Answers go out in one write, but a 100 Continue must not wait for Nagle either.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.http = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
        self.dropped = False

    def handle(self) -> None:
        try:
            while self._exchange():
                self.http.start_next_cycle()
        except Drop as drop:
            self._drop(reset=drop.reset)
        except OSError:
            pass  # the client went away, or stopped reading: nobody is left to answer

    def finish(self) -> None:
        if self.dropped:
            return
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

    def _drop(self, *, reset: bool) -> None:
        self.dropped = True
        if reset:
            # Linger 0 makes close() send RST. Closed here and now: socketserver would otherwise
            # send a FIN with shutdown(SHUT_WR) first.
            with contextlib.suppress(OSError):
                self.request.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
        self.request.close()

    def _exchange(self) -> bool:
        """Read one request and answer it; whether the connection can carry another."""
        server = self.server
        started = time.monotonic()
        try:
            request = self._next(h11.Request)
            if request is None:
                return False  # closed between requests: a normal end
            body = self._body(request)
        except h11.RemoteProtocolError as exc:
            status = exc.error_status_hint
            server.log(f"rejected a request that is not valid HTTP -> {status}")
            # h11's own message may quote a header, token and all: a fixed one is answered.
            message = f"not a valid HTTP/1.1 request ({HTTPStatus(status).phrase.lower()})"
            return self._send(server.refusal(status, _CODES.get(status, "bad_request"), message))
        except TimeoutError:
            if self.http.their_state is h11.IDLE and not self.http.trailing_data[0]:
                return False  # an idle keep-alive connection: close it quietly
            server.log("rejected a request that stopped arriving -> 408")
            return self._send(
                server.refusal(408, "request_timeout", "the request was not completed")
            )
        except _Refused as refused:
            answer = refused.answer
        else:
            answer = self._answer(request, body)
        # Logged before the answer goes out, so the line is there once the caller has it. The
        # path only: a query string may carry a token (Salesforce).
        method, path = request.method.decode("ascii"), urlsplit(_text(request.target)).path
        elapsed = (time.monotonic() - started) * 1000
        server.log(f"{method} {path} -> {answer.status} ({elapsed:.0f} ms)")
        return self._send(answer, request)

    def _answer(self, request: h11.Request, body: bytes) -> HttpAnswer:
        """The app's answer; a crash becomes a 500 without any trace (a :class:`Drop` is no
        crash: it reaches :meth:`handle`)."""
        try:
            return self.server.app(
                HttpRequest(
                    method=request.method.decode("ascii"),
                    target=_text(request.target),
                    headers=[(_text(k), _text(v)) for k, v in request.headers.raw_items()],
                    body=body,
                    client=str(self.client_address[0]),
                )
            )
        except Drop:
            raise
        except Exception as exc:  # noqa: BLE001 - the client gets an error, not a trace
            self.server.log(f"the request could not be answered ({type(exc).__name__})")
            return self.server.refusal(500, "internal_error", "the request could not be answered")

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
        if limit is not None and lengths and int(lengths[0]) > limit:
            raise _Refused(self._too_large(limit))
        chunks: list[bytes] = []
        size = 0
        while True:
            event = self._next(h11.Data, h11.EndOfMessage)
            if event is None:
                raise h11.RemoteProtocolError("the body was cut off", error_status_hint=400)
            if isinstance(event, h11.EndOfMessage):
                return b"".join(chunks)
            size += len(event.data)
            if limit is not None and size > limit:
                raise _Refused(self._too_large(limit))
            chunks.append(event.data)

    def _too_large(self, limit: int) -> HttpAnswer:
        return self.server.refusal(413, "payload_too_large", f"the body is over {_size(limit)}")

    def _send(self, answer: HttpAnswer, request: h11.Request | None = None) -> bool:
        """Write ``answer``; whether the connection stays open. Closed after any answer that
        left the request unread (or unreadable), and after a truncated one."""
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
        if answer.stream is None:
            headers.append(("Content-Length", str(len(answer.body))))
        elif answer.length is not None:
            headers.append(("Content-Length", str(answer.length)))
        else:
            headers.append(("Transfer-Encoding", "chunked"))
        headers += [
            ("Date", formatdate(usegmt=True)),
            ("Server", self.server.server_name),
        ]
        if not finished or answer.truncate:
            headers.append(("Connection", "close"))
        reason = HTTPStatus(answer.status).phrase if answer.status in _STATUSES else ""
        body = answer.body[: len(answer.body) // 2] if answer.truncate else answer.body
        with_body = request is None or request.method != b"HEAD"
        try:
            data = self.http.send(
                h11.Response(
                    status_code=answer.status,
                    headers=[(_bytes(name), _bytes(value)) for name, value in headers],
                    reason=reason,
                )
            )
            if answer.stream is not None:
                return self._send_stream(data or b"", answer.stream if with_body else ())
            if with_body:
                data = (data or b"") + (self.http.send(h11.Data(data=body)) or b"")
            if not answer.truncate:  # a truncated body never ends: the connection does
                data = (data or b"") + (self.http.send(h11.EndOfMessage()) or b"")
        except h11.LocalProtocolError as exc:
            # An app's header that is no valid HTTP; nothing has been written yet.
            self.server.log(f"the answer could not be written ({exc})")
            return False
        self.request.sendall(data or b"")
        return self._reusable()

    def _send_stream(self, head: bytes, pieces: Iterable[bytes]) -> bool:
        """Write the head, then each piece as it is produced. A stream that does not match its
        announced length is a broken answer: the connection closes."""
        self.request.sendall(head)
        try:
            for piece in pieces:
                if piece:
                    self.request.sendall(self.http.send(h11.Data(data=piece)) or b"")
            self.request.sendall(self.http.send(h11.EndOfMessage()) or b"")
        except h11.LocalProtocolError:
            self.server.log("a streamed answer did not match its length")
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


def _bytes(text: str) -> bytes:
    # As http.server wrote headers: Latin-1, so that a byte like 0xB2 goes out as itself.
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def _size(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MiB" if limit >= 1024 * 1024 else f"{limit} bytes"
