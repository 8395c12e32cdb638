"""The demo's last scene: a DeepCall outage played against the local stack (docs/fleet.md).

DeepCall answers 503 to everything; a few closes wait on the queue and the queue function runs
as Lambda's SQS event source would run it. The circuit breaker opens, the closes are deferred
(new delayed messages, not parked), a webhook during the outage is queued at once, DeepCall comes
back, one probe closes the circuit and every close is expired once. Every count printed is read
from what happened: the stand-in's request log, the breaker's item in the fleet table, the
queues. Times are scaled down (:data:`SCENE_SETTINGS`) so the scene takes seconds."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from masking_unset_tools.local.deepcall_standin import Fault, RecordedRequest
from masking_unset_tools.local.event_source import deliver_once
from masking_unset_tools.local.events import http_api_event
from masking_unset_tools.local.lambda_context import LocalLambdaContext
from masking_unset_tools.local.signers import sign_event
from masking_unset_tools.local.stack import LocalStack, environment

# The template's defaults (3 failures, 30 s open, deferrals up to 90 s) scaled down. The open
# time leaves the webhook, posted right after the circuit opens, seconds to spare: the breaker
# counts whole seconds, so an open time of 1 s may end at once.
SCENE_SETTINGS = {
    "BREAKER_FAILURE_THRESHOLD": "2",
    "BREAKER_OPEN_SECONDS": "3",
    "BREAKER_CACHE_SECONDS": "0",  # every container reads the table's state afresh
    "QUEUE_DEFER_MAX_SECONDS": "2",
    "MAX_CONCURRENCY": "1",  # one record at a time: the story reads in order
    "DEEPCALL_RETRY_BASE_SECONDS": "0.05",
    "DEEPCALL_RETRY_MAX_SECONDS": "0.1",
    # The scene's closes expire at once, whatever grace period the user's own settings give.
    "EXPIRY_GRACE_MINUTES": "0",
    "DRY_RUN": "false",
}
SHOWN_SETTINGS = ("BREAKER_FAILURE_THRESHOLD", "BREAKER_OPEN_SECONDS", "QUEUE_DEFER_MAX_SECONDS")
CLOSES = 5
OUTAGE = Fault(
    status=503,
    body=b'{"message": "Service Unavailable"}',
    headers={"Content-Type": "application/json"},
)
# Bounds, not synchronisation: the scene takes about 7 s; past these something is wrong.
RECOVERY_TIMEOUT_SECONDS = 30.0
MAX_POLLS = 100
_MASK_BASE = 9_100_000_000  # the scene's demo numbers: never printed, cut or whole


@dataclass
class Scene:
    """What the scene saw, for the lines it prints and the checks it makes."""

    masks: list[str]
    problems: list[str] = field(default_factory=list)
    # The circuit's state in the fleet table as each DeepCall request arrived.
    states: list[str] = field(default_factory=list)

    def expect(self, ok: bool, problem: str) -> bool:
        """Note ``problem`` unless ``ok``; returns ``ok``."""
        if not ok:
            self.problems.append(problem)
        return ok


def _count(n: int, one: str, many: str) -> str:
    return f"one {one}" if n == 1 else f"{n} {many}"


def circuit_item(dynamodb: Any, table: str) -> dict[str, Any] | None:
    """The DeepCall circuit breaker's item in the fleet table (strongly consistent), or None."""
    from masking_unset.clients.breaker import circuit_name

    found = dynamodb.get_item(
        TableName=table,
        Key={"id": {"S": circuit_name("default")}},
        ConsistentRead=True,
    )
    item: dict[str, Any] | None = found.get("Item")
    return item


def circuit_state(dynamodb: Any, table: str) -> str:
    """``CLOSED``, ``OPEN`` or ``HALF_OPEN``: no item is a closed circuit."""
    item = circuit_item(dynamodb, table)
    return str(item["state"]["S"]) if item is not None else "CLOSED"


