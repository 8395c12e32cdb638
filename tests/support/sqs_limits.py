"""A test double for what real SQS refuses and moto accepts.

moto takes a ``MessageGroupId`` with a space, a NUL in an attribute, a 300 KiB message: real SQS
answers ``400`` to each. :class:`SqsLimitsProxy` sits between every AWS client of the tests and
the moto server: it forwards each request as it came, except an SQS write that breaks one of
SQS's documented limits (shared/reference fleet.md, the SQS API reference), which it answers as
SQS does (``400``, ``InvalidParameterValue`` and the like) without forwarding:

- ``MessageGroupId`` / ``MessageDeduplicationId``: 1-128 characters of printable ASCII
  (``!`` to ``~``); a FIFO queue needs a group id;
- a message body (at least one character) and String attribute values hold only #x9, #xA, #xD,
  #x20-#xD7FF, #xE000-#xFFFD, #x10000-#x10FFFF; an attribute value is never empty; at most 10
  attributes, with valid names and data types;
- a message (body plus every attribute's name, data type and value) is at most 256 KiB, and so is
  a whole ``SendMessageBatch``, of 1-10 entries with distinct valid ids;
- a visibility timeout lies in 0-43,200 s.

:class:`SqsLimitedEndpoint` is the tests' moto endpoint with the proxy in front: its ``url`` is
the proxy's, so its clients, its ``env()`` (``AWS_ENDPOINT_URL`` of the functions and of any
subprocess) and the fault proxy chained before it all pass through the check. It reads the JSON
protocol boto3 speaks; an SQS write in the old query protocol is refused, never let through
unchecked.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from masking_unset_tools.local.aws_endpoint import LocalAwsEndpoint
from masking_unset_tools.local.http_server import HttpAnswer, HttpRequest, HttpServer, Served
from tests.support.aws_faults import forward, operation_of
from tests.support.moto_sqs import cheap_moto_sqs

__all__ = ["Refusal", "SqsLimitedEndpoint", "SqsLimitsProxy", "refusal"]

MAX_ID_CHARS: Final = 128
MAX_MESSAGE_BYTES: Final = 262_144  # 256 KiB
MAX_ATTRIBUTES: Final = 10
MAX_BATCH_ENTRIES: Final = 10
MAX_VISIBILITY_SECONDS: Final = 43_200
_SQS_TARGET: Final = "AmazonSQS."
CHECKED: Final = frozenset(
    {"SendMessage", "SendMessageBatch", "ChangeMessageVisibility", "ChangeMessageVisibilityBatch"}
)

# Written from the documentation, independently of the product's own check (models/queue.py).
_ID = re.compile(r"[!-~]{1,128}")
_TEXT = re.compile("[\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]*")
_ATTRIBUTE_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,256}")
_DATA_TYPE = re.compile(r"(String|Number|Binary)(\..{1,249})?", re.DOTALL)
_BATCH_ENTRY_ID = re.compile(r"[A-Za-z0-9_\-]{1,80}")


@dataclass(frozen=True)
class Refusal:
    """What SQS answers to a request it refuses: HTTP status, error code, message."""

    code: str
    message: str
    status: int = 400
    operation: str = ""

    def answer(self) -> HttpAnswer:
        """The refusal as SQS's JSON protocol writes it (botocore reads the code from
        ``x-amzn-query-error``, as it does for real SQS)."""
        body = {"__type": f"com.amazonaws.sqs#{self.code}", "message": self.message}
        headers = [
            ("Content-Type", "application/x-amz-json-1.0"),
            ("x-amzn-query-error", f"{self.code};Sender"),
        ]
        return HttpAnswer(self.status, headers, json.dumps(body).encode())


def _invalid(message: str) -> Refusal:
    return Refusal("InvalidParameterValue", message)


def _text_problem(value: object, what: str) -> str | None:
    if not isinstance(value, str):
        return f"{what} must be text"
    if not _TEXT.fullmatch(value):
        bad = next(ch for ch in value if not _TEXT.fullmatch(ch))
        return f"{what} holds the character U+{ord(bad):04X}, which SQS does not allow"
    return None


def _id_problem(value: object, what: str) -> str | None:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        return (
            f"Value for parameter {what} is invalid. Reason: it must be 1 to {MAX_ID_CHARS} "
            "characters of alphanumeric and punctuation characters"
        )
    return None


def _attributes_size(attributes: Mapping[str, Any]) -> tuple[int, Refusal | None]:
    """Bytes the attributes count towards the message, or the refusal of one of them."""
    if len(attributes) > MAX_ATTRIBUTES:
        return 0, _invalid(f"Number of message attributes exceeds the limit of {MAX_ATTRIBUTES}")
    size = 0
    for name, value in attributes.items():
        if (
            not _ATTRIBUTE_NAME.fullmatch(name)
            or name.startswith(".")
            or name.endswith(".")
            or ".." in name
            or name.lower().startswith(("aws.", "amazon."))
        ):
            return 0, _invalid(f"Message attribute name '{name}' is invalid")
        if not isinstance(value, Mapping):
            return 0, _invalid(f"Message attribute '{name}' must be a structure")
        data_type = value.get("DataType")
        if not isinstance(data_type, str) or not _DATA_TYPE.fullmatch(data_type):
            return 0, _invalid(f"Message attribute '{name}' has an invalid data type")
        if data_type.startswith("Binary"):
            try:
                raw = base64.b64decode(str(value.get("BinaryValue", "")), validate=True)
            except (binascii.Error, ValueError):
                return 0, _invalid(f"Message attribute '{name}' has an invalid binary value")
            if not raw:
                return 0, _invalid(f"Message (user) attribute '{name}' must not be empty")
            size += len(raw)
        else:
            text = value.get("StringValue")
            if problem := _text_problem(text, f"Message attribute '{name}'"):
                return 0, _invalid(problem)
            if not text:
                return 0, _invalid(
                    f"Message (user) attribute '{name}' must contain a non-empty value of "
                    f"type '{data_type}'"
                )
            size += len(str(text).encode())
        size += len(name.encode()) + len(data_type.encode())
    return size, None


def _message_refusal(entry: Mapping[str, Any], fifo: bool) -> tuple[int, Refusal | None]:
    """A message's size in bytes, or why SQS refuses it."""
    body = entry.get("MessageBody")
    if not isinstance(body, str) or not body:
        return 0, Refusal("MissingParameter", "The request must contain the parameter MessageBody.")
    if problem := _text_problem(body, "The message body"):
        return 0, Refusal("InvalidMessageContents", f"Invalid binary character: {problem}")
    for name in ("MessageGroupId", "MessageDeduplicationId"):
        if name in entry and (problem := _id_problem(entry[name], name)):
            return 0, _invalid(problem)
    if fifo and "MessageGroupId" not in entry:
        return 0, Refusal(
            "MissingParameter", "The request must contain the parameter MessageGroupId."
        )
    attributes = entry.get("MessageAttributes") or {}
    if not isinstance(attributes, Mapping):
        return 0, _invalid("MessageAttributes must be a map")
    size, refused = _attributes_size(attributes)
    if refused is not None:
        return 0, refused
    size += len(body.encode("utf-8", "surrogatepass"))
    if size > MAX_MESSAGE_BYTES:
        return size, _invalid(
            f"One or more parameters are invalid. Reason: Message must be shorter than "
            f"{MAX_MESSAGE_BYTES} bytes."
        )
    return size, None


