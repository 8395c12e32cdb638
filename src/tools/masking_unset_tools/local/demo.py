"""The local run: both handlers, every file in ``events/``, against a moto server and the DeepCall
stand-in, with no AWS account and no Docker; then a second DeepCall account
(``accounts_scene.py``), a small backfill (``backfill_scene.py``) and a DeepCall outage
(``outage.py``)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from masking_unset.sources import SOURCES
from masking_unset_tools.local.accounts_scene import play_accounts
from masking_unset_tools.local.backfill_scene import play_backfill
from masking_unset_tools.local.lambda_context import LocalLambdaContext
from masking_unset_tools.local.outage import play_outage
from masking_unset_tools.local.signers import sign_event, with_headers
from masking_unset_tools.local.stack import (
    LocalStack,
    environment,
    local_environment,
    local_stack,
)


def shown_request(body: Any) -> str:
    """A DeepCall request body for display: credentials hidden, numbers cut to their last four
    digits with their length kept, so the configured number format stays visible."""
    if not isinstance(body, dict):
        return "<not JSON>"
    shown: dict[str, Any] = {}
    for key, value in body.items():
        if key in {"ssid", "token", "userId"}:
            shown[key] = "<secret>"
        elif key in {"mask", "m1", "m2"} and isinstance(value, str):
            shown[key] = "*" * max(0, len(value) - 4) + value[-4:]
        else:
            shown[key] = value
    return json.dumps(shown)


def tamper_signature(event: dict[str, Any], source: str, now: float) -> dict[str, Any]:
    """The event as signed at ``now``, its signature alone replaced by one made with another
    secret (a timestamp as fresh, so only the signature itself is wrong)."""
    adapter = SOURCES[source]
    signatures = {
        credential.name.lower() for credential in adapter.doc.credentials if credential.signature
    }
    forged = sign_event(
        event, source, secret=adapter.new_secret("not-the-configured-secret"), now=now
    )
    wrong = {key: value for key, value in forged["headers"].items() if key.lower() in signatures}
    return with_headers(event, wrong)


def drain_dead_letters(stack: LocalStack) -> list[dict[str, str]]:
    """Take every message off the dead-letter queue: its source message id and reason."""
    sqs = stack.aws.client("sqs")
    parked: list[dict[str, str]] = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=stack.dead_letter_queue_url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            WaitTimeSeconds=0,
        ).get("Messages", [])
        if not messages:
            return parked
        for message in messages:
            attributes = message.get("MessageAttributes", {})
            parked.append({k: v.get("StringValue", "") for k, v in attributes.items()})
            sqs.delete_message(
                QueueUrl=stack.dead_letter_queue_url, ReceiptHandle=message["ReceiptHandle"]
            )


def write_mappings(stack: LocalStack, mappings: dict[str, dict[str, str]]) -> None:
    """Record ticket -> masking items (``{"<source>#<ticket id>": {"mask": ...}}``) before the
    event arrives, as the system that creates maskings would."""
    for key, numbers in mappings.items():
        stack.put_mapping(key, numbers)


def soap_ack(body: str) -> bool | None:
    """The ``Ack`` of a SOAP ``notificationsResponse``, or None if there is none."""
    from defusedxml.ElementTree import fromstring

    for element in fromstring(body).iter():
        if element.tag.rsplit("}", 1)[-1] == "Ack":
            return (element.text or "").strip() == "true"
    return None


def check_webhook(expect: dict[str, Any], outcome: dict[str, Any]) -> list[str]:
    """Differences between the expected and the actual webhook answer."""
    problems = []
    if outcome["statusCode"] != expect.get("statusCode"):
        problems.append(f"expected HTTP {expect.get('statusCode')}, got {outcome['statusCode']}")
    if "ack" in expect:
        if (ack := soap_ack(outcome["body"])) is not expect["ack"]:
            problems.append(f"expected Ack {expect['ack']}, got {ack}")
        return problems
    body = json.loads(outcome["body"])
    if "status" in expect and body.get("status") != expect["status"]:
        problems.append(f"expected status {expect['status']!r}, got {body.get('status')!r}")
    if "expires_in_minutes" in expect and body.get("expires_in_minutes") != (
        minutes := expect["expires_in_minutes"]
    ):
        problems.append(
            f"expected expires_in_minutes {minutes}, got {body.get('expires_in_minutes')}"
        )
    if "error" in expect and body.get("error", {}).get("code") != expect["error"]:
        problems.append(f"expected error {expect['error']!r}, got {body.get('error')!r}")
    if "results" in expect:
        statuses = [result.get("status") for result in body.get("results", [])]
        if statuses != expect["results"]:
            problems.append(f"expected results {expect['results']}, got {statuses}")
    return problems


def check(
    spec: dict[str, Any],
    outcome: dict[str, Any],
    parked: list[dict[str, str]],
    *,
    calls: int | None = None,
    mappings_left: list[str] | None = None,
) -> list[str]:
    """Differences between what the manifest expects and what happened."""
    expect = spec.get("expect", {})
    problems = []
    if spec["function"] == "queue":
        failed = [item["itemIdentifier"] for item in outcome.get("batchItemFailures", [])]
        if sorted(failed) != sorted(expect.get("failed", [])):
            problems.append(f"expected failed records {expect.get('failed')}, got {failed}")
        ids = sorted(p.get("SourceMessageId", "") for p in parked)
        if ids != sorted(expect.get("dead_lettered", [])):
            problems.append(f"expected dead-lettered {expect.get('dead_lettered')}, got {ids}")
    else:
        problems.extend(check_webhook(expect, outcome))
    if "deepcall_calls" in expect and calls != expect["deepcall_calls"]:
        problems.append(f"expected {expect['deepcall_calls']} DeepCall call(s), got {calls}")
    if "mappings_left" in expect and sorted(mappings_left or []) != sorted(expect["mappings_left"]):
        problems.append(
            f"expected mapping items left {expect['mappings_left']}, got {mappings_left}"
        )
    return problems


_ENTRY_KEYS = frozenset({"function", "sign", "tamper", "expect", "mapping", "env"})
_EXPECT_KEYS = frozenset(
    {
        "statusCode",
        "status",
        "error",
        "ack",
        "results",
        "expires_in_minutes",
        "failed",
        "dead_lettered",
        "deepcall_calls",
        "mappings_left",
    }
)


class ManifestError(ValueError):
    """``events/manifest.json`` says something the demo cannot do (a typo would otherwise be
    silently ignored: an unknown signer skipped signing, an unknown expectation was not checked)."""


def load_manifest(events_dir: Path) -> dict[str, dict[str, Any]]:
    """``events_dir/manifest.json``, checked: every key known, every signer a registered source,
    every event file present. :class:`ManifestError` names the first problem."""
    path = events_dir / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ManifestError(f"{path}: cannot be read as JSON ({type(exc).__name__})") from None
    if not isinstance(manifest, dict):
        raise ManifestError(f"{path}: must be a JSON object of event file -> entry")
    for name, spec in manifest.items():
        where = f"{path}: {name}"
        if not isinstance(spec, dict):
            raise ManifestError(f"{where}: the entry must be an object")
        if unknown := sorted(set(spec) - _ENTRY_KEYS):
            raise ManifestError(f"{where}: unknown key(s) {unknown}; known: {sorted(_ENTRY_KEYS)}")
        if spec.get("function") not in ("webhook", "queue"):
            raise ManifestError(f'{where}: "function" must be "webhook" or "queue"')
        if "sign" in spec and spec["sign"] not in SOURCES:
            raise ManifestError(
                f"{where}: unknown signer {spec['sign']!r}; known: {sorted(SOURCES)}"
            )
        if spec.get("tamper") and "sign" not in spec:
            raise ManifestError(f'{where}: "tamper" needs "sign"')
        expect = spec.get("expect", {})
        if not isinstance(expect, dict):
            raise ManifestError(f'{where}: "expect" must be an object')
        if unknown := sorted(set(expect) - _EXPECT_KEYS):
            raise ManifestError(
                f'{where}: unknown "expect" key(s) {unknown}; known: {sorted(_EXPECT_KEYS)}'
            )
        if not (events_dir / name).is_file():
            raise ManifestError(f"{where}: no such event file")
    return manifest


def entry_environment(
    spec: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> tuple[dict[str, str], list[str]]:
    """The manifest entry's settings to apply, and the names of those the user set (the user's
    value wins, as for every setting of a local run)."""
    from masking_unset_tools.local.stack import user_value

    environ = os.environ if environ is None else environ
    wanted: dict[str, str] = spec.get("env", {})
    kept = sorted(name for name in wanted if user_value(environ, name) is not None)
    return {name: value for name, value in wanted.items() if name not in kept}, kept


def prepare_event(
    stack: LocalStack, spec: Mapping[str, Any], event: dict[str, Any], *, resign: bool = True
) -> dict[str, Any]:
    """Do what the manifest entry says before its event runs: sign the event with its source's
    demo secret and a fresh timestamp (then forge its signature when ``tamper``), and write the
    entry's mapping items. ``resign=False`` keeps the event's own signature."""
    if resign and (source := spec.get("sign")) is not None:  # load_manifest checked the source
        now = time.time()
        event = sign_event(event, source, now=now)
        if spec.get("tamper"):
            event = tamper_signature(event, source, now)
    write_mappings(stack, spec.get("mapping", {}))
    return event


def describe_entry(spec: Mapping[str, Any], applied: Mapping[str, str], kept: list[str]) -> str:
    """One line on what a manifest entry sets up, for ``invoke``."""
    parts = []
    if (source := spec.get("sign")) is not None:
        parts.append(f"signed for {source}" + (", signature forged" if spec.get("tamper") else ""))
    parts.extend(f"{name}={value}" for name, value in applied.items())
    parts.extend(f"mapping {key} written first" for key in spec.get("mapping", {}))
    line = "; ".join(parts) or "nothing to set up"
    if kept:
        line += f"; your {', '.join(kept)} used instead of the manifest's"
    return line


@dataclass
class EntryOutcome:
    """What one manifest entry's event did."""

    answer: dict[str, Any]
    calls: list[Any]  # RecordedRequest
    left: list[str]  # mapping items still there
    kept: list[str]  # the entry's settings the user's own values replaced


