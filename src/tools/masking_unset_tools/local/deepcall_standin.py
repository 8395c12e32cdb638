"""A DeepCall stand-in: an HTTP server that answers ``POST /api/v2/Masking/unset`` like DeepCall.

Used by the test suite, the benchmarks and the local demo. It binds to loopback by default and
records every unset request; faults (error bodies, 5xx, 429, HTML proxy pages, delays, connection
resets, truncated bodies, answers dripped a byte at a time, huge or gzip-bombed answers) are
scripted in-process with :meth:`DeepCallStandIn.enqueue`, and an outage (one fault answered to every
request until it ends) with :meth:`DeepCallStandIn.set_outage`. It runs on
the tooling's HTTP server (:mod:`masking_unset_tools.local.http_server`), as ``serve`` does.

Run it on its own with::

    python -m masking_unset_tools.local.deepcall_standin --port 8765 --ssid demo
"""

from __future__ import annotations

import argparse
import functools
import gzip
import hashlib
import json
import signal
import sys
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from types import FrameType
from typing import Any, Final
from urllib.parse import urlsplit

from masking_unset_tools.local.http_server import Drop, HttpAnswer, HttpRequest, HttpServer, Served

__all__ = [
    "DEFAULT_ALREADY_DONE_REPLY",
    "UNSET_PATH",
    "DeepCallStandIn",
    "Fault",
    "RecordedRequest",
    "main",
]

UNSET_PATH: Final = "/api/v2/Masking/unset"
SERVER_NAME: Final = "DeepCallStandIn/1.0"
_AUTH_FIELDS: Final = ("ssid", "userId", "token")
_TARGET_FIELDS: Final = ("mask", "m1", "m2")
_JSON: Final = "application/json"
_PAD: Final = b" " * (64 * 1024)  # one buffer, sent again and again: a huge answer costs no memory
_GZIP_PAD_BYTES: Final = 1024 * 1024

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


@dataclass
class Fault:
    """One scripted answer to an unset request, consumed instead of the normal behaviour.

    ``body=None`` means the request is processed normally (it may expire the target) and the
    normal body is sent with this ``status`` and the extra ``headers``. ``delay`` is waited before
    anything else. ``reset`` drops the connection with a TCP RST without processing the request.
    ``truncate`` sends the full Content-Length but only half of the body, then closes.

    The body can also be produced as it is sent: ``size`` pads it with spaces (after the JSON,
    so it stays valid JSON) to that many bytes, ``gzip`` compresses it (``Content-Encoding:
    gzip``; ``size`` counts the decompressed bytes), ``chunked`` sends it without a length, and
    ``drip`` sends it one byte at a time, that many seconds apart.
    """

    status: int = 200
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    reset: bool = False
    truncate: bool = False
    size: int = 0
    gzip: bool = False
    chunked: bool = False
    drip: float = 0.0

    @property
    def streamed(self) -> bool:
        """Whether the body is produced as it is sent."""
        return bool(self.size or self.gzip or self.chunked or self.drip)

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

    @classmethod
    def slow_drip(cls, interval: float, *, chunked: bool = False) -> Fault:
        """Process the request, then send the normal answer one byte every ``interval`` seconds:
        no single read waits long, the whole answer does."""
        return cls(drip=interval, chunked=chunked)

    @classmethod
    def huge(cls, size: int, *, chunked: bool = False, gzip: bool = False) -> Fault:
        """Process the request, then send the normal answer padded with spaces to ``size``
        bytes: with its length, ``chunked``, or as a ``gzip`` bomb (a small download that
        decompresses to ``size`` bytes)."""
        return cls(size=size, chunked=chunked, gzip=gzip)


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
    truncate: bool = False
    stream: Iterator[bytes] | None = None
    length: int | None = None


@functools.cache
def _gzip_pad() -> bytes:
    # gzip members may follow one another; each of these decompresses to 1 MiB of spaces.
    return gzip.compress(b" " * _GZIP_PAD_BYTES, mtime=0)


def _padded(body: bytes, size: int) -> Iterator[bytes]:
    """``body``, then spaces up to ``size`` bytes, in pieces that share one buffer."""
    yield body
    left = size - len(body)
    while left > 0:
        piece = _PAD if left >= len(_PAD) else _PAD[:left]
        yield piece
        left -= len(piece)


