"""``invoke``: run one Lambda handler on an event file, locally or on the real configuration."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

from masking_unset_tools.local.events import Handler
from masking_unset_tools.ops.console import Out, function_stdout
from masking_unset_tools.ops.errors import OperationFailed, UsageError

Function = Literal["webhook", "queue"]
FUNCTIONS: tuple[Function, ...] = ("webhook", "queue")
_SOURCE_IN_PATH = re.compile(r"/webhooks/([^/?]+)/?$")


def load_event(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; :class:`UsageError` when it is missing or not an object."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot be read ({type(exc).__name__})") from None
    except ValueError:
        raise UsageError(f"{path}: not valid JSON") from None
    if not isinstance(document, dict):
        raise UsageError(f"{path}: the event must be a JSON object")
    return document


def _shape(event: Mapping[str, Any]) -> Function | None:
    """The function an event's shape is for, or None when it is neither an SQS batch nor HTTP."""
    records = event.get("Records")
    if isinstance(records, list):
        return "queue"
    if "requestContext" in event or "httpMethod" in event or event.get("version") == "2.0":
        return "webhook"
    return None


def guess_function(event: Mapping[str, Any]) -> Function:
    """Which handler an event is for: SQS batches go to ``queue``, HTTP events to ``webhook``."""
    shape = _shape(event)
    if shape is None:
        raise UsageError(f"cannot tell which function this event is for: {_NEITHER}")
    return shape


_SHAPE_NAMES = {"queue": "an SQS batch", "webhook": "an API Gateway HTTP event"}
# What a file that is neither event is taken for: most often a bare webhook body.
_NEITHER = (
    'it is neither an SQS batch (a "Records" list) nor an API Gateway HTTP event (a '
    '"requestContext"); to send a webhook body, run this command\'s `serve` and the curl line '
    "that `sign --source SOURCE --demo-secret FILE` prints for it"
)


def choose_function(event: Mapping[str, Any], function: Function | None) -> Function:
    """``function``, or the one the event is for; :class:`UsageError` when the event is for the
    other one or for neither (the queue handler answers anything but an SQS batch with nothing to
    do, which would exit 0)."""
    if function is None:
        return guess_function(event)
    shape = _shape(event)
    if shape is None:  # the queue handler would answer "nothing to do" and exit 0
        raise UsageError(f"the {function} function cannot run this file: {_NEITHER}")
    if shape is not None and shape != function:
        raise UsageError(
            f"this event is {_SHAPE_NAMES[shape]}, which the {function} function does not take "
            f"(use --function {shape}, or leave --function out)"
        )
    return function


def check_live_configuration(function: Function) -> None:
    """:class:`UsageError` (exit 2, before anything runs or listens) when the environment's
    configuration cannot serve ``function``: the webhook function needs WEBHOOK_SECRETS_ID, and
    both need an AWS region and credentials."""
    from masking_unset.clients.aws import aws_client, aws_client_config, aws_session
    from masking_unset.config import Settings
    from masking_unset.models.errors import ConfigurationError

    try:
        settings = Settings.from_env()
        aws_client(aws_session(), "secretsmanager", aws_client_config())  # connects nowhere
    except ConfigurationError as exc:
        raise UsageError(exc.message) from None
    if function == "webhook" and not settings.webhook_secrets_id:
        raise UsageError(
            "WEBHOOK_SECRETS_ID is not set: set it to the name or ARN of the secret that holds "
            "each source's webhook secrets (docs/deploying.md)"
        )


def event_source(event: Mapping[str, Any]) -> str | None:
    """The webhook source an HTTP event is addressed to (path parameter, else the path)."""
    parameters = event.get("pathParameters")
    if isinstance(parameters, Mapping) and isinstance(parameters.get("source"), str):
        return str(parameters["source"]).lower()
    path = event.get("rawPath") or event.get("path") or ""
    match = _SOURCE_IN_PATH.search(str(path))
    return match.group(1).lower() if match else None


def handler_for(function: Function) -> Handler:
    """The Lambda entry point of ``function``."""
    from masking_unset.handlers import queue, webhook

    return webhook.lambda_handler if function == "webhook" else queue.lambda_handler


@dataclass
class Invocation:
    """What one handler run answered."""

    function: Function
    answer: dict[str, Any]
    deepcall_requests: list[Any] = field(default_factory=list)  # local mode: RecordedRequest
    dead_lettered: list[Any] = field(default_factory=list)  # local mode: ParkedMessage
    notes: list[str] = field(default_factory=list)  # local mode: demo values, manifest entry

    @property
    def succeeded(self) -> bool:
        """2xx for the webhook; no record handed back for the queue."""
        if self.function == "webhook":
            return 200 <= int(self.answer.get("statusCode", 500)) < 300
        return not self.answer.get("batchItemFailures")


def run_handler(function: Function, event: dict[str, Any]) -> dict[str, Any]:
    """Run the handler as Lambda would, on a fresh container (settings from the environment)."""
    from masking_unset.app import reset_app
    from masking_unset_tools.local.lambda_context import LocalLambdaContext

    reset_app()
    try:
        timeout = 25.0 if function == "webhook" else 30.0  # the template's function timeouts
        context = LocalLambdaContext(
            function_name=f"masking-unset-{function}", timeout_seconds=timeout
        )
        with function_stdout():
            answer: dict[str, Any] = handler_for(function)(event, context)
        return answer
    finally:
        reset_app()