def run_entry(
    stack: LocalStack, events_dir: Path, name: str, spec: Mapping[str, Any]
) -> EntryOutcome:
    """Run one manifest entry's event on ``stack``, as Lambda would on a fresh container."""
    from masking_unset.app import reset_app
    from masking_unset.handlers import queue, webhook
    from masking_unset_tools.ops.console import function_stdout

    reset_app()
    event = prepare_event(stack, spec, json.loads((events_dir / name).read_text()))
    mappings: dict[str, dict[str, str]] = spec.get("mapping", {})
    before = len(stack.deepcall.unset_calls)
    handler = webhook.lambda_handler if spec["function"] == "webhook" else queue.lambda_handler
    applied, kept = entry_environment(spec)
    # Per-event settings, read afresh after reset_app; the function's own output (EMF metric
    # lines) is dropped unless function_logs is verbose.
    with environment(applied), function_stdout():
        answer = handler(event, LocalLambdaContext())  # type: ignore[arg-type]
    reset_app()
    calls = stack.deepcall.unset_calls[before:]
    left = [key for key in mappings if stack.mapping_exists(key)]
    return EntryOutcome(answer, calls, left, kept)


def replay(
    stack: LocalStack, events_dir: Path, out: Callable[[str], None], only: str | None = None
) -> int:
    """Invoke the handler named by ``events/manifest.json`` for each event; count mismatches."""
    manifest = load_manifest(events_dir)
    mismatches = 0
    for name, spec in manifest.items():
        if only and name != only:
            continue
        ran = run_entry(stack, events_dir, name, spec)
        outcome, calls, left = ran.answer, ran.calls, ran.left
        out(f"\n== {name}  ->  {spec['function']} handler")
        if ran.kept:
            out(f"   your {', '.join(ran.kept)} used instead of the manifest's")
        for key in spec.get("mapping", {}):
            out(f"   mapping {key}: written first, {'still there' if key in left else 'removed'}")
        if spec["function"] == "webhook":
            out(f"   answered HTTP {outcome['statusCode']}: {outcome['body']}")
            if "Retry-After" in outcome["headers"]:
                out(f"   Retry-After: {outcome['headers']['Retry-After']}")
        else:
            out(f"   answered {json.dumps(outcome)}")
        for call in calls:
            out(f"   DeepCall received POST {call.path} {shown_request(call.json)}")
        if not calls:
            out("   DeepCall received nothing")
        parked = drain_dead_letters(stack)
        for message in parked:
            out(
                f"   dead-lettered {message.get('SourceMessageId')}: "
                f"{message.get('ErrorCode')} ({message.get('ErrorMessage')})"
            )
        problems = check(spec, outcome, parked, calls=len(calls), mappings_left=left)
        for problem in problems:
            out(f"   !! {problem}")
        mismatches += bool(problems)
    return mismatches


