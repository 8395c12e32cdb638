"""DeepCall's HTTP API."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from time import monotonic, time
from typing import Any, Protocol

import requests
from pydantic import ValidationError
from requests.adapters import HTTPAdapter
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import ReadTimeoutError

from masking_unset.models.deepcall import (
    EXPIRE_NOW_MINUTES,
    DeepCallCredentials,
    DeepCallReply,
    UnsetTarget,
    unset_body,
    unset_url,
)
from masking_unset.models.errors import (
    ConfigurationError,
    MaskingUnsetError,
    UpstreamRejected,
    UpstreamUnavailable,
)
from masking_unset.models.json_input import MAX_BYTES, load_json
from masking_unset.models.redact import scrub

_MAX_MESSAGE = 200
MAX_RETRY_AFTER_SECONDS = 3600.0  # a longer wait asked for is waited no longer than this
_MAX_HTTP_DATE = 64  # "Sun, 06 Nov 1994 08:49:37 GMT" is 29
_READ_BYTES = 64 * 1024  # the answer is read in pieces of at most this much (decoded)
# How long a 429 without a usable Retry-After pauses the pacer.
DEFAULT_PAUSE_SECONDS = 1.0


class RequestPacer(Protocol):
    """Paces requests (see :class:`masking_unset.logic.ratelimit.TokenBucket`)."""

    def acquire(self) -> bool:
        """Wait for a slot; False, without waiting, when none comes soon enough."""
        ...

    def wait_time(self) -> float:
        """Seconds until a slot would be free."""
        ...

    def pause(self, seconds: float) -> None:
        """No slot for ``seconds`` (DeepCall asked to slow down); shared pacers pause the fleet."""
        ...


class _Watchdog:
    """Cuts one attempt's connection at its deadline. Socket timeouts bound each read, never
    their sum: an answer dripped a byte at a time would otherwise be waited for without end."""

    def __init__(self, seconds: float) -> None:
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._stopped = False
        self.fired = False
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, sock: socket.socket | None) -> None:
        """The socket the attempt now waits on (shut at once when the deadline has passed)."""
        with self._lock:
            self._sock = sock
            if self.fired:
                self._shut()

    def stop(self) -> None:
        """The attempt is over: leave its connection alone from now on."""
        with self._lock:
            self._stopped = True
        self._timer.cancel()

    def _fire(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self.fired = True
            self._shut()

    def _shut(self) -> None:
        # shutdown (not close) is safe while another thread is blocked reading the socket:
        # its read returns at once, and the connection is then closed, never reused.
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)


_attempt = threading.local()  # the calling thread's watchdog, for the connection it uses


class _WatchedConnection(HTTPConnection):
    def getresponse(self) -> Any:  # the answer's wait: from its status line to its last byte
        watchdog: _Watchdog | None = getattr(_attempt, "watchdog", None)
        if watchdog is not None:
            watchdog.watch(self.sock)
        return super().getresponse()


class _WatchedHTTPSConnection(HTTPSConnection):
    def getresponse(self) -> Any:
        watchdog: _Watchdog | None = getattr(_attempt, "watchdog", None)
        if watchdog is not None:
            watchdog.watch(self.sock)
        return super().getresponse()


class _WatchedPool(HTTPConnectionPool):
    ConnectionCls = _WatchedConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _WatchedAdapter(HTTPAdapter):
    """An adapter whose connections a :class:`_Watchdog` can cut."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        """The pool manager, building watched pools (a new dict: the default one is shared)."""
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedPool, "https": _WatchedHTTPSPool}


def build_session(pool_size: int = 10) -> requests.Session:
    """A keep-alive session whose connection pool matches the expected concurrency."""
    session = requests.Session()
    adapter = _WatchedAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers.update({"Accept": "application/json", "User-Agent": "masking-unset"})
    return session


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date), at most
    :data:`MAX_RETRY_AFTER_SECONDS`; None when there is no such header or it says nothing."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # ASCII only: "²".isdigit() too, float() refuses it
        digits = value.lstrip("0")
        if len(digits) > 9:  # beyond any cap; float() of 400 digits would be inf
            return MAX_RETRY_AFTER_SECONDS
        return min(float(digits or "0"), MAX_RETRY_AFTER_SECONDS)
    if len(value) > _MAX_HTTP_DATE:
        return None
    try:
        moment = parsedate_to_datetime(value)
        seconds = moment.timestamp() - (time() if now is None else now)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)  # a date is never NaN


def _timed_out() -> UpstreamUnavailable:
    return UpstreamUnavailable("DeepCall did not answer in time", code="upstream_timeout")


def _unavailable(exc: Exception) -> UpstreamUnavailable:
    """The failure of an attempt that got no usable answer, by what went wrong."""
    if isinstance(exc, UpstreamUnavailable):
        return exc
    # A read timeout in the body comes wrapped in a ConnectionError by iter_content.
    if isinstance(exc, requests.Timeout) or (
        isinstance(exc, requests.ConnectionError)
        and any(isinstance(arg, ReadTimeoutError) for arg in exc.args)
    ):
        return _timed_out()
    if isinstance(
        exc, requests.exceptions.ChunkedEncodingError | requests.exceptions.ContentDecodingError
    ):
        # The request may well have been carried out; only the answer was lost.
        return UpstreamUnavailable("DeepCall's answer was cut off", code="upstream_bad_response")
    # The exception text can echo the URL but never the body; keep only its type.
    return UpstreamUnavailable(
        f"could not reach DeepCall ({type(exc).__name__})", code="upstream_unreachable"
    )


def _declared_length(headers: Mapping[str, str]) -> int | None:
    """The Content-Length, when it is one plain number."""
    value = headers.get("Content-Length", "").strip().lstrip("0") or "0"
    if not (value.isascii() and value.isdigit()):
        return None
    return MAX_BYTES + 1 if len(value) > 12 else int(value)  # int() of 5000 digits raises


def _read_answer(response: requests.Response, ends: float) -> bytes:
    """The answer's body, decoded, read in pieces: a piece past the ``ends`` deadline (a
    monotonic time) is a timeout, and a body over :data:`MAX_BYTES` (what the JSON loader
    reads, counted after decompression) is unreadable; the rest of it is never read."""
    encoding = response.headers.get("Content-Encoding", "").strip().lower()
    length = _declared_length(response.headers)
    if encoding in {"", "identity"} and length is not None and length > MAX_BYTES:
        raise _too_large(response)  # refused before a byte of it is read
    pieces: list[bytes] = []
    size = 0
    for piece in response.iter_content(_READ_BYTES):  # decoded; each at most _READ_BYTES
        size += len(piece)
        if size > MAX_BYTES:
            raise _too_large(response)
        pieces.append(piece)
        if monotonic() >= ends:
            raise _timed_out()
    return b"".join(pieces)


def _too_large(response: requests.Response) -> UpstreamUnavailable:
    status = response.status_code
    return UpstreamUnavailable(
        f"DeepCall answered HTTP {status} with a body over {MAX_BYTES // 1024} KiB",
        http_status=status,
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
        code="upstream_bad_response",
    )


class DeepCallClient:
    """Calls ``POST {base}/api/v2/Masking/unset``; one instance (and session) per container."""

    def __init__(
        self,
        base_url: str,
        *,
        session: requests.Session,
        connect_timeout: float = 3.05,
        read_timeout: float = 5.0,
        pacer: RequestPacer | None = None,
    ) -> None:
        try:  # built by the URL library: a query or fragment in the base would move the path
            self._url = unset_url(base_url)
        except ValueError as exc:
            raise ConfigurationError(f"DEEPCALL_BASE_URL: {exc}") from None
        self._session = session
        self._timeout = (connect_timeout, read_timeout)
        self._pacer = pacer

    def unset(
        self,
        credentials: DeepCallCredentials,
        target: UnsetTarget,
        expiry_duration: int = EXPIRE_NOW_MINUTES,
        *,
        time_limit: float | None = None,
    ) -> DeepCallReply:
        """Expire ``target`` now (``expiry_duration`` negative), or set its expiry that many
        minutes from now.

        The attempt takes at most ``time_limit`` seconds (the invocation's time it may use, the
        rate-limit wait included) and at most the connect and read timeouts together after that
        wait, however slowly the answer comes: past that it is abandoned (``upstream_timeout``).
        Only the first :data:`MAX_BYTES` of the answer, decoded, are read.

        Returns DeepCall's success reply. Raises :class:`UpstreamRejected` when DeepCall answers
        with an error body (its ``code`` kept), :class:`UpstreamUnavailable` when no usable
        answer came back (connection failure, timeout, 429/5xx, a body that is not JSON or is too
        long) or when the ``DEEPCALL_MAX_RPS`` pacer has no slot soon enough (code
        ``rate_limited``, nothing sent; its ``retry_after`` says when one frees up).
        """
        started = monotonic()
        if self._pacer is not None and not self._pacer.acquire():
            raise UpstreamUnavailable(
                "DeepCall request rate limit reached (DEEPCALL_MAX_RPS)",
                code="rate_limited",
                retry_after=self._pacer.wait_time(),
            )
        connect, read = self._timeout
        ends = monotonic() + connect + read
        if time_limit is not None and started + time_limit < ends:
            ends = started + time_limit
        left = ends - monotonic()
        if left <= 0:
            raise _timed_out()
        watchdog = _Watchdog(left)
        _attempt.watchdog = watchdog
        response: requests.Response | None = None
        try:
            response = self._session.post(
                self._url,
                json=unset_body(credentials, target, expiry_duration),
                # Each bounds one wait (the connect, each read): none may outlast the attempt.
                timeout=(min(connect, left), min(read, left)),
                allow_redirects=False,  # the body carries credentials: never resend it elsewhere
                stream=True,  # read below, piece by piece, within the deadline and the size limit
            )
            body = _read_answer(response, ends)
        except (requests.RequestException, UpstreamUnavailable) as exc:
            if watchdog.fired:
                raise _timed_out() from None
            raise _unavailable(exc) from None
        finally:
            watchdog.stop()
            _attempt.watchdog = None
            if response is not None:
                # An answer not read to its end closes its connection: never pooled half-read.
                response.close()
        if watchdog.fired:  # an answer without a length, cut short, looks complete
            raise _timed_out()
        self._slow_down_if_asked(response.status_code, response.headers)
        return self._interpret(response.status_code, response.headers, body, credentials)

    def _slow_down_if_asked(self, status: int, headers: Mapping[str, str]) -> None:
        """A 429 (or a 503 with ``Retry-After``) pauses the pacer for the time asked (1 s when
        not said), so every container sharing it waits, not just this request."""
        if self._pacer is None or status not in (429, 503):
            return
        retry_after = parse_retry_after(headers.get("Retry-After"))
        if status == 429 or retry_after is not None:
            self._pacer.pause(DEFAULT_PAUSE_SECONDS if retry_after is None else retry_after)

    def close(self) -> None:
        """Drop the pooled connections; the session stays usable and reconnects when next used."""
        self._session.close()

    @staticmethod
    def _interpret(
        status: int, headers: Mapping[str, str], body: bytes, credentials: DeepCallCredentials
    ) -> DeepCallReply:
        retry_after = parse_retry_after(headers.get("Retry-After"))
        try:
            document = load_json(body, what="DeepCall's answer")
            reply = DeepCallReply.model_validate(document)
        except (MaskingUnsetError, ValidationError):
            # A proxy's HTML page or a cut-off body: the request may not have been seen at all.
            raise UpstreamUnavailable(
                f"DeepCall answered HTTP {status} without a JSON body",
                http_status=status,
                retry_after=retry_after,
                code="upstream_bad_response",
            ) from None
        if status == 200 and reply.succeeded:
            return reply
        # DeepCall's text is untrusted: it may echo the credentials or the numbers we sent.
        sent = credentials.auth_fields().values()
        message = scrub(reply.message or "", secrets=sent, limit=_MAX_MESSAGE)
        if reply.status == "error" or reply.code is not None:
            raise UpstreamRejected(
                f"DeepCall refused the unset (code {reply.code}): {message}".rstrip(": "),
                deepcall_code=reply.code,
                http_status=status,
                retry_after=retry_after,
                upstream_message=message,
            )
        if status == 429 or status >= 500:
            raise UpstreamUnavailable(
                f"DeepCall answered HTTP {status}", http_status=status, retry_after=retry_after
            )
        raise UpstreamRejected(
            f"DeepCall answered HTTP {status} without success",
            http_status=status,
            upstream_message=message,
        )
