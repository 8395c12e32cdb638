"""Property-based fuzzing of every entry point against the real local servers.

Whatever arrives - from a stranger, a sloppy CRM rule or a broken producer - these hold:

- never a 500, never a traceback in the logs;
- no DeepCall call unless the request authenticated, and none for an answer in the 4xx range;
- a number reaches DeepCall only as written in the payload (digits and separators only);
- "unset" / "already_expired" only when DeepCall confirmed it;
- no sentinel number or secret in any answer, log line, metric or dead-letter attribute;
- every SQS record ends expired, dead-lettered with a reason, or handed back;
- every answer fits Lambda's 6 MB response limit.

``make test`` runs a bounded number of examples; ``make fuzz`` runs many more
(``FUZZ_EXAMPLES``).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import socket
import unicodedata
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from masking_unset.app import reset_app
from masking_unset.config import Settings
from masking_unset.handlers.queue import lambda_handler as queue_handler
from masking_unset.handlers.webhook import lambda_handler as webhook_handler
from masking_unset.models.deepcall import UNSET_PATH, unset_url
from masking_unset.models.errors import ConfigurationError
from masking_unset_tools.local.aws_endpoint import LocalAwsEndpoint
from masking_unset_tools.local.deepcall_standin import DeepCallStandIn, Fault
from masking_unset_tools.local.lambda_context import LocalLambdaContext
from masking_unset_tools.local.signers import sign_event
from masking_unset_tools.local.stack import DEMO_SOURCE_SECRETS, DEMO_SSID, LocalStack, provision
from masking_unset_tools.ops.serve import WebhookServer, running_server
from tests.conftest import sqs_record
from tests.fuzz.strategies import (
    BODIES,
    NUMBERS,
    SECRET_SENTINEL,
    base_urls,
    deepcall_byte_streams,
    generic_bodies,
    hostile_headers,
    json_values,
    nasty_text,
    raw_junk,
    secret_contents,
)
from tests.integration.helpers import gateway_event
from tests.support.logs import captured_logs as support_logs

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
        HealthCheck.large_base_example,
    ],
)
SOURCES = ("generic", "zendesk", "freshdesk", "hubspot", "salesforce")
RESPONSE_LIMIT = 6 * 1024 * 1024
PRE_AUTH_STATUSES = {400, 401, 404, 405, 413}
WEBHOOK_STATUSES = PRE_AUTH_STATUSES | {200, 202, 409, 422, 502, 503}
SECRETS = [DEMO_SSID, *(s for values in DEMO_SOURCE_SECRETS.values() for s in values)]
NUMBER_PATTERNS = [
    re.compile(r"[\s\-().+/]{0,3}".join(n[:8])) for n in NUMBERS
]  # the first 8 digits, with any separators

# What DeepCall answers to the first unset call of an example (later calls: success).
CONFIRMS_UNSET, CONFIRMS_GONE, REFUSES = "unset", "gone", "refuses"
DEEPCALL_ANSWERS: list[tuple[str, Fault | None]] = [
    (CONFIRMS_UNSET, None),
    (CONFIRMS_GONE, Fault.error(1505, "Masking number not available")),
    (REFUSES, Fault.error(1000, "User not found", status=401)),
    (REFUSES, Fault(status=404, body=b'{"status":"error","message":"Route not found"}')),
    (REFUSES, Fault.error(1000, f"Invalid parameters: ssid {DEMO_SSID}")),
    (REFUSES, Fault.error(1000, f"Invalid parameters: m1 {NUMBERS[0]}")),
    (REFUSES, Fault.html(502)),
    (REFUSES, Fault(status=200, body=b'{"status":"error","message":"masking expired?"}')),
    (
        REFUSES,
        Fault(status=429, body=b"{}", headers={"Retry-After": "9" * 400}),
    ),
]
# ... and any of them, or an unconfirming answer as a byte stream (size, framing, gzip, pace).
deepcall_answers = st.one_of(
    st.sampled_from(DEEPCALL_ANSWERS),
    deepcall_byte_streams().map(lambda fault: (REFUSES, fault)),
)


@pytest.fixture(scope="module")
def fuzz_stack(aws: LocalAwsEndpoint) -> Iterator[LocalStack]:
    """One deployment for the module: DeepCall stand-in, secrets, queues and tables."""
    with DeepCallStandIn(credentials={"ssid": DEMO_SSID}) as deepcall:
        yield provision(aws, deepcall)


@contextlib.contextmanager
def deployed(stack: LocalStack, **overrides: str | None) -> Iterator[None]:
    """The handlers' environment pointing at ``stack``, read afresh."""
    env: dict[str, str | None] = {
        **stack.env(),
        "DEEPCALL_RETRY_BASE_SECONDS": "0",
        "RETRY_AFTER_CAP_SECONDS": "0",
        "DEEPCALL_ALREADY_DONE_CODES": "1505",
        "QUEUE_BACKOFF_BASE_SECONDS": "0",
        **overrides,
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            if value is None:
                patch.delenv(name, raising=False)
            else:
                patch.setenv(name, value)
        reset_app()
        try:
            yield
        finally:
            reset_app()


@pytest.fixture
def webhook_deployment(fuzz_stack: LocalStack) -> Iterator[LocalStack]:
    """The webhook's deployment, as configured by the template."""
    with deployed(fuzz_stack):
        yield fuzz_stack


@pytest.fixture
def queue_deployment(fuzz_stack: LocalStack) -> Iterator[LocalStack]:
    """Without the idempotency table every record done is one more DeepCall call."""
    with deployed(fuzz_stack, IDEMPOTENCY_TABLE=None):
        yield fuzz_stack


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """Every log record of the service, formatted as Lambda would ship it."""
    with support_logs() as stream:
        yield stream


@contextlib.contextmanager
def observed(log_stream: io.StringIO) -> Iterator[dict[str, str]]:
    """Collect what one invocation wrote: logs, stdout (metrics) and stderr."""
    log_stream.seek(0)
    log_stream.truncate()
    out, err = io.StringIO(), io.StringIO()
    seen: dict[str, str] = {}
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        yield seen
    seen.update(logs=log_stream.getvalue(), stdout=out.getvalue(), stderr=err.getvalue())


def assert_no_leak(text: str, where: str) -> None:
    """No sentinel number (its first 8 digits, any separators) and no secret in ``text``."""
    for pattern in NUMBER_PATTERNS:
        found = pattern.search(text)
        context = text[max(0, found.start() - 200) : found.end() + 50] if found else ""
        assert found is None, f"a number leaked into {where}: ...{context}"
    for secret in SECRETS:
        assert secret not in text, f"a secret leaked into {where}"


def assert_no_traceback(seen: dict[str, str]) -> None:
    for where, text in seen.items():
        assert "Traceback" not in text, f"a traceback in {where}"
        assert '"exception"' not in text, f"an exception logged in {where}"


def ascii_digits(text: str) -> str:
    return "".join(
        str(unicodedata.decimal(ch)) for ch in text if unicodedata.decimal(ch, None) is not None
    )


def payload_numbers(body: bytes) -> list[str]:
    """Every text or number in a JSON or XML payload that is written as a phone number:
    digits with optional ``+``, spaces, dashes, dots and parentheses."""
    texts: list[str] = []
    try:
        document: Any = json.loads(body)
    except (ValueError, RecursionError):
        document = None
        texts = re.split(r"<[^>]*>", body.decode("utf-8", "replace"))

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, int) and not isinstance(value, bool):
            texts.append(str(value))
        elif isinstance(value, str):
            texts.append(value)

    walk(document)
    allowed = re.compile(r"\+?[\d\s\-.()]+")
    return [
        ascii_digits(text)
        for text in texts
        if allowed.fullmatch(text.strip()) and any(ch.isdigit() for ch in text)
    ]