def show_a_trail(stack: LocalStack, out: Callable[[str], None]) -> None:
    """What ``masking-unset trail --ticket`` prints for the demo's ticket with the longest trail."""
    from masking_unset_tools.ops.trail import EventTrail, by_ticket, print_timeline

    dynamodb = stack.aws.client("dynamodb")
    items = dynamodb.scan(TableName=stack.trail_table).get("Items", [])
    kept = [EventTrail.from_item(dict(item)) for item in items]
    ticketed = [trail for trail in kept if trail.ticket]
    if not ticketed:
        return
    ticket = max(ticketed, key=lambda trail: (len(trail.steps), trail.ticket)).ticket
    out("")
    out(f"== masking-unset trail --ticket {ticket}")
    print_timeline(by_ticket(dynamodb, stack.trail_table, ticket), out, what=f"ticket {ticket}")


def run(events_dir: Path, *, verbose: bool = False, out: Callable[[str], None] = print) -> int:
    """Run the local stack, replay the events, then play a DeepCall outage
    (:mod:`~masking_unset_tools.local.outage`); print what happened; 0 if all went as expected.

    :class:`ManifestError` before anything starts when the manifest is wrong."""
    load_manifest(events_dir)
    with local_stack() as stack:
        local = local_environment(stack)
        env = {**local.values, "POWERTOOLS_LOG_LEVEL": "INFO" if verbose else "ERROR"}
        with environment(env):
            out(f"local AWS endpoint (moto): {stack.aws.url}")
            out(f"DeepCall stand-in:         {stack.deepcall.base_url}")
            for line in local.banner():
                out(line)
            mismatches = replay(stack, events_dir, out)
            mismatches += play_accounts(stack, out)
            mismatches += play_backfill(stack, out)
            mismatches += play_outage(stack, out)
            show_a_trail(stack, out)
    out("")
    out("all events behaved as expected" if not mismatches else f"{mismatches} event(s) differed")
    if mismatches and local.yours:
        out(
            f"your own {', '.join(local.yours)} were in effect; the manifest's expectations "
            "assume the demo's values: unset them to run the demo as shipped"
        )
    return 1 if mismatches else 0
