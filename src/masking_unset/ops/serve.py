"""``serve``: the webhook function behind a local HTTP server, no Docker, no API Gateway.

Every request becomes an API Gateway HTTP API (payload 2.0) event for the webhook handler, and the
handler's ``statusCode``/``headers``/``body`` go back as the HTTP answer. Standard library only.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import parse_qsl, unquote, urlsplit

from masking_unset.ops.console import Out, function_stdout
from masking_unset.ops.errors import OperationFailed

# API Gateway HTTP APIs refuse larger payloads before the function sees them.
MAX_BODY_BYTES: Final = 10 * 1024 * 1024
ROUTE_KEY: Final = "POST /webhooks/{source}"
_SOURCE_PATH: Final = re.compile(r"^/webhooks/([^/]+)/?$")
_METHODS: Final = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

Handler = Callable[[dict[str, Any], Any], Any]


def http_api_event(
    method: str,
    target: str,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    *,
    source_ip: str = "127.0.0.1",
    request_id: str | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """The HTTP API payload 2.0 event API Gateway would build for this request.

    Header names are lower-cased and repeated headers comma-joined (cookies go to ``cookies``);
    the body is text when it is valid UTF-8, else base64 with ``isBase64Encoded``.
    """
    parts = urlsplit(target)
    path = parts.path or "/"
    joined: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    epoch = time.time() if now is None else now
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": parts.query,
        "headers": joined,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "local",
            "domainName": joined.get("host", ""),
            "domainPrefix": joined.get("host", "").split(".")[0].split(":")[0],
            "http": {
                "method": method.upper(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": joined.get("user-agent", ""),
            },
            "requestId": request_id or uuid.uuid4().hex,
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(epoch)),
            "timeEpoch": int(epoch * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if parts.query:
        query: dict[str, str] = {}
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            query[name] = f"{query[name]},{value}" if name in query else value
        event["queryStringParameters"] = query
    if match := _SOURCE_PATH.match(path):
        event["pathParameters"] = {"source": unquote(match.group(1))}
        if method.upper() == "POST":
            event["routeKey"] = event["requestContext"]["routeKey"] = ROUTE_KEY
    if body:
        try:
            event["body"] = body.decode("utf-8")
        except UnicodeDecodeError:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
    return event


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


class WebhookServer(ThreadingHTTPServer):
    """A threading HTTP server that hands every request to ``handler`` as a payload 2.0 event.

    Calls to the handler are serialised, like invocations of one warm Lambda container.
    """

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: Handler,
        *,
        context_factory: Callable[[], Any],
        out: Out | None = None,
    ) -> None:
        super().__init__(address, _RequestHandler)
        self.handler = handler
        self.context_factory = context_factory
        self.out = out
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
            except Exception as exc:  # noqa: BLE001 - the caller gets a JSON error, not a trace
                self.log(f"handler raised {type(exc).__name__}")
                return _error(500, "internal_error", "the event could not be processed")
        return http_answer(result)

    def log(self, line: str) -> None:
        """One line to the console, if there is one."""
        if self.out is not None:
            self.out(line)


class _RequestHandler(BaseHTTPRequestHandler):
    server: WebhookServer
    protocol_version = "HTTP/1.1"
    server_version = "masking-unset-serve"

    def _forward(self) -> None:
        started = time.monotonic()
        body = self._read_body()
        if isinstance(body, HttpAnswer):
            answer = body
        else:
            event = http_api_event(
                self.command,
                self.path,
                list(self.headers.items()),
                body,
                source_ip=self.client_address[0],
            )
            answer = self.server.answer(event)
        # Logged before the answer goes out, so the line is there once the caller has it. The
        # path only: a query string may carry a token (Salesforce).
        path = urlsplit(self.path).path
        elapsed = (time.monotonic() - started) * 1000
        self.server.log(f"{self.command} {path} -> {answer.status} ({elapsed:.0f} ms)")
        self._write(answer)

    def _read_body(self) -> bytes | HttpAnswer:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length_text = self.headers.get("Content-Length", "0") or "0"
        if not length_text.strip().isdigit():
            self.close_connection = True
            return _error(400, "bad_request", "Content-Length is not a number")
        length = int(length_text)
        if length > MAX_BODY_BYTES:
            self.close_connection = True  # the unread body must not be taken for a request
            return _error(413, "payload_too_large", "the body is over 10 MiB")
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes | HttpAnswer:
        chunks: list[bytes] = []
        size = 0
        while True:
            line = self.rfile.readline(1024).split(b";")[0].strip()
            try:
                chunk = int(line, 16)
            except ValueError:
                self.close_connection = True
                return _error(400, "bad_request", "malformed chunked body")
            if chunk == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return b"".join(chunks)
            size += chunk
            if size > MAX_BODY_BYTES:
                self.close_connection = True
                return _error(413, "payload_too_large", "the body is over 10 MiB")
            chunks.append(self.rfile.read(chunk))
            self.rfile.readline(1024)

    def _write(self, answer: HttpAnswer) -> None:
        self.send_response(answer.status)
        names = set()
        for name, value in answer.headers:
            if name.lower() in {"content-length", "transfer-encoding", "connection"}:
                continue
            names.add(name.lower())
            self.send_header(name, value)
        if "content-type" not in names and answer.body:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)

    def log_message(self, format: str, *args: Any) -> None:
        # http.server would print the request line, query string (and its tokens) included.
        return

    def log_error(self, format: str, *args: Any) -> None:
        self.server.log("rejected a request that is not valid HTTP")


for _method in _METHODS:
    setattr(_RequestHandler, f"do_{_method}", _RequestHandler._forward)


def webhook_context() -> Any:
    """A fresh Lambda context with the webhook function's 25 s timeout."""
    from masking_unset.local.lambda_context import LocalLambdaContext

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
) -> Iterator[WebhookServer]:
    """A :class:`WebhookServer` serving in a background thread until the block ends."""
    try:
        server = WebhookServer(
            (host, port), handler or webhook_handler(), context_factory=webhook_context, out=out
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
    from masking_unset.local.stack import environment

    if live:
        from masking_unset.config import Settings
        from masking_unset.models.errors import ConfigurationError
        from masking_unset.ops.errors import UsageError

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
    from masking_unset.local.stack import local_stack

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
    from masking_unset.local.stack import DEMO_SOURCE_SECRETS

    out(f"sources with demo secrets: {', '.join(sorted(DEMO_SOURCE_SECRETS))}")
    out("sign a body for the generic source with the demo secret:")
    target = f"{url}/webhooks/generic"
    out(f"  masking-unset sign --source generic --demo-secret BODY.json --url {target}")
    out("press Ctrl-C to stop")