def sent_numbers(deepcall: DeepCallStandIn) -> list[str]:
    return [
        ascii_digits(str(value))
        for call in deepcall.unset_calls
        for name, value in (call.json or {}).items()
        if name in ("mask", "m1", "m2")
    ]


def statuses(status_code: int, body: str) -> list[str]:
    """The per-event statuses of a JSON answer."""
    try:
        document = json.loads(body)
    except ValueError:
        return []
    if not isinstance(document, dict):
        return []
    if "results" in document:
        return [r.get("status", "") for r in document["results"]]
    return [str(document.get("status", ""))] if status_code < 300 else []


@st.composite
def webhook_requests(draw: st.DrawFn) -> tuple[dict[str, Any], bool, bytes]:
    """An API Gateway event for a webhook, signed or not; whether it should authenticate."""
    source = draw(st.sampled_from([*SOURCES, "unknown", "", "GENERIC", "generic/x"]))
    body = draw(BODIES.get(source, raw_junk))
    event = gateway_event(
        body,
        source=source,
        headers=draw(hostile_headers),
        sign=False,
        kind=draw(st.sampled_from(["http", "rest", "url"])),
        base64_body=draw(st.booleans()),
        method=draw(st.sampled_from(["POST", "POST", "POST", "GET", "PUT"])),
    )
    signing = draw(st.sampled_from(["signed", "signed", "unsigned", "forged"]))
    if source in SOURCES and signing != "unsigned":
        secret = None if signing == "signed" else "forged-secret-of-the-right-length=="
        if source == "generic" and signing == "forged":
            secret = "whsec_Zm9yZ2VkLXNlY3JldC1vZi10aGUtcmlnaHQtbGVuZ3Ro"
        try:
            event = sign_event(event, source, secret=secret)
        except UnicodeEncodeError:
            signing = "unsigned"  # no sender can sign a header that is not text
    authentic = signing == "signed" and source in SOURCES
    return event, authentic, body


