"""A fault-injecting HTTP proxy between the functions' AWS clients and the local AWS endpoint.

Point ``AWS_ENDPOINT_URL`` at :attr:`FaultyAwsProxy.url` and every Secrets Manager, DynamoDB and
SQS call passes through it on loopback. Per operation (``PutItem``, ``UpdateItem``,
``GetSecretValue``, ``SendMessage``, ..., read from ``X-Amz-Target`` or the ``Action`` parameter)
it can answer a throttling error or a 5xx without forwarding, reset the connection before
forwarding, or forward the request and then reset the connection instead of replying (the call
took effect; its reply is lost). It runs on the tooling's HTTP server, as the DeepCall stand-in
does.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
from collections import Counter, defaultdict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final
from urllib.parse import parse_qs, urlsplit

from masking_unset_tools.local.http_server import Drop, HttpAnswer, HttpRequest, HttpServer, Served

__all__ = ["AwsFault", "FaultKind", "FaultyAwsProxy", "forward", "operation_of"]

_HOP_BY_HOP: Final = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "content-length"}
)
_DYNAMODB_PREFIX: Final = "DynamoDB_"
_FORWARD_TIMEOUT: Final = 30.0


class FaultKind(StrEnum):
    """What the proxy does instead of (or after) forwarding a request."""

    ERROR = "error"  # answer an AWS error (throttling, 5xx) without forwarding
    RESET = "reset"  # reset the connection before forwarding: the call never happened
    LOST_REPLY = "lost_reply"  # forward, then reset instead of replying: it happened, unseen


@dataclass(frozen=True)
class AwsFault:
    """One injected failure. ``code`` is the AWS error code of an ``ERROR`` answer; empty means
    the service's own throttling code (DynamoDB's ``ProvisionedThroughputExceededException``,
    ``ThrottlingException`` elsewhere)."""

    kind: FaultKind
    status: int = 400
    code: str = ""

    @classmethod
    def throttle(cls, code: str = "") -> AwsFault:
        """HTTP 400 with the service's throttling error; the SDK retries it with backoff."""
        return cls(FaultKind.ERROR, 400, code)

    @classmethod
    def server_error(cls, status: int = 500, code: str = "InternalServerError") -> AwsFault:
        """A 5xx answer without forwarding."""
        return cls(FaultKind.ERROR, status, code)

    @classmethod
    def reset(cls) -> AwsFault:
        """Reset the connection before the request reaches the service."""
        return cls(FaultKind.RESET)

    @classmethod
    def lost_reply(cls) -> AwsFault:
        """Forward the request, then reset the connection instead of replying."""
        return cls(FaultKind.LOST_REPLY)

    @property
    def label(self) -> str:
        """A short name for summaries: ``throttle``, ``500``, ``reset``, ``lost_reply``."""
        if self.kind is FaultKind.ERROR:
            return "throttle" if self.status == 400 else str(self.status)
        return self.kind.value


def _header(headers: Iterable[tuple[str, str]], name: str) -> str:
    return next((value for key, value in headers if key.lower() == name.lower()), "")


def operation_of(headers: Iterable[tuple[str, str]], body: bytes) -> str:
    """The AWS operation of a request: the part of ``X-Amz-Target`` after the dot, else the
    ``Action`` form or query parameter; empty when neither is there."""
    target = _header(headers, "X-Amz-Target")
    if target:
        return target.rsplit(".", 1)[-1]
    form = parse_qs(body.decode("utf-8", "replace"))
    action = form.get("Action") or [""]
    return action[0]


def _error_body(target: str, fault: AwsFault) -> tuple[str, bytes]:
    if fault.code:
        code = fault.code
    elif target.startswith(_DYNAMODB_PREFIX):
        code = "ProvisionedThroughputExceededException"
    else:
        code = "ThrottlingException"
    if target.startswith(_DYNAMODB_PREFIX):
        qualified = f"com.amazonaws.dynamodb.v20120810#{code}"
    else:
        qualified = code
    body = {"__type": qualified, "message": f"injected by the fault proxy ({code})"}
    return code, json.dumps(body).encode()


