"""The ``masking-unset`` command: a thin parser; the work is in :mod:`masking_unset_tools.ops`."""

from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import os
import signal
import sys
import textwrap
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

from masking_unset_tools.ops.errors import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    OperationFailed,
    UsageError,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]

EXIT_CODES = """\
exit codes:
  0  the operation succeeded
  1  the operation failed (a refused webhook, a failed unset, an AWS call that failed)
  2  usage or configuration error (bad arguments, unreadable file, missing variable)
"""

# How many parked messages `redrive` lists to note "redriven" in their events' trails.
REDRIVE_TRAIL_MAX = 500

ENVIRONMENT = """\
environment (--live, expire, dlq, redrive, mapping, backfill): the functions' own variables, e.g.
  DEEPCALL_BASE_URL, DEEPCALL_SECRET_ID, WEBHOOK_SECRETS_ID, QUEUE_URL, DEAD_LETTER_QUEUE_URL,
  MASKING_MAP_TABLE, and the usual AWS_* (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL).
"""


def _out(line: str) -> None:
    print(line, flush=True)


def _err(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def printer(stream: TextIO) -> Callable[[str], None]:
    """Print lines to ``stream`` itself, whatever ``sys.stdout`` is at the time of the call."""

    def out(line: str) -> None:
        print(line, file=stream, flush=True)

    return out


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid port: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError("the port must lie in 0..65535")
    return port


def _default_events_dir() -> Path:
    return Path.cwd() / "events"


# --- commands -----------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    """Run both handlers on events/ against a local AWS endpoint and DeepCall.

    Replay every file of events/manifest.json against the local stand-ins.
    """
    from masking_unset_tools.local.demo import ManifestError, run
    from masking_unset_tools.ops.console import function_logs

    events_dir = Path(args.events)
    if not (events_dir / "manifest.json").is_file():
        raise UsageError(
            f"{events_dir}/manifest.json not found: give --events a folder with a manifest.json, "
            "such as the repository's events/"
        )
    try:
        with function_logs(args.verbose):
            return run(events_dir, verbose=args.verbose)
    except ManifestError as exc:
        raise UsageError(str(exc)) from None


def cmd_resign(args: argparse.Namespace) -> int:
    """Sign a webhook event file afresh for its source (signatures go stale).

    Print the event signed now for the source in its path - Standard Webhooks, Zendesk, HubSpot v3,
    or the Freshdesk / Salesforce token - for sam local invoke -e.
    """
    from masking_unset.sources import SOURCES
    from masking_unset_tools.local.signers import sign_event
    from masking_unset_tools.ops.invoke import event_source, load_event
    from masking_unset_tools.ops.sign import read_secret

    event = load_event(Path(args.event))
    source = event_source(event)
    if source not in SOURCES:
        raise UsageError(f"{args.event}: not a webhook event of a known source")
    secret = read_secret(Path(args.secret_file), source) if args.secret_file else None
    try:
        resigned = sign_event(event, source, secret=secret)
    except ValueError:
        raise UsageError(f"the secret is not a valid {source} signing secret") from None
    _out(json.dumps(resigned, indent=2))
    return EXIT_OK


def cmd_invoke(args: argparse.Namespace) -> int:
    """Run a handler on an event file.

    Run the webhook or queue handler on an event file and print its answer. By default on the local
    stand-ins (moto server + DeepCall stand-in, demo secrets; webhook events are signed again with
    their source's demo secret and a fresh timestamp), printing the requests DeepCall received,
    redacted.

    examples:
      masking-unset invoke events/webhook-http-api.json
      masking-unset invoke events/sqs-batch.json --function queue
      masking-unset resign ev.json --secret-file s.txt > fresh.json && \\
        masking-unset invoke fresh.json --live

    A webhook answer other than 2xx, or records handed back by the queue handler, exit 1.
    A record parked in the dead-letter queue counts as handled.
    """
    from masking_unset_tools.ops.console import function_logs
    from masking_unset_tools.ops.invoke import ensure_succeeded, invoke

    with function_logs(args.verbose):
        invocation = invoke(
            Path(args.event), args.function, live=args.live, out=_out, resign=args.resign
        )
    ensure_succeeded(invocation)
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the webhook function over local HTTP.

    Serve POST /webhooks/{source} on a local HTTP server: every request becomes an API Gateway HTTP
    API (payload 2.0) event for the webhook handler. By default on the local stand-ins; --live uses
    the environment's configuration.

    examples:
      masking-unset serve
      masking-unset serve --port 9000 --live

    Stop with Ctrl-C (exit 0).
    """
    from masking_unset_tools.ops.console import function_logs

    try:
        from masking_unset_tools.ops.serve import announce, serving, show_deepcall_requests
    except ModuleNotFoundError as exc:  # h11 is a development dependency
        raise UsageError(f"serve needs {exc.name}: install the dev tools (make dev)") from None

    # A handler call on a server thread swaps sys.stdout to drop the function's own output
    # (function_stdout): announce on the stream this command started with, or a request that
    # arrives right after the first line would swallow the rest.
    out = printer(sys.stdout)
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # Handled explicitly: a shell starts background jobs with SIGINT ignored.
    handled = (signal.SIGINT, signal.SIGTERM)
    in_main = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.signal(sig, _on_signal) for sig in handled} if in_main else {}
    try:
        with (
            function_logs(args.verbose),
            serving(
                args.host, args.port, live=args.live, public_url=args.public_url, out=_err
            ) as running,
            _published(running),
        ):
            show_deepcall_requests(running, printer(sys.stderr))  # beside the request log
            announce(running, out)
            stop.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    _err("stopped")
    return EXIT_OK


def _published(running: Any) -> contextlib.AbstractContextManager[Any]:
    """On the stand-ins, publish the stack for ``local env`` while serving."""
    if running.stack is None:
        return contextlib.nullcontext()
    from masking_unset_tools.local.state import published

    return published(running.url, running.stack.resources())


def cmd_local_env(args: argparse.Namespace) -> int:
    """Print the exports that point boto3 and the CLI at a running serve's local stack.

    Print export lines for the local stack of a running `masking-unset serve` (on the stand-ins):
    the moto endpoint, its region and dummy credentials, the tables, queues and secrets, and the
    DeepCall stand-in. With them, boto3, the aws CLI and `masking-unset dlq list` or `expire` reach
    that stack.

    examples:
      eval "$(masking-unset local env)"
      masking-unset local env --port 9000

    With several serve processes running, the newest is shown unless --port picks one.
    Exits 1 when no serve on the stand-ins is running.
    """
    from masking_unset_tools.local.state import running_stacks, state_dir

    stacks = running_stacks()
    if args.port is not None:
        stacks = [stack for stack in stacks if stack.url.rsplit(":", 1)[-1] == str(args.port)]
    if not stacks:
        where = f" on port {args.port}" if args.port is not None else ""
        raise OperationFailed(
            f"no local stack is running{where}: start masking-unset serve (looked in {state_dir()})"
        )
    chosen = stacks[0]
    if len(stacks) > 1:
        others = ", ".join(stack.url for stack in stacks[1:])
        _err(f"note: several serve processes are running; this is {chosen.url} (also: {others})")
    _out(f"# the local stack of masking-unset serve on {chosen.url} (pid {chosen.pid})")
    for line in chosen.exports():
        _out(line)
    return EXIT_OK


def cmd_sign(args: argparse.Namespace) -> int:
    """Print the headers of a correctly signed webhook request.

    Sign BODY_FILE for a source and print the request's headers and a curl line that sends the file.
    A token that is itself the secret is never printed: curl reads it from the secret file (or,
    with --demo-secret, from the command that prints the demo secret).

    examples:
      masking-unset sign --source generic --secret-file whsec.txt body.json
      masking-unset sign --source generic --demo-secret body.json \\
        --url http://127.0.0.1:8080/webhooks/generic

    The secret file holds the bare secret, or the WEBHOOK_SECRETS_ID JSON document.
    """
    from masking_unset_tools.ops.sign import (
        SignInput,
        carries_secret,
        default_url,
        print_signed,
        read_body,
        read_secret,
        signer_for,
    )
    from masking_unset_tools.ops.sign import sign as sign_request

    source = args.source
    signer_for(source, url_given=args.url is not None)
    secret_command = None
    if args.demo_secret:
        from masking_unset_tools.local.demo_secret import shell_command
        from masking_unset_tools.local.stack import DEMO_SOURCE_SECRETS

        if source not in DEMO_SOURCE_SECRETS:
            raise UsageError(f"there is no demo secret for the source {source!r}")
        secret = DEMO_SOURCE_SECRETS[source][0]
        secret_command = shell_command(source)  # a token source's curl line reads it at run time
    else:
        secret = read_secret(Path(args.secret_file), source)
    body = read_body(Path(args.body))
    request = SignInput(
        source=source, secret=secret, body=body, url=args.url or default_url(source)
    )
    signed = sign_request(request)
    print_signed(
        signed,
        _out,
        body_file=args.body,
        secret_file=args.secret_file,
        secret_command=secret_command,
    )
    if not carries_secret(signed):
        _err("note: the signature's timestamp goes stale after 5 minutes")
    return EXIT_OK


def cmd_expire(args: argparse.Namespace) -> int:
    """Expire one masking now with the configured credentials.

    Expire a masking through the functions' own pipeline (DEEPCALL_BASE_URL, DEEPCALL_SECRET_ID, ...
    from the environment). Numbers are shown redacted.

    examples:
      masking-unset expire --mask '+91 80 4000 1234' --dry-run
      masking-unset expire --m1 9876543210 --m2 9123456780 --ticket-id T-42
      masking-unset expire --mask '+91 80 4000 1234' --account brand-b

    --dry-run shows the request that would be sent and sends nothing (DRY_RUN=true).
    An unusable number or a configuration error exits 2; a failed unset exits 1.
    """
    from masking_unset_tools.ops.console import function_logs
    from masking_unset_tools.ops.expire import build_app, close_event, expire
    from masking_unset_tools.ops.mapping import account_name

    if args.mask and (args.m1 or args.m2):
        raise UsageError("give --mask, or --m1 and/or --m2, not both")
    event = close_event(
        mask=args.mask,
        m1=args.m1,
        m2=args.m2,
        ticket_id=args.ticket_id,
        event_id=args.event_id,
        account=account_name(args.account),
    )
    with function_logs(args.verbose):
        expire(build_app(dry_run=args.dry_run), event, _out)
    return EXIT_OK


def _queue_url(value: str | None, variable: str, option: str) -> str:
    url = value or os.environ.get(variable, "").strip()
    if not url:
        raise UsageError(f"{variable} is not set (or pass {option})")
    return url


def _sqs() -> SQSClient:
    from masking_unset.clients.aws import aws_client, aws_client_config, aws_session

    # No region or no credentials: a ConfigurationError saying what to set (exit 2), before
    # any call fails with the SDK's words.
    client: SQSClient = aws_client(aws_session(), "sqs", aws_client_config())
    return client


def _aws(service: str, endpoint_url: str | None = None) -> Any:
    """A client of the environment's AWS (or of ``endpoint_url``, e.g. a local moto server)."""
    from botocore.exceptions import BotoCoreError

    from masking_unset.clients.aws import aws_session

    try:
        return aws_session().client(service, endpoint_url=endpoint_url or None)  # type: ignore[call-overload]
    except BotoCoreError as exc:
        raise UsageError(f"AWS configuration: {exc}") from None


def _trail_table(args: argparse.Namespace, *, required: bool) -> str | None:
    """The trail table the command reads (``--table``, TRAIL_TABLE, ``--stack``'s output)."""
    from masking_unset_tools.ops.trail import table_name

    option, stack = getattr(args, "table", None), getattr(args, "stack", None)
    if not required and not (option or stack or os.environ.get("TRAIL_TABLE", "").strip()):
        return None
    endpoint = getattr(args, "endpoint_url", None)
    cloudformation = _aws("cloudformation", endpoint) if stack and not option else None
    return table_name(option, stack, cloudformation)


def _trail_key_reader() -> Callable[[str], str | None]:
    """Tells a queued body's trail key: by its event id; without one, by its keyed hash when the
    functions' variables (HASH_KEY_SECRET_ID, the number settings) are at hand."""
    from masking_unset.config import Settings
    from masking_unset.models.errors import MaskingUnsetError
    from masking_unset_tools.ops.trail import message_key, read_hash_keys

    keys, settings = None, None
    if os.environ.get("HASH_KEY_SECRET_ID", "").strip():
        try:
            settings = Settings.from_env()
            keys = read_hash_keys(_aws("secretsmanager"))
        except (MaskingUnsetError, CommandError):
            keys = None  # the events with an id are still found
    return lambda body: message_key(body, keys, settings)


def cmd_trail(args: argparse.Namespace) -> int:
    """Show what happened to an event, step by step.

    Print the trail of an event, a ticket or a masking number, oldest first, in UTC, across both
    functions and the dead-letter queue: received (webhook or queue), each DeepCall attempt
    (code, HTTP status, latency), failed, queued, deferred, parked, redriven, outcome. Read from
    the trail table: --table, else TRAIL_TABLE, else the TrailTableName output of --stack.

    examples:
      masking-unset trail --ticket zendesk:4711
      masking-unset trail --event evt-2003 --json
      masking-unset trail --mask '+91 80 4000 1234'

    --event takes the event id (or SOURCE:ID); --mask reads the hash key (HASH_KEY_SECRET_ID) to
    look up the number's keyed hash. Exits 1 when no trail is kept for it.
    """
    from masking_unset.models.redact import redact_number
    from masking_unset_tools.ops import trail
    from masking_unset_tools.ops.mapping import account_name

    table = _trail_table(args, required=True)
    assert table is not None
    dynamodb = _aws("dynamodb", args.endpoint_url)
    if args.ticket:
        if ":" not in args.ticket:
            raise UsageError("--ticket takes SOURCE:ID, e.g. zendesk:4711")
        ticket = trail.ticket_of(args.ticket, account_name(args.account))
        found, what = trail.by_ticket(dynamodb, table, ticket), f"ticket {args.ticket}"
    elif args.event:
        event_keys = trail.event_keys(args.event, account_name(args.account))
        found = trail.by_keys(dynamodb, table, event_keys)
        what = f"event {args.event}"
    else:
        keys = trail.read_hash_keys(_aws("secretsmanager", args.endpoint_url))
        found = trail.by_mask(dynamodb, table, trail.mask_lookup(args.mask, keys))
        what = "masking " + redact_number(args.mask)
    if not found:
        raise OperationFailed(f"no trail kept for {what} in {table}")
    found.sort(key=lambda kept: str(kept.steps[0].get("at", "")) if kept.steps else "")
    if args.json:
        _out(json.dumps(trail.timeline_json(found)))
    else:
        trail.print_timeline(found, _out, what=what)
    return EXIT_OK


def cmd_dlq_list(args: argparse.Namespace) -> int:
    """Show parked messages and why they were parked.

    Show the messages parked in the dead-letter queue with their reason (ErrorCode, ErrorMessage),
    the message they came from and its receive count. Numbers in bodies are redacted. Messages are
    held for 30 s while listing and released at once after.

    examples:
      masking-unset dlq list --max 20
      masking-unset dlq list --json
    """
    from masking_unset_tools.ops.dlq import list_dead_letters, print_listing

    if args.max < 1:
        raise UsageError("--max must be at least 1")
    url = _queue_url(args.dlq_url, "DEAD_LETTER_QUEUE_URL", "--dlq-url")
    table = _trail_table(args, required=False)
    key_of = _trail_key_reader() if table else None
    listing = list_dead_letters(_sqs(), url, max_messages=args.max, key_of=key_of)
    kept = _parked_trails(listing.messages, table)
    if args.json:
        for message in listing.messages:
            shown: dict[str, Any] = dict(message.to_dict())
            if kept is not None:
                found = kept.get(message.message_id)
                shown["trail"] = found.steps if found else []
            _out(json.dumps(shown))
    else:
        from masking_unset_tools.ops.trail import brief

        trails = None
        if kept is not None:
            trails = {message_id: brief(found) for message_id, found in kept.items()}
        print_listing(listing, _out, trails)
    return EXIT_OK


def _parked_trails(messages: Sequence[Any], table: str | None) -> dict[str, Any] | None:
    """Each parked message's trail (message id -> EventTrail), when a trail table is named."""
    if table is None:
        return None
    from masking_unset_tools.ops.trail import by_keys

    dynamodb = _aws("dynamodb")
    kept = {}
    for message in messages:
        if message.trail_key:
            found = by_keys(dynamodb, table, [message.trail_key])
            if found:
                kept[message.message_id] = found[0]
    return kept


def cmd_redrive(args: argparse.Namespace) -> int:
    """Move dead-lettered messages back to the main queue.

    Start SQS's own message move task from the dead-letter queue to the main queue (QUEUE_URL) and,
    by default, wait for it, showing progress.

    examples:
      masking-unset redrive
      masking-unset redrive --max-per-second 5 --no-wait

    Exits 1 when the task fails, is cancelled or is still running at --timeout.
    """
    from masking_unset_tools.ops.dlq import list_dead_letters, redrive

    dlq_url = _queue_url(args.dlq_url, "DEAD_LETTER_QUEUE_URL", "--dlq-url")
    queue_url = _queue_url(args.queue_url, "QUEUE_URL", "--queue-url")
    if args.poll_seconds <= 0 or args.timeout <= 0:
        raise UsageError("--poll-seconds and --timeout must be positive")
    if args.max_per_second is not None and not 1 <= args.max_per_second <= 500:
        raise UsageError("--max-per-second must lie in 1..500 (SQS's limit)")
    sqs = _sqs()
    table = _trail_table(args, required=False)
    keys: list[str] = []
    if table is not None:
        # The events the move takes, as listed before it starts (what arrives later is not).
        listed = list_dead_letters(
            sqs, dlq_url, max_messages=REDRIVE_TRAIL_MAX, key_of=_trail_key_reader()
        )
        keys = [message.trail_key for message in listed.messages if message.trail_key]
    redrive(
        sqs,
        dlq_url,
        queue_url,
        _out,
        wait=args.wait,
        max_per_second=args.max_per_second,
        poll_seconds=args.poll_seconds,
        timeout_seconds=args.timeout,
    )
    if table is not None:
        from masking_unset_tools.ops.trail import record_redriven

        note = "moved back to the main queue" if args.wait else "move to the main queue started"
        if written := record_redriven(_aws("dynamodb"), table, keys, note):
            _out(f"trail: redriven noted for {written} event(s)")
    return EXIT_OK


def _dynamodb() -> DynamoDBClient:
    from masking_unset.clients.aws import aws_client, aws_client_config, aws_session

    client: DynamoDBClient = aws_client(aws_session(), "dynamodb", aws_client_config())
    return client


def cmd_mapping_put(args: argparse.Namespace) -> int:
    """Record which masking a ticket has.

    Write the ticket -> masking item a close without numbers is resolved with, under the key the
    source looks up (<source>#<ticket id>), replacing any earlier item of the ticket. Numbers are
    checked as the functions check them (PHONE_DEFAULT_REGION for local ones) and stored with
    their country code; the output shows their last four digits only.

    examples:
      masking-unset mapping put --source hubspot --ticket 3141592 --mask '+91 80 4000 3141'
      masking-unset mapping put --source zendesk --ticket 5160 \\
        --m1 '+91 98765 15160' --m2 '+91 91234 15160' --expires-in 30

    The table is --table or MASKING_MAP_TABLE. A bad source, number or date exits 2.
    """
    from masking_unset_tools.ops.mapping import (
        MappingItem,
        checked_numbers,
        expiry,
        key_for,
        phone_region,
        put_mapping,
        table_name,
        ticket_notes,
    )

    key = key_for(args.source, args.ticket, args.account)
    numbers = checked_numbers(mask=args.mask, m1=args.m1, m2=args.m2, region=phone_region())
    expires_at = expiry(days=args.expires_in, at=args.expires_at)
    table = table_name(args.table)
    for note in ticket_notes(key.split("#", 1)[0].split("@", 1)[0], args.ticket):
        _err(note)
    previous = put_mapping(_dynamodb(), table, key, numbers, expires_at)
    _out(f"wrote {MappingItem(key, numbers, expires_at).describe()}")
    if previous is not None:
        _out(f"  replaced {previous.describe()}")
    return EXIT_OK


def cmd_mapping_get(args: argparse.Namespace) -> int:
    """Show the masking recorded for a ticket.

    Show the ticket -> masking item under the key the source looks up, its numbers cut to their
    last four digits, its expires_at, and any number the functions could not use.

    examples:
      masking-unset mapping get --source hubspot --ticket 3141592
      masking-unset mapping get --source zendesk --ticket 5160 --json

    No item for the ticket exits 1.
    """
    from masking_unset_tools.ops.mapping import (
        get_mapping,
        key_for,
        phone_region,
        print_item,
        table_name,
    )

    key = key_for(args.source, args.ticket, args.account)
    region = phone_region()
    item = get_mapping(_dynamodb(), table_name(args.table), key, region=region)
    if args.json:
        _out(json.dumps(item.to_dict()))
    else:
        print_item(item, _out)
    return EXIT_OK


def cmd_mapping_delete(args: argparse.Namespace) -> int:
    """Remove the masking recorded for a ticket.

    Delete the ticket -> masking item under the key the source looks up. A close of the ticket
    that names no number is then answered unresolved_target.

    examples:
      masking-unset mapping delete --source hubspot --ticket 3141592

    No item for the ticket exits 1.
    """
    from masking_unset_tools.ops.mapping import delete_mapping, key_for, table_name

    key = key_for(args.source, args.ticket, args.account)
    delete_mapping(_dynamodb(), table_name(args.table), key)
    _out(f"deleted {key}")
    return EXIT_OK


def cmd_backfill(args: argparse.Namespace) -> int:
    """Queue the closes of a file of tickets closed before the product was installed.

    Check every row of FILE (CSV with a header row, or JSON Lines: ticket_id, mask or m1/m2 - or
    none, for a ticket in MASKING_MAP_TABLE - and optionally source, account, expire_at,
    expire_after_minutes, occurred_at, event_id) as the functions check a queue message, and
    send the valid ones to QUEUE_URL in batches of ten: the queue function expires each masking
    under its rate limit, circuit breaker, idempotency and trail. docs/backfill.md.

    examples:
      masking-unset backfill closed.csv --dry-run
      masking-unset backfill closed.csv --source zendesk --rate 20

    Each row's event id is the same on every run (its event_id, else one made of its source,
    ticket_id and account): a second run expires nothing twice. The checkpoint, beside FILE
    unless --checkpoint says, lets a stopped run resume; a file changed since is refused.
    Invalid rows, or a send SQS did not take, exit 1; a bad file or option, or no QUEUE_URL,
    exit 2.
    """
    from masking_unset_tools.ops.backfill import (
        BackfillOptions,
        interrupted_summary,
        queue_url,
        rate_option,
        run_backfill,
        sqs_client,
        stderr_progress,
    )
    from masking_unset_tools.ops.backfill_rows import (
        RowChecker,
        check_settings,
        file_format,
        source_option,
    )

    path = Path(args.file)
    options = BackfillOptions(
        path=path,
        fmt=file_format(path, args.format),
        source=source_option(args.source),
        queue_url=None if args.dry_run else queue_url(args.queue_url),
        dry_run=args.dry_run,
        rate=0.0 if args.rate is None else rate_option(args.rate),
        checkpoint=Path(args.checkpoint) if args.checkpoint else None,
    )
    checker = RowChecker(check_settings(), options.source)
    sqs = None if args.dry_run else sqs_client()
    with interrupted_summary(_out):
        summary = run_backfill(
            options, checker, sqs=sqs, progress=stderr_progress(dry_run=args.dry_run)
        )
    for line in summary.lines(options.queue_url):
        _out(line)
    if not summary.succeeded:
        raise OperationFailed(summary.failure())
    return EXIT_OK


def cmd_openapi(args: argparse.Namespace) -> int:
    """Write or check docs/openapi.json.

    Generate the webhook API's OpenAPI 3.1 document from the pydantic models.

    examples:
      masking-unset openapi
      masking-unset openapi --check

    --check exits 1 when the file differs from what the models generate.
    """
    from masking_unset_tools.ops.openapi import build_document, render, write_or_check

    if args.output == "-":
        sys.stdout.write(render(build_document()))
        return EXIT_OK
    write_or_check(Path(args.output), check=args.check, out=_out)
    return EXIT_OK


# --- parser -------------------------------------------------------------------------------------


def _command(
    commands: Any, name: str, func: Callable[[argparse.Namespace], int], *parents: Any
) -> argparse.ArgumentParser:
    """A subcommand documented by ``func``'s docstring: the first line is its one-line help, the
    next paragraph its description, the rest (examples, notes) comes before the exit codes."""
    summary, description, *notes = inspect.cleandoc(func.__doc__ or "").split("\n\n")
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=summary[0].lower() + summary[1:].rstrip("."),
        description=textwrap.fill(" ".join(description.split()), 90),
        epilog="".join(f"{note}\n\n" for note in notes) + EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=parents,
    )
    parser.set_defaults(func=func)
    return parser