not_api_events = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"version": st.just("2.0")},
        optional={
            "requestContext": json_values,
            "headers": json_values,
            "body": json_values,
            "rawPath": json_values,
            "isBase64Encoded": json_values,
            "pathParameters": json_values,
            "queryStringParameters": json_values,
            "rawQueryString": json_values,
        },
    ),
    st.fixed_dictionaries(
        {"httpMethod": json_values},
        optional={"headers": json_values, "body": json_values, "path": json_values},
    ),
)


@FUZZ
@given(request=webhook_requests(), answer=deepcall_answers)
def test_webhook_invariants(
    webhook_deployment: LocalStack,
    log_stream: io.StringIO,
    request: tuple[dict[str, Any], bool, bytes],
    answer: tuple[str, Fault | None],
) -> None:
    event, authentic, body = request
    deepcall = webhook_deployment.deepcall
    deepcall.clear()
    kind, fault = answer
    if fault is not None:
        deepcall.enqueue(fault)
    with observed(log_stream) as seen:
        response = webhook_handler(event, LocalLambdaContext())  # type: ignore[arg-type]

    assert isinstance(response, dict)
    status = response["statusCode"]
    text = response["body"]
    assert status in WEBHOOK_STATUSES
    assert isinstance(text, str)
    assert len(json.dumps(response)) < RESPONSE_LIMIT
    assert_no_traceback(seen)
    for where, value in (("the answer", json.dumps(response)), *seen.items()):
        assert_no_leak(value, where)
    calls = len(deepcall.unset_calls)
    method = (event.get("requestContext") or {}).get("http", {}).get("method") or event.get(
        "httpMethod"
    )
    if not authentic or method != "POST":
        assert status in PRE_AUTH_STATUSES
        assert calls == 0
    if 400 <= status < 500:
        assert calls == 0
    if response["headers"].get("Content-Type", "").startswith("application/json"):
        json.loads(text)
    # A number reaches DeepCall only as the payload wrote it, never rebuilt from other text.
    written = payload_numbers(body)
    for number in sent_numbers(deepcall):
        assert any(digits.endswith(number) or number.endswith(digits) for digits in written)
    # "Done" only when DeepCall confirmed.
    results = statuses(status, text)
    confirmed = max(0, calls - (1 if fault is not None else 0))
    assert results.count("unset") <= confirmed
    assert results.count("already_expired") <= (1 if kind == CONFIRMS_GONE else 0)