class FaultyAwsProxy(Served):
    """The proxy: forwards to ``upstream`` (the moto server's URL) unless a fault is due.

    Faults are taken, per operation, first from the scripted ones (:meth:`inject`, in order),
    then from a standing one (:meth:`always`), then at a seeded-random rate
    (:meth:`set_fault_rate`).
    """

    def __init__(self, upstream: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.upstream = upstream.rstrip("/")
        self._address = (host, port)
        self._server: HttpServer | None = None
        self._lock = threading.Lock()
        self._scripted: defaultdict[str, deque[AwsFault]] = defaultdict(deque)
        self._standing: dict[str, AwsFault] = {}
        self._rate = 0.0
        self._rate_faults: tuple[AwsFault, ...] = ()
        self._rate_operations: frozenset[str] | None = None
        self._rng: random.Random | None = None
        self.calls: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` of the running proxy."""
        if self._server is None:
            raise RuntimeError("the proxy is not started")
        return self._server.url

    def start(self) -> None:
        """Listen and serve in a background thread."""
        if self._server is not None:
            raise RuntimeError("the proxy is already started")
        self._server = HttpServer(self._address, self._relay, server_name="aws-fault-proxy")
        self._server.start(name="aws-fault-proxy")

    def stop(self) -> None:
        """Stop serving and release the port."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    def inject(self, operation: str, fault: AwsFault, times: int = 1) -> None:
        """The next ``times`` calls of ``operation`` fail with ``fault``."""
        with self._lock:
            self._scripted[operation].extend([fault] * times)

    def always(self, operation: str, fault: AwsFault) -> None:
        """Every call of ``operation`` fails with ``fault`` until :meth:`clear`."""
        with self._lock:
            self._standing[operation] = fault

    def set_fault_rate(
        self,
        rate: float,
        faults: Sequence[AwsFault],
        seed: int,
        operations: Iterable[str] | None = None,
    ) -> None:
        """Fail a seeded-random share ``rate`` of the calls (of ``operations``, or all)."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must lie in [0, 1]")
        if rate > 0 and not faults:
            raise ValueError("a positive rate needs at least one fault")
        with self._lock:
            self._rate = rate
            self._rate_faults = tuple(faults)
            self._rate_operations = None if operations is None else frozenset(operations)
            self._rng = random.Random(seed)  # not for security: reproducible runs

    def clear(self) -> None:
        """No more faults: every call is forwarded."""
        with self._lock:
            self._scripted.clear()
            self._standing.clear()
            self._rate = 0.0
            self._rng = None

    def _next_fault(self, operation: str) -> AwsFault | None:
        with self._lock:
            self.calls[operation] += 1
            fault: AwsFault | None = None
            if self._scripted.get(operation):
                fault = self._scripted[operation].popleft()
            elif operation in self._standing:
                fault = self._standing[operation]
            elif (
                self._rng is not None
                and (self._rate_operations is None or operation in self._rate_operations)
                and self._rng.random() < self._rate
            ):
                fault = self._rate_faults[self._rng.randrange(len(self._rate_faults))]
            if fault is not None:
                self.injected[f"{operation}:{fault.label}"] += 1
            return fault

    def _relay(self, request: HttpRequest) -> HttpAnswer:
        """The server's app: a fault, or the upstream's answer."""
        target = _header(request.headers, "X-Amz-Target")
        fault = self._next_fault(operation_of(request.headers, request.body))
        if fault is not None and fault.kind is FaultKind.RESET:
            raise Drop(reset=True)
        if fault is not None and fault.kind is FaultKind.ERROR:
            code, payload = _error_body(target, fault)
            headers = [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-ErrorType", code)]
            return HttpAnswer(fault.status, headers, payload)
        answer = forward(self.upstream, request)
        if fault is not None and fault.kind is FaultKind.LOST_REPLY:
            raise Drop(reset=True)
        return answer


def forward(upstream_url: str, request: HttpRequest) -> HttpAnswer:
    """``request`` sent on to ``upstream_url`` as it came, and the upstream's answer."""
    upstream = urlsplit(upstream_url)
    connection = http.client.HTTPConnection(
        upstream.hostname or "127.0.0.1", upstream.port, timeout=_FORWARD_TIMEOUT
    )
    try:
        headers = {k: v for k, v in request.headers if k.lower() not in _HOP_BY_HOP}
        headers["Content-Length"] = str(len(request.body))
        connection.request(request.method, request.target, body=request.body, headers=headers)
        response = connection.getresponse()
        payload = response.read()
        kept = [
            (k, v)
            for k, v in response.getheaders()
            if k.lower() not in _HOP_BY_HOP | {"server", "date"}
        ]
        return HttpAnswer(response.status, kept, payload)
    finally:
        connection.close()