def _option(*flags: str, **settings: Any) -> argparse.ArgumentParser:
    """A parent parser holding one option that several commands share."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(*flags, **settings)
    return parent


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    from masking_unset.sources import SOURCES

    verbose = _option("--verbose", action="store_true", help="show the functions' own logs")
    live = _option("--live", action="store_true", help="use the configuration in the environment")
    dlq_url = _option("--dlq-url", help="dead-letter queue URL (default: $DEAD_LETTER_QUEUE_URL)")
    parser = argparse.ArgumentParser(
        prog="masking-unset",
        description="Expire DeepCall maskings when support tickets close: operational tools.",
        epilog=EXIT_CODES + "\n" + ENVIRONMENT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = _command(commands, "demo", cmd_demo, verbose)
    demo.add_argument("--events", default=str(_default_events_dir()), help="events folder")

    resign = _command(commands, "resign", cmd_resign)
    resign.add_argument("event", help="an events/*.json webhook event")
    resign.add_argument(
        "--secret-file",
        help="the source's secret, bare or as the WEBHOOK_SECRETS_ID JSON (default: demo secret)",
    )

    invoke = _command(commands, "invoke", cmd_invoke, live, verbose)
    invoke.add_argument("event", metavar="EVENT.json", help="API Gateway or SQS event file")
    invoke.add_argument(
        "--function",
        choices=["webhook", "queue"],
        help="which handler (default: guessed from the event's shape)",
    )
    invoke.add_argument(
        "--no-resign",
        dest="resign",
        action="store_false",
        help="keep the event's own signature (stale 5 minutes after it was made)",
    )

    serve = _command(commands, "serve", cmd_serve, live, verbose)
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8080, help="port (default 8080; 0 = any free)")
    serve.add_argument(
        "--public-url",
        help="PUBLIC_BASE_URL for the function: the URL senders call, e.g. a tunnel's "
        "(default on the stand-ins: this server's URL)",
    )

    sign = _command(commands, "sign", cmd_sign)
    sign.add_argument(
        "--source",
        required=True,
        type=str.lower,  # as the route: /webhooks/Zendesk is /webhooks/zendesk
        choices=sorted(SOURCES),
        help="the webhook source",
    )
    secret = sign.add_mutually_exclusive_group(required=True)
    secret.add_argument("--secret-file", help="file holding the source's signing secret")
    secret.add_argument(
        "--demo-secret", action="store_true", help="use the local stand-ins' demo secret"
    )
    sign.add_argument("body", metavar="BODY_FILE", help="the exact body to send")
    sign.add_argument("--url", help="where it is sent (default http://127.0.0.1:8080/webhooks/S)")

    expire = _command(commands, "expire", cmd_expire, verbose)
    expire.add_argument("--mask", help="the masking number")
    expire.add_argument("--m1", help="one of the two masked numbers")
    expire.add_argument("--m2", help="the other masked number")
    expire.add_argument("--ticket-id", help="ticket id, for the logs and idempotency record")
    expire.add_argument(
        "--account", help="a named DeepCall account of DEEPCALL_ACCOUNTS (default: default)"
    )
    expire.add_argument("--event-id", help="event id (default: a fresh cli-<uuid>)")
    expire.add_argument("--dry-run", action="store_true", help="send nothing, show what would go")

    dlq = commands.add_parser(
        "dlq",
        help="inspect the dead-letter queue",
        description="Inspect the dead-letter queue (DEAD_LETTER_QUEUE_URL).",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    dlq_commands = dlq.add_subparsers(dest="dlq_command", required=True, metavar="COMMAND")
    dlq_list = _command(dlq_commands, "list", cmd_dlq_list, dlq_url)
    dlq_list.add_argument("--max", type=int, default=50, help="at most this many (default 50)")
    dlq_list.add_argument("--json", action="store_true", help="one JSON object per line")
    dlq_list.add_argument("--table", help="trail table (default: $TRAIL_TABLE; none: no trails)")

    trail = _command(commands, "trail", cmd_trail)
    which = trail.add_mutually_exclusive_group(required=True)
    which.add_argument("--ticket", metavar="SOURCE:ID", help="every event of a ticket")
    which.add_argument("--event", metavar="ID", help="one event, by its id (or SOURCE:ID)")
    which.add_argument("--mask", metavar="NUMBER", help="every event of a masking number")
    trail.add_argument(
        "--account", help="a named DeepCall account's ticket or event (DEEPCALL_ACCOUNTS)"
    )
    trail.add_argument("--json", action="store_true", help="one JSON document")
    trail.add_argument("--table", help="trail table (default: $TRAIL_TABLE)")
    trail.add_argument("--stack", help="a deployed stack: its TrailTableName output")
    trail.add_argument("--endpoint-url", help="an AWS endpoint, e.g. the local moto server's")

    redrive = _command(commands, "redrive", cmd_redrive, dlq_url)
    redrive.add_argument(
        "--wait",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="wait until the task ends (default: wait)",
    )
    redrive.add_argument(
        "--max-per-second", type=int, help="move rate limit (protects DeepCall's rate limit)"
    )
    redrive.add_argument("--poll-seconds", type=float, default=5.0, help="poll interval (5)")
    redrive.add_argument("--timeout", type=float, default=900.0, help="stop waiting after (900)")
    redrive.add_argument("--queue-url", help="main queue URL (default: $QUEUE_URL)")
    redrive.add_argument(
        "--table", help="trail table to note each moved event in (default: $TRAIL_TABLE)"
    )

    mapping = commands.add_parser(
        "mapping",
        help="write, show and remove ticket -> masking items",
        description="The ticket -> masking table (MASKING_MAP_TABLE) a close without numbers "
        "is resolved with: docs/mapping.md.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mapping_commands = mapping.add_subparsers(
        dest="mapping_command", required=True, metavar="COMMAND"
    )
    ticket = argparse.ArgumentParser(add_help=False)
    ticket.add_argument(
        "--source",
        required=True,
        help="the source whose events name the ticket: a webhook source, or queue",
    )
    ticket.add_argument("--ticket", required=True, help="the ticket id, as the source sends it")
    ticket.add_argument(
        "--account", help="a named DeepCall account's ticket (DEEPCALL_ACCOUNTS; default: default)"
    )
    ticket.add_argument("--table", help="the table (default: $MASKING_MAP_TABLE)")
    mapping_put = _command(mapping_commands, "put", cmd_mapping_put, ticket)
    mapping_put.add_argument("--mask", help="the masking number")
    mapping_put.add_argument("--m1", help="one of the two masked numbers")
    mapping_put.add_argument("--m2", help="the other masked number")
    expires = mapping_put.add_mutually_exclusive_group()
    expires.add_argument(
        "--expires-in", type=int, metavar="DAYS", help="let DynamoDB delete the item after DAYS"
    )
    expires.add_argument(
        "--expires-at",
        metavar="WHEN",
        help="... at WHEN: unix seconds or an ISO-8601 date or time (UTC unless it says)",
    )
    mapping_get = _command(mapping_commands, "get", cmd_mapping_get, ticket)
    mapping_get.add_argument("--json", action="store_true", help="one JSON object")
    _command(mapping_commands, "delete", cmd_mapping_delete, ticket)

    backfill = _command(commands, "backfill", cmd_backfill)
    backfill.add_argument(
        "file", metavar="FILE", help="the closed tickets: .csv, .jsonl or .ndjson"
    )
    backfill.add_argument(
        "--format", choices=["csv", "jsonl"], help="the file's format (default: from its name)"
    )
    backfill.add_argument(
        "--source",
        default="queue",
        help="the source of rows that name none: the mapping key of a ticket without numbers is "
        "<source>#<ticket_id> (default: queue)",
    )
    backfill.add_argument("--queue-url", help="the queue (default: $QUEUE_URL)")
    backfill.add_argument(
        "--dry-run", action="store_true", help="check and count the rows; send nothing, no AWS"
    )
    backfill.add_argument("--rate", metavar="N", help="send at most N messages per second")
    backfill.add_argument(
        "--checkpoint",
        metavar="PATH",
        help="the progress file (default: FILE.backfill-checkpoint.json)",
    )

    openapi = _command(commands, "openapi", cmd_openapi)
    openapi.add_argument("--check", action="store_true", help="fail if the file is out of date")
    openapi.add_argument(
        "--output", default="docs/openapi.json", help="file to write or check ('-' = stdout)"
    )

    local = commands.add_parser(
        "local",
        help="see into the local stack of a running serve",
        description="See into the local stack of a running `masking-unset serve`.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    local_commands = local.add_subparsers(dest="local_command", required=True, metavar="COMMAND")
    local_env = _command(local_commands, "env", cmd_local_env)
    local_env.add_argument(
        "--port", type=_port, help="the serve listening on this port (default: the newest)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code instead of raising."""
    from masking_unset.models.errors import ConfigurationError, MaskingUnsetError

    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed by argparse
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        return int(args.func(args))
    except CommandError as exc:
        _err(f"error: {exc.message}")
        return exc.exit_code
    except ConfigurationError as exc:
        _err(f"error: {exc.message}")
        return EXIT_USAGE
    except MaskingUnsetError as exc:
        _err(f"error: {exc.code}: {exc.message}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except Exception as exc:  # noqa: BLE001 - one line, never a stack trace
        from masking_unset.clients.aws import aws_setup_problem

        if (problem := aws_setup_problem(exc)) is not None:  # a usage error, exit 2
            _err(f"error: AWS configuration: {problem}")
            return EXIT_USAGE
        _err(f"error: unexpected failure ({type(exc).__name__})")
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