def manifest_entry(path: Path) -> dict[str, Any] | None:
    """The entry ``manifest.json`` beside ``path`` has for it (a file of ``events/``, or of a
    folder laid out like it), or None. :class:`UsageError` when that manifest is wrong."""
    from masking_unset_tools.local.demo import ManifestError, load_manifest

    if not (path.parent / "manifest.json").is_file():
        return None
    try:
        manifest = load_manifest(path.parent)
    except ManifestError as exc:
        raise UsageError(f"{exc} (invoke applies the entry of each file it lists)") from None
    return manifest.get(path.name)


def invoke_local(
    function: Function,
    event: dict[str, Any],
    *,
    resign: bool = True,
    entry: Mapping[str, Any] | None = None,
) -> Invocation:
    """Run the handler against a fresh local stack (moto server + DeepCall stand-in, demo secrets).

    With the event's ``entry`` of ``events/manifest.json``, do what ``demo`` does for it: its
    signing (or forged signature), mapping items and settings. Otherwise a webhook event is signed
    again with its source's demo secret and a fresh timestamp, so a stored event file verifies
    however old it is. The user's settings win over the demo's values and the entry's.
    """
    from masking_unset.sources import SOURCES
    from masking_unset_tools.local.demo import describe_entry, entry_environment, prepare_event
    from masking_unset_tools.local.signers import sign_event
    from masking_unset_tools.local.stack import environment, local_environment, local_stack
    from masking_unset_tools.ops.dlq import list_dead_letters

    with local_stack() as stack:
        local = local_environment(stack)
        notes = local.banner()
        applied: dict[str, str] = {}
        if entry is not None:
            applied, kept = entry_environment(entry)
            event = prepare_event(stack, entry, event, resign=resign)
            notes.append(f"events manifest entry: {describe_entry(entry, applied, kept)}")
        elif resign and function == "webhook" and (source := event_source(event)) in SOURCES:
            event = sign_event(event, source)
        with environment({**local.values, **applied}):
            answer = run_handler(function, event)
        parked = list_dead_letters(stack.aws.client("sqs"), stack.dead_letter_queue_url)
        return Invocation(function, answer, stack.deepcall.unset_calls, parked.messages, notes)


def invoke_live(function: Function, event: dict[str, Any]) -> Invocation:
    """Run the handler with the configuration in the environment (real AWS, real DeepCall)."""
    check_live_configuration(function)  # the operator's to fix: exit 2, not a 503
    return Invocation(function, run_handler(function, event))


def report(invocation: Invocation, out: Out, *, local: bool) -> None:
    """Print the handler's answer and, locally, what reached the stand-ins."""
    from masking_unset_tools.local.demo import shown_request

    answer = invocation.answer
    for note in invocation.notes:
        out(note)
    if invocation.function == "webhook":
        out(f"webhook handler answered HTTP {answer.get('statusCode')}")
        for name, value in (answer.get("headers") or {}).items():
            out(f"  {name}: {value}")
        out(_pretty(answer.get("body")))
    else:
        out("queue handler answered:")
        out(json.dumps(answer, indent=2))
    if not local:
        return
    for call in invocation.deepcall_requests:
        out(f"DeepCall stand-in received POST {call.path} {shown_request(call.json)}")
    if not invocation.deepcall_requests:
        out("DeepCall stand-in received nothing")
    for message in invocation.dead_lettered:
        out(f"dead-lettered {message.source_message_id}: {message.error_code} ({message.reason})")


def _pretty(body: object) -> str:
    if not isinstance(body, str):
        return json.dumps(body)
    try:
        return json.dumps(json.loads(body), indent=2)
    except ValueError:
        return body


def invoke(
    path: Path, function: Function | None, *, live: bool, out: Out, resign: bool = True
) -> Invocation:
    """Load ``path``, run its handler locally (or ``live``), print the outcome."""
    event = load_event(path)
    entry = None if live else manifest_entry(path)
    chosen = choose_function(event, function or (entry["function"] if entry else None))
    if entry is not None and chosen != entry["function"]:
        raise UsageError(
            f"{path.parent / 'manifest.json'} runs {path.name} with the {entry['function']} "
            "function (leave --function out)"
        )
    run = invoke_live if live else partial(invoke_local, resign=resign, entry=entry)
    invocation = run(chosen, event)
    report(invocation, out, local=not live)
    return invocation


def ensure_succeeded(invocation: Invocation) -> None:
    """Raise :class:`OperationFailed` when the handler refused or handed records back."""
    if invocation.succeeded:
        return
    if invocation.function == "webhook":
        raise OperationFailed(
            f"the webhook handler answered HTTP {invocation.answer['statusCode']}"
        )
    failed = len(invocation.answer.get("batchItemFailures") or [])
    raise OperationFailed(f"the queue handler handed {failed} record(s) back for redelivery")