def _gzipped(body: bytes, size: int) -> list[bytes]:
    """gzip members that decompress to ``body`` and then spaces up to ``size`` bytes."""
    members = [gzip.compress(body, mtime=0)]
    left = size - len(body)
    members += [_gzip_pad()] * max(left // _GZIP_PAD_BYTES, 0)
    if left > 0 and left % _GZIP_PAD_BYTES:
        members.append(gzip.compress(b" " * (left % _GZIP_PAD_BYTES), mtime=0))
    return members


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


class DeepCallStandIn(Served):
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
        self._requests: list[RecordedRequest] = []
        self._faults: deque[Fault] = deque()
        self._outage: Fault | None = None
        self._watcher: Callable[[RecordedRequest], None] | None = None
        self._expired: Counter[str] = Counter()
        self._streamed_bytes = 0
        self._stopping = threading.Event()
        self._server: HttpServer | None = None

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT`` of the running server."""
        if self._server is None:
            raise RuntimeError("the stand-in is not started")
        return self._server.url

    def start(self) -> None:
        """Bind and serve in a background thread."""
        if self._server is not None:
            raise RuntimeError("the stand-in is already started")
        self._stopping = threading.Event()
        self._server = HttpServer(
            (self._host, self._port), self._serve, server_name=SERVER_NAME, refusal=_refusal
        )
        self._server.start(name=f"deepcall-standin-{self._server.server_address[1]}")

    def stop(self) -> None:
        """Stop serving; in-flight delayed requests are dropped without an answer."""
        server = self._server
        if server is None:
            return
        self._stopping.set()
        server.stop()
        self._server = None

    # -- inspection ------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of every recorded request (the unset requests)."""
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

    @property
    def streamed_bytes(self) -> int:
        """How many bytes of streamed bodies (see :class:`Fault`) were written to a client."""
        with self._lock:
            return self._streamed_bytes

    def clear(self) -> None:
        """Forget recorded requests, the expired counter, the streamed bytes and queued faults."""
        with self._lock:
            self._requests.clear()
            self._expired.clear()
            self._faults.clear()
            self._streamed_bytes = 0

    # -- scripting -------------------------------------------------------------------------

    def enqueue(self, *faults: Fault) -> None:
        """Queue faults; the next unset requests consume them in order before normal behaviour."""
        with self._lock:
            self._faults.extend(faults)

    def set_outage(self, fault: Fault | None) -> None:
        """Answer every unset request with ``fault`` (not consumed, before any queued fault)
        until called with None."""
        with self._lock:
            self._outage = fault

    def set_watcher(self, watcher: Callable[[RecordedRequest], None] | None) -> None:
        """Call ``watcher`` with each unset request as it arrives, in the request's thread and
        before it is answered (the demo notes the circuit breaker's state at that moment);
        None stops watching. The watcher must not call back into the stand-in."""
        with self._lock:
            self._watcher = watcher

    # -- request handling (called from connection threads) ---------------------------------

    def _serve(self, request: HttpRequest) -> HttpAnswer:
        """The HTTP server's app: the answer with the headers every answer carries."""
        reply = self._answer(request)
        headers = dict(reply.headers)
        if reply.status < 400:
            headers.setdefault("ETag", 'W/"' + hashlib.sha256(reply.body).hexdigest()[:16] + '"')
        headers.setdefault("Access-Control-Allow-Origin", "*")
        return HttpAnswer(
            reply.status,
            list(headers.items()),
            reply.body,
            reply.truncate,
            stream=reply.stream,
            length=reply.length,
        )

    def _answer(self, request: HttpRequest) -> _Reply:
        """Unset requests are DeepCall's; unknown paths answer 404, other methods 405."""
        path = urlsplit(request.target).path
        if path != UNSET_PATH:
            return _json_reply(404, {"status": "error", "message": f"Not Found: {path}"})
        if request.method != "POST":
            reply = _json_reply(405, {"status": "error", "message": "Method Not Allowed"})
            reply.headers["Allow"] = "POST"
            return reply
        return self._handle_unset(request)

    def _handle_unset(self, request: HttpRequest) -> _Reply:
        self._record(
            RecordedRequest(
                method=request.method,
                path=request.target,
                headers=dict(request.headers),
                body=request.body,
                json=_parse_json(request.body),
            )
        )
        fault = self._next_fault()
        delay = self.latency + (fault.delay if fault is not None else 0.0)
        # Waiting on the stop event (not sleeping) lets stop() cut in-flight delays short.
        if delay > 0 and self._stopping.wait(delay):
            raise Drop()
        if self._stopping.is_set():
            raise Drop()
        if fault is not None and fault.reset:
            raise Drop(reset=True)
        if fault is None or fault.body is None:
            reply = self._unset(request.body)
        else:
            reply = _Reply(
                fault.status, fault.body, {"Content-Type": _guess_content_type(fault.body)}
            )
        if fault is not None:
            reply.status = fault.status
            reply.truncate = fault.truncate
            _merge_headers(reply.headers, fault.headers)
            if fault.streamed:
                self._stream(reply, fault)
        return reply

    def _stream(self, reply: _Reply, fault: Fault) -> None:
        """Turn ``reply``'s body into one produced as it is sent, as ``fault`` says."""
        pieces: Iterator[bytes] | list[bytes]
        if fault.gzip:
            pieces = _gzipped(reply.body, fault.size)
            length = sum(map(len, pieces))
            _merge_headers(reply.headers, {"Content-Encoding": "gzip"})
        else:
            pieces = _padded(reply.body, fault.size)
            length = max(fault.size, len(reply.body))
        reply.stream = self._counted(iter(pieces), fault.drip)
        reply.length = None if fault.chunked else length

    def _counted(self, pieces: Iterator[bytes], drip: float) -> Iterator[bytes]:
        """``pieces`` (one byte at a time, ``drip`` seconds apart, when dripped), counting each
        once the server asks for the next one: by then it was written."""
        for piece in pieces:
            parts = [piece[i : i + 1] for i in range(len(piece))] if drip else [piece]
            for part in parts:
                # Waiting on the stop event (not sleeping) lets stop() cut a drip short.
                if drip and self._stopping.wait(drip):
                    raise Drop()
                yield part
                with self._lock:
                    self._streamed_bytes += len(part)

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)
            watcher = self._watcher
        if watcher is not None:
            watcher(request)

    def _next_fault(self) -> Fault | None:
        with self._lock:
            if self._outage is not None:
                return self._outage
            return self._faults.popleft() if self._faults else None

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


def _refusal(status: int, code: str, message: str) -> HttpAnswer:
    """A request that is not valid HTTP, answered in DeepCall's error form."""
    body = _dump({"status": "error", "message": message})
    return HttpAnswer(status, [("Content-Type", _JSON)], body)


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