def _visibility_refusal(entry: Mapping[str, Any]) -> Refusal | None:
    seconds = entry.get("VisibilityTimeout")
    if not isinstance(seconds, int) or not 0 <= seconds <= MAX_VISIBILITY_SECONDS:
        return _invalid(
            f"Value {seconds} for parameter VisibilityTimeout is invalid. Reason: must be "
            f"between 0 and {MAX_VISIBILITY_SECONDS}."
        )
    return None


def _batch_refusal(entries: object) -> Refusal | None:
    if not isinstance(entries, Sequence) or not entries:
        return Refusal("EmptyBatchRequest", "There should be at least one entry in the request.")
    if len(entries) > MAX_BATCH_ENTRIES:
        return Refusal("TooManyEntriesInBatchRequest", "Maximum number of entries is 10.")
    ids = [entry.get("Id") if isinstance(entry, Mapping) else None for entry in entries]
    if not all(isinstance(i, str) and _BATCH_ENTRY_ID.fullmatch(i) for i in ids):
        return Refusal("InvalidBatchEntryId", "A batch entry id is invalid.")
    if len(set(ids)) != len(ids):
        return Refusal("BatchEntryIdsNotDistinct", "Two or more batch entries share an id.")
    return None


def refusal(operation: str, params: Mapping[str, Any]) -> Refusal | None:
    """Why real SQS refuses the request ``params`` (as the JSON protocol carries them) of
    ``operation``, or None when it takes it."""
    fifo = str(params.get("QueueUrl", "")).endswith(".fifo")
    refused: Refusal | None = None
    if operation == "SendMessage":
        _, refused = _message_refusal(params, fifo)
    elif operation == "SendMessageBatch":
        entries = params.get("Entries")
        refused = _batch_refusal(entries)
        total = 0
        for entry in entries if refused is None and isinstance(entries, Sequence) else ():
            size, refused = _message_refusal(entry, fifo)
            if refused is not None:
                break
            total += size
        if refused is None and total > MAX_MESSAGE_BYTES:
            refused = Refusal(
                "BatchRequestTooLong",
                f"Batch requests cannot be longer than {MAX_MESSAGE_BYTES} bytes.",
            )
    elif operation == "ChangeMessageVisibility":
        refused = _visibility_refusal(params)
    elif operation == "ChangeMessageVisibilityBatch":
        entries = params.get("Entries")
        refused = _batch_refusal(entries)
        for entry in entries if refused is None and isinstance(entries, Sequence) else ():
            if (refused := _visibility_refusal(entry)) is not None:
                break
    if refused is None:
        return None
    return Refusal(refused.code, refused.message, refused.status, operation)


