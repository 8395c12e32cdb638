"""A DeepCall stand-in: an HTTP server that answers ``POST /api/v2/Masking/unset`` like DeepCall.

Used by the test suite, the benchmarks and the local demo. Standard library only. It binds to
loopback by default and records every unset request; faults (error bodies, 5xx, 429, HTML proxy
pages, delays, connection resets, truncated bodies) can be scripted in-process or, for a
stand-in started by another process, over HTTP under ``/_standin/``.

Run it on its own with::

    python -m masking_unset_tools.local.deepcall_standin --port 8765 --ssid demo
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import random
import signal
import socket
import struct
import sys
import threading
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Any, Final, Self
from urllib.parse import urlsplit

__all__ = [
    "DEFAULT_ALREADY_DONE_REPLY",
    "UNSET_PATH",
    "DeepCallStandIn",
    "Fault",
    "RecordedRequest",
    "main",
]

UNSET_PATH: Final = "/api/v2/Masking/unset"
_CONTROL_PREFIX: Final = "/_standin/"
_AUTH_FIELDS: Final = ("ssid", "userId", "token")
_TARGET_FIELDS: Final = ("mask", "m1", "m2")
_JSON: Final = "application/json"

DEFAULT_ALREADY_DONE_REPLY: Final[Mapping[str, Any]] = {
    "status": "error",
    "code": 1505,
    "message": "Masking number not available",
}
"""What the stand-in answers for a masking that is unknown or already expired.

DeepCall does not document this answer; 1505 is the closest published code. Tests that want to
check the client's mapping of other plausible answers pass ``already_done_reply=...``.
"""

_SUCCESS_REPLY: Final[Mapping[str, Any]] = {"status": "success", "message": "Your masking unset"}


def _error_body(code: int, message: str) -> dict[str, Any]:
    return {"status": "error", "message": message, "code": code}


def _dump(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the stand-in received it; ``json`` is None when the body is not JSON."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any | None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable form (the body decoded as UTF-8, with replacement characters)."""
        return {
            "method": self.method,
            "path": self.path,
            "headers": dict(self.headers),
            "body": self.body.decode("utf-8", errors="replace"),
            "json": self.json,
        }