@FUZZ
@given(event=not_api_events)
def test_anything_that_is_not_an_api_event_is_refused(
    webhook_deployment: LocalStack, log_stream: io.StringIO, event: Any
) -> None:
    webhook_deployment.deepcall.clear()
    with observed(log_stream) as seen:
        response = webhook_handler(event, LocalLambdaContext())

    assert response["statusCode"] in PRE_AUTH_STATUSES
    json.loads(response["body"])
    assert_no_traceback(seen)
    assert webhook_deployment.deepcall.unset_calls == []


def as_text(body: bytes) -> str:
    return body.decode("utf-8", "replace")


queue_bodies = st.one_of(
    generic_bodies.map(json.dumps),
    generic_bodies.map(lambda d: json.dumps({"Type": "Notification", "Message": json.dumps(d)})),
    generic_bodies.map(lambda d: json.dumps({"detail-type": "TicketClosed", "detail": d})),
    st.just(json.dumps({"Type": "Notification", "Message": "[" * 100_000})),
    raw_junk.map(as_text),
    nasty_text,
)
receive_counts = st.one_of(
    st.integers(min_value=1, max_value=6).map(str),
    st.sampled_from(["2000", "99999999999999999999", "-1", "x", "²", ""]),
)


@st.composite
def sqs_events(draw: st.DrawFn) -> tuple[Any, list[str]]:
    """An SQS event (or something that is not one) and the message ids it carries."""
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values), []
    prefix = uuid.uuid4().hex[:8]
    records: list[Any] = []
    ids: list[str] = []
    for index in range(draw(st.integers(min_value=0, max_value=5))):
        if draw(st.integers(0, 9)) == 0:
            records.append(draw(json_values))
            continue
        message_id = f"{prefix}-{index}"
        attributes = {"ApproximateReceiveCount": draw(receive_counts)}
        if draw(st.booleans()):
            attributes["MessageGroupId"] = draw(st.sampled_from(["g1", "g2"]))
        records.append(sqs_record(draw(queue_bodies), message_id, **attributes))
        ids.append(message_id)
    return {"Records": records}, ids


