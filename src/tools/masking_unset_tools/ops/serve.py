"""``serve``: the webhook function behind a local HTTP server, no Docker, no API Gateway.

Every request becomes an API Gateway HTTP API (payload 2.0) event for the webhook handler, and the
handler's ``statusCode``/``headers``/``body`` go back as the HTTP answer. The HTTP/1.1 server is
the tooling's own (:mod:`masking_unset_tools.local.http_server`, h11's framing), the one the
DeepCall stand-in runs on too.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

from masking_unset_tools.local.events import Handler, http_api_event
from masking_unset_tools.local.http_server import HttpAnswer, HttpRequest, HttpServer, json_error
from masking_unset_tools.ops.console import Out, function_stdout
from masking_unset_tools.ops.errors import OperationFailed

# API Gateway HTTP APIs refuse larger payloads before the function sees them.
MAX_BODY_BYTES: Final = 10 * 1024 * 1024
# A connection that sends nothing for this long is closed (408 if a request was under way).
TIMEOUT_SECONDS: Final = 30.0
SERVER_NAME: Final = "masking-unset-serve"


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


class WebhookServer(HttpServer):
    """The HTTP server of ``serve``: every request becomes a payload 2.0 event for ``handler``.

    Calls to the handler are serialised, like invocations of one warm Lambda container.
    """

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
        super().__init__(
            address,
            self._request,
            server_name=SERVER_NAME,
            out=out,
            max_body_bytes=max_body_bytes,
            timeout_seconds=timeout_seconds,
        )
        self.handler = handler
        self.context_factory = context_factory
        self.lock = threading.Lock()

    def _request(self, request: HttpRequest) -> HttpAnswer:
        event = http_api_event(
            request.method, request.target, request.headers, request.body, source_ip=request.client
        )
        return self.answer(event)

    def answer(self, event: dict[str, Any]) -> HttpAnswer:
        """Run the handler on ``event``; a crash becomes a 500 without any trace."""
        with self.lock:
            try:
                with function_stdout():
                    result = self.handler(event, self.context_factory())
                return http_answer(result)
            except Exception as exc:  # noqa: BLE001 - the caller gets a JSON error, not a trace
                self.log(f"handler raised {type(exc).__name__}")
                return json_error(500, "internal_error", "the event could not be processed")


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
    server.start(name="serve")
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Serving:
    """A running ``serve``: its URL, and the local stack when the stand-ins are in use."""

    server: WebhookServer
    stack: Any | None  # LocalStack in local mode
    local: Any | None = None  # LocalEnvironment in local mode: demo values, ignored variables

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
        from masking_unset_tools.ops.invoke import check_live_configuration

        check_live_configuration("webhook")  # exit 2 before listening
        overrides = {"PUBLIC_BASE_URL": public_url} if public_url else {}
        with running_server(host, port, out=out) as server, environment(overrides):
            reset_app()
            try:
                yield Serving(server, None)
            finally:
                reset_app()
        return
    from masking_unset_tools.local.stack import local_environment, local_stack, user_value

    with local_stack() as stack, running_server(host, port, out=out) as server:
        # --public-url, else the user's PUBLIC_BASE_URL, else this server's own URL.
        public = public_url or user_value(os.environ, "PUBLIC_BASE_URL")
        local = local_environment(stack, overrides={"PUBLIC_BASE_URL": public or server.url})
        with environment(local.values):
            reset_app()
            try:
                yield Serving(server, stack, local)
            finally:
                reset_app()


# The stack's tables, queues and secrets, as ``announce`` lists them.
LISTED_RESOURCES: Final = (
    "MASKING_MAP_TABLE",
    "TICKET_STATE_TABLE",
    "IDEMPOTENCY_TABLE",
    "FLEET_STATE_TABLE",
    "QUEUE_URL",
    "DEAD_LETTER_QUEUE_URL",
    "DEEPCALL_SECRET_ID",
    "WEBHOOK_SECRETS_ID",
    "HASH_KEY_SECRET_ID",
)


def show_deepcall_requests(serving: Serving, out: Out) -> None:
    """Print each request that reaches the DeepCall stand-in as it arrives, as ``invoke`` does:
    credentials hidden, numbers cut to their last four digits."""
    if serving.stack is None:
        return
    from masking_unset_tools.local.demo import shown_request

    def show(request: Any) -> None:
        shown = shown_request(request.json)
        out(f"DeepCall stand-in received {request.method} {request.path} {shown}")

    serving.stack.deepcall.on_request = show


def announce(serving: Serving, out: Out) -> None:
    """The URL and, on the stand-ins, how to send a request that verifies."""
    url = serving.url
    out(f"serving the webhook function on {url}/webhooks/{{source}}")
    if serving.stack is None:
        out("configuration: the environment (live)")
        return
    out(f"local AWS endpoint (moto): {serving.stack.aws.url}")
    out(f"DeepCall stand-in:         {serving.stack.deepcall.base_url}")
    out(f"PUBLIC_BASE_URL (HubSpot signs it): {os.environ.get('PUBLIC_BASE_URL')}")
    if serving.local is not None:
        for line in serving.local.banner():
            out(line)
    out('local resources (`eval "$(masking-unset local env)"` points boto3 and the CLI at them):')
    resources = serving.stack.resources()
    width = max(len(name) for name in LISTED_RESOURCES)
    for name in LISTED_RESOURCES:
        out(f"  {name:<{width}}  {resources[name]}")
    out(f"trail table:               {serving.stack.trail_table}")
    out(
        f"  .venv/bin/masking-unset trail --endpoint-url {serving.stack.aws.url} "
        f"--table {serving.stack.trail_table} --ticket generic:TICKET"
    )
    from masking_unset_tools.local.stack import DEMO_SOURCE_SECRETS

    out(f"sources with demo secrets: {', '.join(sorted(DEMO_SOURCE_SECRETS))}")
    out("sign a body for the generic source with the demo secret:")
    target = f"{url}/webhooks/generic"
    out(f"  masking-unset sign --source generic --demo-secret BODY.json --url {target}")
    out("press Ctrl-C to stop")