def messages_in(sqs: Any, queue_url: str) -> int:
    """Every message in the queue: visible, in flight or delayed."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def _quiet(handler: Callable[[dict[str, Any], Any], Any]) -> Callable[[dict[str, Any], Any], Any]:
    """``handler`` with its own output (EMF metric lines) dropped unless verbose."""
    from masking_unset_tools.ops.console import function_stdout

    def run(event: dict[str, Any], context: Any) -> Any:
        with function_stdout():
            return handler(event, context)

    return run


def _webhook_event(event_id: str, ticket_id: str, mask: str) -> dict[str, Any]:
    body = json.dumps({"event_id": event_id, "ticket_id": ticket_id, "mask": mask}).encode()
    event = http_api_event(
        "POST",
        "/webhooks/generic",
        [("content-type", "application/json"), ("host", "demo.example.com")],
        body,
    )
    return sign_event(event, "generic", now=time.time())


def play_outage(stack: LocalStack, out: Callable[[str], None]) -> int:
    """Play the outage and print each step; returns how many expectations were not met (each
    also printed as ``!!``)."""
    from masking_unset.app import reset_app

    out("\n== DeepCall outage  ->  queue and webhook handlers")
    shown = ", ".join(f"{name}={SCENE_SETTINGS[name]}" for name in SHOWN_SETTINGS)
    out(f"   (times scaled down for the demo: {shown})")
    masks = [str(_MASK_BASE + i) for i in range(1, CLOSES + 2)]  # the last one for the webhook
    scene = Scene(masks=masks)
    # Its own client: the stand-in calls back from its request threads (clients are
    # thread-safe once made).
    dynamodb = stack.aws.client("dynamodb")

    def note_state(_request: RecordedRequest) -> None:
        scene.states.append(circuit_state(dynamodb, stack.fleet_state_table))

    deepcall = stack.deepcall
    deepcall.set_watcher(note_state)
    try:
        with environment(SCENE_SETTINGS):
            reset_app()
            _play(stack, scene, out)
    finally:
        deepcall.set_outage(None)
        deepcall.set_watcher(None)
        reset_app()
    for problem in scene.problems:
        out(f"   !! {problem}")
    return len(scene.problems)


def _play(stack: LocalStack, scene: Scene, out: Callable[[str], None]) -> None:
    from masking_unset.handlers import queue, webhook

    deepcall, sqs = stack.deepcall, stack.aws.client("sqs")
    dynamodb = stack.aws.client("dynamodb")
    queue_handler = _quiet(queue.lambda_handler)
    first_request = len(deepcall.unset_calls)
    first_state = len(scene.states)

    # The outage: every close on the queue meets a DeepCall answering 503.
    deepcall.set_outage(OUTAGE)
    closes = [
        {"event_id": f"outage-{i}", "ticket_id": f"OUT-{i}", "mask": mask}
        for i, mask in enumerate(scene.masks[:CLOSES], start=1)
    ]
    sqs.send_message_batch(
        QueueUrl=stack.queue_url,
        Entries=[{"Id": str(i), "MessageBody": json.dumps(body)} for i, body in enumerate(closes)],
    )
    handed_back: list[str] = []
    for _ in range(MAX_POLLS):  # one batch in practice; a receive may return fewer
        delivery = deliver_once(sqs, stack.queue_url, queue_handler, wait_seconds=0)
        handed_back += delivery.failed
        if not delivery.received:
            break
    requests = len(deepcall.unset_calls) - first_request
    item = circuit_item(dynamodb, stack.fleet_state_table) or {}
    state = item.get("state", {}).get("S", "CLOSED")
    failures = int(item.get("failure_count", {}).get("N", "0"))
    waiting = messages_in(sqs, stack.queue_url)
    parked = messages_in(sqs, stack.dead_letter_queue_url)

    # A webhook during the outage, while the circuit is open: queued at once, nothing sent.
    before = len(deepcall.unset_calls)
    event = _webhook_event("outage-webhook", f"OUT-{CLOSES + 1}", scene.masks[-1])
    answer = _quiet(webhook.lambda_handler)(event, LocalLambdaContext())
    sent = len(deepcall.unset_calls) - before
    try:
        body = json.loads(answer["body"])
    except (TypeError, ValueError):
        body = {}

    out(f"   {CLOSES} closes queued; DeepCall answers 503 to everything")
    out(f"   DeepCall received {_count(requests, 'request', 'requests')}, each answered 503")
    if scene.expect(state == "OPEN", f"expected the circuit OPEN in the fleet table, got {state}"):
        out(f"   circuit breaker opened after {_count(failures, 'failure', 'failures')}")
    scene.expect(
        failures == int(SCENE_SETTINGS["BREAKER_FAILURE_THRESHOLD"]) and requests == failures,
        f"expected {SCENE_SETTINGS['BREAKER_FAILURE_THRESHOLD']} failures and as many "
        f"requests, got {failures} failure(s) and {requests} request(s)",
    )
    out(
        f"   {waiting} events deferred (not parked): new messages waiting in the queue; "
        f"dead-letter queue: {parked}"
    )
    scene.expect(
        waiting == CLOSES and parked == 0 and not handed_back,
        f"expected {CLOSES} deferred, none parked or handed back; got {waiting} waiting, "
        f"{parked} parked, {len(handed_back)} handed back",
    )
    out(
        f"   webhook answered {answer.get('statusCode')} {body.get('status')}: {body.get('reason')}"
    )
    out(f"   DeepCall received {'nothing' if not sent else _count(sent, 'request', 'requests')}")
    scene.expect(
        answer.get("statusCode") == 202
        and body.get("status") == "queued"
        and "circuit breaker" in str(body.get("reason")),
        "expected the webhook answered 202 queued with the circuit breaker's reason",
    )
    scene.expect(sent == 0, f"expected nothing sent for the webhook, got {sent} request(s)")

    # DeepCall recovers; the fleet learns it from one probe once the open time is over.
    deepcall.set_outage(None)
    recovered_state = len(scene.states)
    out("   DeepCall comes back; the circuit stays open until a probe shows it answering")
    deadline = time.monotonic() + RECOVERY_TIMEOUT_SECONDS
    polls = 0
    while polls < MAX_POLLS and time.monotonic() < deadline:
        polls += 1
        # Long polling: the deferred copies are waited for on SQS until their delay is over.
        deliver_once(sqs, stack.queue_url, queue_handler, wait_seconds=1)
        if _all_expired(deepcall.expired, scene.masks) and messages_in(sqs, stack.queue_url) == 0:
            break
    after = scene.states[recovered_state:]
    probes = after.count("HALF_OPEN")
    while_open = after.count("OPEN") + scene.states[first_state:recovered_state].count("OPEN")
    final = circuit_state(dynamodb, stack.fleet_state_table)
    out(
        f"   {_count(probes, 'probe', 'probes')} sent; DeepCall received "
        f"{'nothing' if not while_open else _count(while_open, 'request', 'requests')} "
        "while the circuit was open"
    )
    scene.expect(probes == 1, f"expected one probe, got {probes}")
    scene.expect(while_open == 0, f"expected nothing sent while open, got {while_open}")
    if scene.expect(final == "CLOSED", f"expected the circuit CLOSED, got {final}") and probes:
        out("   DeepCall healthy again: probe succeeded, circuit closed")
    expired = deepcall.expired
    done = [mask for mask in scene.masks if expired[mask] == 1]
    twice = [mask for mask in scene.masks if expired[mask] > 1]
    left = messages_in(sqs, stack.queue_url)
    parked = messages_in(sqs, stack.dead_letter_queue_url)
    each = "each once" if not twice else f"{len(twice)} more than once"
    out(
        f"   {len(done)} events expired ({CLOSES} closes and the webhook's), {each}; "
        + ("dead-letter queue empty" if not parked else f"dead-letter queue: {parked}")
        + ("" if not left else f"; {left} still in the queue")
    )
    scene.expect(
        len(done) == len(scene.masks) and not twice and not parked and not left,
        f"expected all {len(scene.masks)} events expired once, nothing parked or left",
    )


def _all_expired(expired: Counter[str], masks: list[str]) -> bool:
    return all(expired[mask] >= 1 for mask in masks)