def _request_refusal(request: HttpRequest) -> Refusal | None:
    operation = operation_of(request.headers, request.body)
    if operation not in CHECKED:
        return None
    target = next((v for k, v in request.headers if k.lower() == "x-amz-target"), "")
    if not target.startswith(_SQS_TARGET):
        return Refusal(
            "InvalidAction",
            "the SQS limits double reads only the JSON protocol: this request is not checked",
            operation=operation,
        )
    try:
        params = json.loads(request.body or b"{}")
    except ValueError:
        return Refusal("MalformedQueryString", "the request body is not JSON", operation=operation)
    if not isinstance(params, Mapping):
        return Refusal("MalformedQueryString", "the request body is not an object")
    return refusal(operation, params)


class SqsLimitsProxy(Served):
    """Forwards to ``upstream`` (the moto server); an SQS write real SQS would refuse is
    answered as SQS answers it instead, and kept in :attr:`refusals`."""

    def __init__(self, upstream: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.upstream = upstream.rstrip("/")
        self._address = (host, port)
        self._server: HttpServer | None = None
        self._lock = threading.Lock()
        self.refusals: list[Refusal] = []

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
        self._server = HttpServer(self._address, self._relay, server_name="sqs-limits-proxy")
        self._server.start(name="sqs-limits-proxy")

    def stop(self) -> None:
        """Stop serving and release the port."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    def _relay(self, request: HttpRequest) -> HttpAnswer:
        refused = _request_refusal(request)
        if refused is None:
            return forward(self.upstream, request)
        with self._lock:
            self.refusals.append(refused)
        return refused.answer()


class SqsLimitedEndpoint(LocalAwsEndpoint):
    """The moto server with :class:`SqsLimitsProxy` in front: :attr:`url` (and so
    :meth:`client`, :meth:`session` and :meth:`env`) is the proxy's; :attr:`moto_url` is the
    server's own, unchecked."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.proxy: SqsLimitsProxy | None = None
        self._clients: dict[tuple[str, str], Any] = {}
        self._clients_lock = threading.Lock()

    def client(self, service_name: str) -> Any:
        """A client of ``service_name`` aimed at :attr:`url`, one per service while the endpoint
        runs: botocore clients are thread-safe, and building one (a botocore session, then the
        client) cost every test's provisioning about 10 ms per client."""
        key = (service_name, self.url)
        with self._clients_lock:
            client = self._clients.get(key)
            if client is None:
                client = self._clients[key] = super().client(service_name)
        return client

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` of the checking proxy."""
        if self.proxy is None:
            raise RuntimeError("the AWS endpoint is not started")
        return self.proxy.url

    @property
    def moto_url(self) -> str:
        """The moto server's own URL, which checks nothing."""
        return LocalAwsEndpoint.url.fget(self)  # type: ignore[attr-defined,no-any-return]

    @property
    def refusals(self) -> list[Refusal]:
        """Every request refused so far."""
        return self.proxy.refusals if self.proxy is not None else []

    def start(self) -> None:
        """Start moto (its SQS made cheap, tests/support/moto_sqs.py), then the proxy in front
        of it."""
        cheap_moto_sqs()
        super().start()
        proxy = SqsLimitsProxy(self.moto_url)
        try:
            proxy.start()
        except BaseException:
            super().stop()
            raise
        self.proxy = proxy

    def stop(self) -> None:
        """Stop the proxy, then moto."""
        with self._clients_lock:
            self._clients.clear()
        proxy, self.proxy = self.proxy, None
        if proxy is not None:
            proxy.stop()
        super().stop()