def drain_dead_letters(stack: LocalStack) -> dict[str, dict[str, str]]:
    """Every parked message by its source message id, with its attributes; the queue emptied."""
    sqs = stack.aws.client("sqs")
    parked: dict[str, dict[str, str]] = {}
    while True:
        messages = sqs.receive_message(
            QueueUrl=stack.dead_letter_queue_url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return parked
        for message in messages:
            attributes = {
                name: value.get("StringValue", "")
                for name, value in message.get("MessageAttributes", {}).items()
            }
            parked[attributes.get("SourceMessageId", "")] = attributes
            sqs.delete_message(
                QueueUrl=stack.dead_letter_queue_url, ReceiptHandle=message["ReceiptHandle"]
            )


@pytest.mark.slow
@FUZZ
@given(batch=sqs_events(), answer=deepcall_answers)
def test_queue_invariants(
    queue_deployment: LocalStack,
    log_stream: io.StringIO,
    batch: tuple[Any, list[str]],
    answer: tuple[str, Fault | None],
) -> None:
    event, ids = batch
    deepcall = queue_deployment.deepcall
    deepcall.clear()
    drain_dead_letters(queue_deployment)  # whatever an earlier example left behind
    kind, fault = answer
    if fault is not None:
        deepcall.enqueue(fault)
    with observed(log_stream) as seen:
        response = queue_handler(event, LocalLambdaContext())  # type: ignore[arg-type]
    parked = drain_dead_letters(queue_deployment)

    assert isinstance(response, dict)
    assert set(response) == {"batchItemFailures"}
    failures = response["batchItemFailures"]
    assert isinstance(failures, list)
    handed_back = [item["itemIdentifier"] for item in failures]
    assert all(isinstance(item, dict) and set(item) == {"itemIdentifier"} for item in failures)
    assert set(handed_back) <= set(ids)
    assert_no_traceback(seen)
    for where, value in (("dead-letter attributes", json.dumps(parked)), *seen.items()):
        assert_no_leak(value, where)
    for message_id in ids:
        if message_id in parked:
            assert message_id not in handed_back
            assert parked[message_id].get("ErrorCode")
            assert parked[message_id].get("ErrorMessage")
    done = [m for m in ids if m not in parked and m not in handed_back]
    calls = len(deepcall.unset_calls)
    confirmed = max(0, calls - (1 if fault is not None else 0))
    gone = 1 if kind == CONFIRMS_GONE else 0
    assert len(done) <= confirmed + gone
    # A record without a message id is no SQS record: it may only be parked anonymously.
    assert set(parked) <= {*ids, "-"}


# -- masking-unset serve ---------------------------------------------------------------------

request_lines = st.one_of(
    st.sampled_from(
        [
            b"POST /webhooks/generic HTTP/1.1",
            b"POST /webhooks/zendesk HTTP/1.1",
            b"GET / HTTP/1.1",
            b"POST /webhooks/generic HTTP/1.0",
            b"POST /webhooks/generic HTTP/9.9",
            b"POST  HTTP/1.1",
            b"\xff\xfe /x HTTP/1.1",
            b"POST /webhooks/%ZZ HTTP/1.1",
        ]
    ),
    st.binary(max_size=40),
)
header_lines = st.lists(
    st.one_of(
        st.sampled_from(
            [
                b"Host: localhost",
                b"Content-Length: 5",
                b"Content-Length: -1",
                b"Content-Length: \xc2\xb2",
                b"Content-Length: 99999999999999999999",
                b"Content-Length: 1, 2",
                b"Transfer-Encoding: chunked",
                b"Transfer-Encoding: gzip, chunked",
                b"Transfer-Encoding: x-unknown",
                b"Expect: 100-continue",
                b"Connection: close",
                b"webhook-timestamp: " + b"9" * 400,
                b"X-Long: " + b"a" * 70_000,
                b": no-name",
                b"no-colon",
            ]
        ),
        st.binary(max_size=30),
    ),
    max_size=6,
)
chunks = st.lists(
    st.one_of(
        st.binary(max_size=20).map(lambda data: f"{len(data):x}\r\n".encode() + data + b"\r\n"),
        st.sampled_from([b"-1\r\n", b"zz\r\n", b"ffffffffffffffff\r\n", b"0\r\n\r\n", b"5\r\nab"]),
    ),
    max_size=4,
)


@st.composite
def raw_http_requests(draw: st.DrawFn) -> bytes:
    """Bytes a client may send: framing right, wrong or cut off anywhere."""
    head = draw(request_lines) + b"\r\n" + b"".join(line + b"\r\n" for line in draw(header_lines))
    body = draw(st.one_of(st.binary(max_size=60), chunks.map(b"".join)))
    raw = head + b"\r\n" + body
    return raw[: draw(st.integers(min_value=0, max_value=len(raw)))] if draw(st.booleans()) else raw


@pytest.fixture
def served(webhook_deployment: LocalStack) -> Iterator[tuple[WebhookServer, list[str]]]:
    """The webhook function behind ``serve``, on the fuzz deployment."""
    log: list[str] = []
    with running_server(out=log.append, max_body_bytes=4096, timeout_seconds=2.0) as server:
        yield server, log


def exchange(server: WebhookServer, raw: bytes) -> bytes:
    """Send ``raw``, end the sending side, and read until the server closes."""
    host, port = server.server_address[:2]
    with socket.create_connection((str(host), port), timeout=20) as sock:
        sock.sendall(raw)
        sock.shutdown(socket.SHUT_WR)
        received = []
        while data := sock.recv(65536):
            received.append(data)
    return b"".join(received)


@FUZZ
@given(raw=raw_http_requests())
def test_serve_answers_any_bytes_with_http(
    served: tuple[WebhookServer, list[str]],
    capfd: pytest.CaptureFixture[str],
    raw: bytes,
) -> None:
    server, log = served
    log.clear()
    answer = exchange(server, raw)
    printed = capfd.readouterr()

    assert "Traceback" not in printed.out + printed.err + "\n".join(log)
    if not answer:
        return  # nothing complete arrived before the client hung up: nothing to answer
    status_line = answer.split(b"\r\n", 1)[0]
    version, status, *_ = status_line.split(b" ", 2)
    assert version == b"HTTP/1.1"
    assert int(status) < 500 or int(status) in {501, 502, 503}


# -- An operator's settings and stored secrets (issue 19) ------------------------------------

CLOSE = {"ticket_id": "T-cfg", "mask": "+91 80 4000 1234"}


def configuration_refused(response: dict[str, Any], variable: str) -> None:
    assert response["statusCode"] == 503, response
    error = json.loads(response["body"])["error"]
    assert error["code"] == "configuration_error"
    assert variable in error["message"]


@FUZZ
@given(url=base_urls())
def test_a_base_url_reaches_only_the_unset_path_or_is_refused_naming_its_variable(
    fuzz_stack: LocalStack, log_stream: io.StringIO, url: str
) -> None:
    with deployed(fuzz_stack, DEEPCALL_BASE_URL=url):
        refused = ""
        try:
            settings = Settings.from_env()
        except ConfigurationError as exc:
            refused = exc.message
        if refused:
            assert refused.startswith("invalid configuration: DEEPCALL_BASE_URL: ")
            assert "pa55word" not in refused
            event = gateway_event({**CLOSE, "event_id": f"e-{uuid.uuid4()}"})
            with observed(log_stream) as seen:
                response = webhook_handler(event, LocalLambdaContext())  # type: ignore[arg-type]
            configuration_refused(response, "DEEPCALL_BASE_URL")
            assert_no_traceback(seen)
            return
    # Accepted: scheme, host, port and a path prefix only, the unset path last.
    target = urlsplit(unset_url(settings.deepcall_base_url))
    assert target.scheme in {"https", "http"}
    assert (target.query, target.fragment, target.username, target.password) == ("", "", None, None)
    assert target.hostname
    assert 0 < (target.port or 443) <= 65535
    assert target.path.endswith(UNSET_PATH)
    assert "pa55word" not in settings.deepcall_base_url


SECRET_VARIABLES = ("DEEPCALL_SECRET_ID", "WEBHOOK_SECRETS_ID", "HASH_KEY_SECRET_ID")


@pytest.mark.slow
@FUZZ
@given(content=secret_contents(), variable=st.sampled_from(SECRET_VARIABLES))
def test_a_stored_secret_of_any_shape_is_never_shown_nor_a_500(
    webhook_deployment: LocalStack,
    log_stream: io.StringIO,
    content: tuple[str, str | bytes],
    variable: str,
) -> None:
    stack = webhook_deployment
    secret_id = {
        "DEEPCALL_SECRET_ID": stack.deepcall_secret_id,
        "WEBHOOK_SECRETS_ID": stack.webhook_secrets_id,
        "HASH_KEY_SECRET_ID": stack.hash_key_secret_id,
    }[variable]
    client = stack.aws.client("secretsmanager")
    original = client.get_secret_value(SecretId=secret_id)["SecretString"]
    kind, value = content
    stored: dict[str, Any] = (
        {"SecretString": value} if kind == "string" else {"SecretBinary": value}
    )
    client.put_secret_value(SecretId=secret_id, **stored)
    stack.deepcall.clear()
    try:
        reset_app()  # no cached secret
        event = gateway_event({**CLOSE, "event_id": f"e-{uuid.uuid4()}"})
        with observed(log_stream) as seen:
            response = webhook_handler(event, LocalLambdaContext())  # type: ignore[arg-type]
    finally:
        client.put_secret_value(SecretId=secret_id, SecretString=original)
        reset_app()

    status = response["statusCode"]
    assert status in {202, 401, 404, 503}, response  # no secret here can ever succeed
    assert_no_traceback(seen)
    for where, text in (("the answer", response["body"]), *seen.items()):
        assert SECRET_SENTINEL not in text, f"a secret leaked into {where}"
    if status == 503:
        assert json.loads(response["body"])["error"]["code"] == "configuration_error"
    if status in {202, 503} and not stack.deepcall.unset_calls:
        assert variable in response["body"]  # unusable before any call: says which secret