@dataclass
class Fault:
    """One scripted answer to an unset request, consumed instead of the normal behaviour.

    ``body=None`` means the request is processed normally (it may expire the target) and the
    normal body is sent with this ``status`` and the extra ``headers``. ``delay`` is waited before
    anything else. ``reset`` drops the connection with a TCP RST without processing the request.
    ``truncate`` sends the full Content-Length but only half of the body, then closes.
    """

    status: int = 200
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    reset: bool = False
    truncate: bool = False

    @classmethod
    def error(cls, code: int, message: str, status: int = 200) -> Fault:
        """A DeepCall error body ``{"status": "error", "message": ..., "code": ...}``."""
        return cls(
            status=status,
            body=_dump(_error_body(code, message)),
            headers={"Content-Type": _JSON},
        )

    @classmethod
    def html(cls, status: int = 502) -> Fault:
        """An HTML error page, as a proxy or load balancer in front of DeepCall would send."""
        phrase = _reason(status)
        page = (
            f"<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n"
            f"<center><h1>{status} {phrase}</h1></center>\r\n<hr><center>nginx</center>\r\n"
            "</body>\r\n</html>\r\n"
        )
        return cls(
            status=status, body=page.encode(), headers={"Content-Type": "text/html; charset=utf-8"}
        )

    @classmethod
    def retry_after(cls, seconds: int | float, status: int = 429) -> Fault:
        """A rate-limit answer with a ``Retry-After`` header; the request is not processed."""
        value = str(int(seconds)) if float(seconds).is_integer() else str(seconds)
        # An API gateway's throttling body, not a DeepCall one: it carries no status/code, so a
        # client has to fall back to the HTTP status to classify it.
        return cls(
            status=status,
            body=_dump({"message": "Too Many Requests"}),
            headers={"Content-Type": _JSON, "Retry-After": value},
        )

    @classmethod
    def timeout(cls, delay: float) -> Fault:
        """Wait ``delay`` seconds (longer than the client's timeout), then answer normally."""
        return cls(delay=delay)

    def to_dict(self) -> dict[str, Any]:
        """The form ``POST /_standin/faults`` accepts (the body decoded as UTF-8)."""
        return {
            "status": self.status,
            "body": None if self.body is None else self.body.decode("utf-8", errors="replace"),
            "headers": dict(self.headers),
            "delay": self.delay,
            "reset": self.reset,
            "truncate": self.truncate,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fault:
        """Build a fault from its dict form; raises ValueError on unknown keys or wrong types."""
        unknown = set(data) - {"status", "body", "headers", "delay", "reset", "truncate"}
        if unknown:
            raise ValueError(f"unknown fault keys: {sorted(unknown)}")
        status = data.get("status", 200)
        body = data.get("body")
        headers = data.get("headers", {})
        delay = data.get("delay", 0.0)
        reset = data.get("reset", False)
        truncate = data.get("truncate", False)
        if type(status) is not int or not 100 <= status <= 599:
            raise ValueError("status must be an HTTP status code")
        if body is not None and not isinstance(body, str):
            raise ValueError("body must be a string or null")
        if not isinstance(headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            raise ValueError("headers must map strings to strings")
        if isinstance(delay, bool) or not isinstance(delay, int | float) or delay < 0:
            raise ValueError("delay must be a non-negative number")
        if not isinstance(reset, bool) or not isinstance(truncate, bool):
            raise ValueError("reset and truncate must be booleans")
        return cls(
            status=status,
            body=None if body is None else body.encode(),
            headers=dict(headers),
            delay=float(delay),
            reset=reset,
            truncate=truncate,
        )


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


@dataclass
class _Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": _JSON})


def _json_reply(status: int, obj: Any) -> _Reply:
    return _Reply(status, _dump(obj))


def _scalar_text(value: Any) -> str | None:
    """The text of a JSON string or integer; DeepCall's samples send numbers unquoted."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _validate_credentials(creds: Mapping[str, str] | None) -> dict[str, str] | None:
    if creds is None:
        return None
    if set(creds) not in ({"ssid"}, {"userId", "token"}):
        raise ValueError("credentials must be {'ssid': ...} or {'userId': ..., 'token': ...}")
    if not all(isinstance(v, str) and v for v in creds.values()):
        raise ValueError("credential values must be non-empty strings")
    return dict(creds)


class _Abort(Exception):
    """Raised inside a handler to drop the connection without answering."""

    def __init__(self, *, reset: bool) -> None:
        super().__init__()
        self.reset = reset


class _Server(ThreadingHTTPServer):
    # Daemon handler threads: stop() must never wait on a handler stuck in a client's socket.
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], standin: DeepCallStandIn) -> None:
        self.standin = standin
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Wake handlers blocked reading an idle keep-alive connection so they exit."""
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            # OSError: already closed by its handler.
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (read timeout, reset) is normal here; anything else is a bug in
        # the stand-in and should be visible.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    # HTTP/1.1 so that clients keep connections alive as they would against DeepCall.
    protocol_version = "HTTP/1.1"
    server_version = "DeepCallStandIn/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: the stand-in must not write to stdout/stderr while serving."""

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without TCP_NODELAY, Nagle plus the
        # client's delayed ACK adds ~40 ms to every answer, which would skew benchmarks.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle(self) -> None:
        try:
            super().handle()
        except _Abort as abort:
            self.close_connection = True
            if abort.reset:
                # Linger 0 makes close() send RST, so the client sees ConnectionResetError rather
                # than an orderly EOF. Close everything now: socketserver would otherwise send a
                # FIN with shutdown(SHUT_WR) first.
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
            self.rfile.close()
            self.wfile.close()
            self.connection.close()

    # Every method goes through one dispatcher so unknown paths answer 404 and known paths 405.
    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_OPTIONS(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        body = self._read_body()
        path = urlsplit(self.path).path
        standin = self.server.standin
        if path == UNSET_PATH:
            if self.command != "POST":
                self._send(self._method_not_allowed("POST"))
                return
            self._handle_unset(body)
            return
        if path.startswith(_CONTROL_PREFIX):
            reply = standin._control(self.command, path[len(_CONTROL_PREFIX) :], body)
            self._send(reply)
            return
        self._send(_json_reply(404, {"status": "error", "message": f"Not Found: {path}"}))

    def _method_not_allowed(self, allow: str) -> _Reply:
        reply = _json_reply(405, {"status": "error", "message": "Method Not Allowed"})
        reply.headers["Allow"] = allow
        return reply

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        raw_length = self.headers.get("Content-Length")
        if raw_length is None:
            return b""
        try:
            length = int(raw_length)
        except ValueError:
            self._send(_json_reply(400, {"status": "error", "message": "Bad Content-Length"}))
            raise _Abort(reset=False) from None
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            size_line = self.rfile.readline(65537)
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                # Trailers end with an empty line.
                while self.rfile.readline(65537).strip():
                    pass
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline(65537)

    def _handle_unset(self, body: bytes) -> None:
        standin = self.server.standin
        standin._record(
            RecordedRequest(
                method=self.command,
                path=self.path,
                headers=dict(self.headers.items()),
                body=body,
                json=_parse_json(body),
            )
        )
        fault = standin._next_fault()
        delay = standin.latency + (fault.delay if fault is not None else 0.0)
        # Waiting on the stop event (not sleeping) lets stop() cut in-flight delays short.
        if delay > 0 and standin._stopping.wait(delay):
            raise _Abort(reset=False)
        if standin._stopping.is_set():
            raise _Abort(reset=False)
        if fault is not None and fault.reset:
            raise _Abort(reset=True)
        if fault is None or fault.body is None:
            reply = standin._unset(body)
        else:
            headers = {"Content-Type": _guess_content_type(fault.body)}
            reply = _Reply(fault.status, fault.body, headers)
        if fault is not None:
            reply.status = fault.status
            _merge_headers(reply.headers, fault.headers)
        self._send(reply, truncate=fault is not None and fault.truncate)

    def _send(self, reply: _Reply, *, truncate: bool = False) -> None:
        self.send_response(reply.status)
        headers = dict(reply.headers)
        if reply.status < 400:
            headers.setdefault("ETag", 'W/"' + hashlib.sha256(reply.body).hexdigest()[:16] + '"')
        headers.setdefault("Access-Control-Allow-Origin", "*")
        for name, value in headers.items():
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        if truncate:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command == "HEAD":
            return
        if truncate:
            self.wfile.write(reply.body[: len(reply.body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(reply.body)


def _parse_json(body: bytes) -> Any | None:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # a scripted fault may be deliberately unreadable
        return None


def _guess_content_type(body: bytes) -> str:
    return _JSON if _parse_json(body) is not None else "text/plain; charset=utf-8"


def _merge_headers(target: dict[str, str], extra: Mapping[str, str]) -> None:
    for name, value in extra.items():
        for existing in [k for k in target if k.lower() == name.lower()]:
            del target[existing]
        target[name] = value


class DeepCallStandIn:
    """An in-process DeepCall stand-in serving ``POST /api/v2/Masking/unset`` on loopback.

    ``credentials`` is ``{"ssid": ...}`` or ``{"userId": ..., "token": ...}``; None accepts any
    values (the body must still carry one of the two auth forms). ``active`` is the set of target
    keys that have an active masking (None: every target is active). A target that is not active,
    or was already expired, answers ``already_done_reply`` with HTTP 200. ``latency`` (seconds) is
    added before every unset answer and may be changed while serving.
    """

    def __init__(
        self,
        *,
        credentials: Mapping[str, str] | None = None,
        latency: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        active: set[str] | None = None,
        already_done_reply: Mapping[str, Any] = DEFAULT_ALREADY_DONE_REPLY,
    ) -> None:
        self.latency = latency
        self.active = active
        self.already_done_reply: Mapping[str, Any] = dict(already_done_reply)
        self._host = host
        self._port = port
        self._credentials = _validate_credentials(credentials)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._requests: list[RecordedRequest] = []
        self._faults: deque[Fault] = deque()
        self._fault_rate = 0.0
        self._rate_faults: tuple[Fault, ...] = ()
        self._rng: random.Random | None = None
        self._expired: Counter[str] = Counter()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT`` of the running server."""
        if self._server is None:
            raise RuntimeError("the stand-in is not started")
        host, port = self._server.server_address[:2]
        host_text = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://{host_text}:{port}"

    def start(self) -> None:
        """Bind and serve in a background thread."""
        if self._server is not None:
            raise RuntimeError("the stand-in is already started")
        self._stopping = threading.Event()
        self._server = _Server((self._host, self._port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"deepcall-standin-{self._server.server_address[1]}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving; in-flight delayed requests are dropped without an answer."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join()
        self._server = None
        self._thread = None

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

    # -- inspection ------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of every recorded request (control requests under /_standin/ excluded)."""
        with self._lock:
            return list(self._requests)

    @property
    def unset_calls(self) -> list[RecordedRequest]:
        """The recorded ``POST /api/v2/Masking/unset`` requests."""
        return [
            r for r in self.requests if r.method == "POST" and urlsplit(r.path).path == UNSET_PATH
        ]

    @property
    def expired(self) -> Counter[str]:
        """A copy of how many times each target key was expired (mask, or ``"m1|m2"``)."""
        with self._lock:
            return Counter(self._expired)

    def wait_for_unset_calls(self, count: int, timeout: float) -> bool:
        """Block until at least ``count`` unset requests were received; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: self._unset_count() >= count, timeout)

    def _unset_count(self) -> int:
        return sum(
            1 for r in self._requests if r.method == "POST" and urlsplit(r.path).path == UNSET_PATH
        )

    def clear(self) -> None:
        """Forget recorded requests, the expired counter, queued faults and the fault rate."""
        with self._lock:
            self._requests.clear()
            self._expired.clear()
            self._faults.clear()
            self._fault_rate = 0.0
            self._rate_faults = ()
            self._rng = None

    # -- scripting -------------------------------------------------------------------------

    def enqueue(self, *faults: Fault) -> None:
        """Queue faults; the next unset requests consume them in order before normal behaviour."""
        with self._lock:
            self._faults.extend(faults)

    def set_fault_rate(self, rate: float, faults: Sequence[Fault], seed: int) -> None:
        """Answer a seeded-random share ``rate`` of unset requests with one of ``faults``."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must lie in [0, 1]")
        if rate > 0 and not faults:
            raise ValueError("a positive rate needs at least one fault")
        with self._lock:
            self._fault_rate = rate
            self._rate_faults = tuple(faults)
            # Not for security: a seeded generator so soak runs are reproducible.
            self._rng = random.Random(seed)

    def set_credentials(self, credentials: Mapping[str, str] | None) -> None:
        """Rotate the accepted credentials; the old ones now answer code 1014."""
        validated = _validate_credentials(credentials)
        with self._lock:
            self._credentials = validated

    # -- request handling (called from handler threads) -------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._changed:
            self._requests.append(request)
            self._changed.notify_all()

    def _next_fault(self) -> Fault | None:
        with self._lock:
            if self._faults:
                return self._faults.popleft()
            if self._rng is not None and self._rng.random() < self._fault_rate:
                return self._rate_faults[self._rng.randrange(len(self._rate_faults))]
            return None

    def _unset(self, raw: bytes) -> _Reply:
        """DeepCall's normal behaviour for one unset request."""
        body = _parse_json(raw)
        if not isinstance(body, dict):
            return _json_reply(200, _error_body(1047, "Invalid request data"))
        with self._lock:
            credentials = self._credentials
        auth_error = _check_auth(body, credentials)
        if auth_error is not None:
            return _json_reply(200, auth_error)
        targets: dict[str, str] = {}
        for name in _TARGET_FIELDS:
            if body.get(name) is None:
                continue
            text = _scalar_text(body[name])
            if not text:
                return _json_reply(200, _error_body(1000, f"Invalid parameters: {name}"))
            targets[name] = text
        if not targets:
            return _json_reply(200, _error_body(1000, "Invalid parameters: mask, m1 or m2"))
        if "m1" in targets and targets.get("m1") == targets.get("m2"):
            return _json_reply(200, _error_body(1501, "m1 and m2 cannot be the same"))
        duration = body.get("expiry_duration")
        if not isinstance(duration, int) or isinstance(duration, bool):
            return _json_reply(200, _error_body(1502, "Expiry must be an integer value"))
        key = targets.get("mask") or f"{targets.get('m1', '')}|{targets.get('m2', '')}"
        with self._lock:
            active = self.active
            if (active is not None and key not in active) or self._expired[key] > 0:
                return _json_reply(200, self.already_done_reply)
            # Only a negative duration expires now; a non-negative one sets a later expiry,
            # which the stand-in answers but does not model.
            if duration < 0:
                self._expired[key] += 1
        return _json_reply(200, _SUCCESS_REPLY)

    def _control(self, method: str, name: str, raw: bytes) -> _Reply:
        """The ``/_standin/*`` control endpoints for processes that do not hold this object."""
        routes = {
            "requests": "GET",
            "expired": "GET",
            "faults": "POST",
            "reset": "POST",
        }
        allowed = routes.get(name)
        if allowed is None:
            return _json_reply(404, {"status": "error", "message": f"Not Found: {name}"})
        if method != allowed:
            reply = _json_reply(405, {"status": "error", "message": "Method Not Allowed"})
            reply.headers["Allow"] = allowed
            return reply
        if name == "requests":
            return _json_reply(200, [r.to_dict() for r in self.unset_calls])
        if name == "expired":
            return _json_reply(200, dict(self.expired))
        if name == "reset":
            self.clear()
            return _json_reply(200, {"status": "ok"})
        data = _parse_json(raw)
        if not isinstance(data, list):
            return _json_reply(400, {"status": "error", "message": "expected a JSON list"})
        try:
            faults = [Fault.from_dict(item) for item in data if isinstance(item, dict)]
        except ValueError as exc:
            return _json_reply(400, {"status": "error", "message": str(exc)})
        if len(faults) != len(data):
            return _json_reply(400, {"status": "error", "message": "faults must be objects"})
        self.enqueue(*faults)
        return _json_reply(200, {"status": "ok", "enqueued": len(faults)})


def _check_auth(body: Mapping[str, Any], credentials: Mapping[str, str] | None) -> Any | None:
    """The error body for the request's authentication, or None when it is accepted."""
    sent = {name: body[name] for name in _AUTH_FIELDS if name in body}
    if not sent:
        return _error_body(1000, "Invalid parameters: authentication missing")
    if ("userId" in sent) != ("token" in sent):
        return _error_body(1000, "Invalid parameters: userId and token go together")
    if "ssid" in sent and "userId" in sent:
        # DeepCall: when userId and token are used, ssid must not be present.
        return _error_body(1000, "Invalid parameters: ssid must not be sent with userId/token")
    if credentials is None:
        return None
    if set(sent) != set(credentials) or any(
        _scalar_text(value) != credentials[name] for name, value in sent.items()
    ):
        return _error_body(1014, "Invalid token")
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Serve a stand-in on 127.0.0.1 until interrupted; prints the base URL on stdout."""
    parser = argparse.ArgumentParser(
        prog="python -m masking_unset_tools.local.deepcall_standin",
        description="Serve a DeepCall stand-in on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--ssid", help="accept this ssid (default: accept any credentials)")
    parser.add_argument("--user-id", help="accept this userId (with --token)")
    parser.add_argument("--token", help="accept this token (with --user-id)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    args = parser.parse_args(argv)

    credentials: dict[str, str] | None = None
    if args.ssid is not None:
        if args.user_id is not None or args.token is not None:
            parser.error("--ssid cannot be combined with --user-id/--token")
        credentials = {"ssid": args.ssid}
    elif args.user_id is not None or args.token is not None:
        if args.user_id is None or args.token is None:
            parser.error("--user-id and --token go together")
        credentials = {"userId": args.user_id, "token": args.token}

    done = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    with DeepCallStandIn(credentials=credentials, latency=args.latency, port=args.port) as standin:
        # The URL alone on stdout so a parent process can read it from the first line.
        print(standin.base_url, flush=True)
        print(f"DeepCall stand-in: POST {standin.base_url}{UNSET_PATH}", file=sys.stderr)
        done.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
