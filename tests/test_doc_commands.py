"""Every shell command README.md and docs/ show is in COMMANDS, and does what the document says.

A command is a line of a ``sh``/``bash``/``console`` block (continuation lines and quoted strings
joined; an ``# or: <command>`` comment is a command too), or an inline code span that starts with
a command word and has arguments. Each is either run for real in a subprocess, against the
repository's ``.venv`` and, where the document says "the environment's configuration", the local
stand-ins (moto server and DeepCall stand-in), and must exit as the document says; or it is not
run, with the reason. A command no entry classifies, or an entry no document shows any more,
fails the test.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen
from typing import Literal

import pytest
import requests

from masking_unset_tools.local.stack import DEMO_SOURCE_SECRETS, LocalStack, provision
from tests.support.deepcall import ScriptedDeepCall

# One worker runs every test that runs make or writes under .cache/ (make test runs in parallel).
pytestmark = pytest.mark.xdist_group("repo-files")

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
SHELL_FENCES = {"sh", "bash", "shell", "console"}
COMMAND_WORDS = (
    "make", "masking-unset", "python", "python3", "python3.13", "sam", "aws", "curl", "cfn-lint",
    "checkov", "uv", "jq", "pytest", "docker", "git",
)  # fmt: skip
INLINE = re.compile(r"`([^`]+)`")
FENCE = re.compile(r"^\s*```")


# Extraction.


def _split_comment(line: str) -> tuple[str, str]:
    """``line`` without its trailing shell comment, and the comment's text."""
    quote = ""
    for index, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index].rstrip(), line[index + 1 :].strip()
    return line.rstrip(), ""


def _complete(text: str) -> bool:
    if text.endswith("\\"):
        return False
    try:
        shlex.split(text)
    except ValueError:  # an unclosed quote: the command goes on on the next line
        return False
    return True


def _normal(text: str) -> str:
    return " ".join(text.replace("\\\n", " ").split())


def _fenced(lines: list[str], console: bool) -> Iterator[str]:
    pending: list[str] = []
    for raw in lines:
        line = raw.strip()
        if not pending:
            if console:
                if not line.startswith("$ "):
                    continue  # output
                line = line[2:]
            if not line or line.startswith("#"):
                continue
        command, comment = _split_comment(line)
        pending.append(command)
        if _complete("\n".join(pending)):
            yield "\n".join(pending)
            pending = []
            if comment.startswith("or: "):
                yield comment.removeprefix("or: ")
    assert not pending, f"unfinished command: {pending}"


def _inline(text: str) -> Iterator[str]:
    for span in INLINE.findall(text):
        command = _normal(span)
        words = command.split(" ")
        first = words[0].rsplit("/", 1)[-1] if words[0].startswith(".venv/bin/") else words[0]
        # Tools make installs into .cache/ on demand exist on some machines and not others; they
        # must not change what counts as a command.
        tracked = not command.startswith(".cache/")
        executable = tracked and (ROOT / command).is_file() and os.access(ROOT / command, os.X_OK)
        if (first in COMMAND_WORDS and len(words) > 1) or (len(words) == 1 and executable):
            yield command


def document_commands(path: Path) -> list[str]:
    """The commands ``path`` shows, in order, as written (without comments)."""
    found: list[str] = []
    prose: list[str] = []
    block: list[str] | None = None
    language = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            if block is None:
                block, language = [], line.strip()[3:].strip()
                found += _inline("\n".join(prose))
                prose = []
            else:
                if language in SHELL_FENCES:
                    found += _fenced(block, console=language == "console")
                block = None
            continue
        (prose if block is None else block).append(line)
    found += _inline("\n".join(prose))
    return found


def documented() -> dict[str, tuple[str, list[str]]]:
    """Each command any document shows, whitespace-normalised: the text as written, and the
    documents that show it."""
    where: dict[str, tuple[str, list[str]]] = {}
    for path in DOCUMENTS:
        for command in document_commands(path):
            _, names = where.setdefault(_normal(command), (command, []))
            name = str(path.relative_to(ROOT))
            if name not in names:
                names.append(name)
    return where


def test_extraction_finds_commands_in_blocks_inline_and_in_or_comments(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(
        "Run `make demo` or `make`, not `events/x.json`.\n"
        "```sh\nmake a   # or: b c\nx --y 'one\ntwo' \\\n  --z  # note\n```\n"
        '```json\n{"make": 1}\n```\n'
        "```console\n$ masking-unset dlq list\n2 message(s)\n```\n"
    )
    assert [_normal(command) for command in document_commands(doc)] == [
        "make demo", "make a", "b c", "x --y 'one two' --z", "masking-unset dlq list",
    ]  # fmt: skip


# The table.


@dataclass(frozen=True)
class Run:
    """Run the command for real; it must exit with ``exit`` and print each of ``says``
    (regular expressions, searched in stdout + stderr) and none of ``not_says``."""

    exit: int = 0
    says: tuple[str, ...] = ()
    not_says: tuple[str, ...] = ()
    # "offline": nothing configured; "dry": the DeepCall variables only, no AWS at all;
    # "stack": the environment's configuration is a provisioned local stack (moto + stand-in).
    env: Literal["offline", "dry", "stack"] = "offline"
    in_repo: bool = False  # else in a scratch directory with events/ and input files
    run_as: str | None = None  # the line run instead, when the document's has a placeholder
    after: str | None = None  # a command of the table run first, in the same directory
    unset_calls: int | None = None  # unset requests the DeepCall stand-in must receive
    serve: bool = False  # a server: it must listen, answer, and stop on SIGTERM with ``exit``
    behind_serve: bool = False  # {serve} in run_as is the URL of a running `masking-unset serve`
    then: str = ""  # shell lines run after the document's, to show what it did


@dataclass(frozen=True)
class Recipe:
    """Not run, for the reason given; ``make -n`` must show ``says`` (what it would run)."""

    why: str
    says: str


@dataclass(frozen=True)
class NotRun:
    """Not run, for the reason given."""

    why: str


AWS_ACCOUNT = "needs an AWS account (the document shows it against the deployed account)"
NAMED_ONLY = "names a command in prose, not a line to run"
SAM_STEP = "names the SAM CLI step a make target runs (`sam` itself is not on the PATH)"
TEST_SUITE = "is the test suite this test is part of"
CODE_CHECK = "a check of the code, not of a documented behaviour; `make ci` runs it"
NO_MOVE_TASKS = "this SQS endpoint does not implement message move tasks"
DRY_RUN_LINE = (
    'dry run: would send POST https://v4-api.deepcall.com/api/v2/Masking/unset {"<credentials>": '
    '"from DEEPCALL_SECRET_ID", "mask": "******1234", "expiry_duration": -1}'
)
MAPPING_PUT = (
    ".venv/bin/masking-unset mapping put --source hubspot --ticket 3141592 "
    "--mask '+91 80 4000 3141' --expires-in 90"
)
EXPIRE_EVT_42 = (
    ".venv/bin/masking-unset expire --mask '+91 80 4000 1234' --ticket-id T-42 --event-id evt-42"
)
RESIGN_TO_FRESH = (
    ".venv/bin/masking-unset resign events/webhook-http-api.json --secret-file whsec.txt"
    " > fresh.json"
)
# docs/backfill.md: closed.csv is the example file, cases.csv a Salesforce export (see _prepare).
BACKFILL = ".venv/bin/masking-unset backfill closed.csv --source zendesk"
ZENDESK_EXPORT = (
    'curl -sS -u "$ZENDESK_EMAIL/token:$ZENDESK_API_TOKEN" "https://$ZENDESK_SUBDOMAIN.zendesk.com'
    "/api/v2/incremental/tickets/cursor.json?start_time=1735689600\" | jq -r '.tickets[] | select("
    '.status == "solved" or .status == "closed") | [.id, ((.custom_fields[] | select(.id == '
    '360011112222) | .value) // "")] | @csv\' >> closed.csv'
)
FRESHDESK_EXPORT = (
    'curl -sS -u "$FRESHDESK_API_KEY:X" -G "https://$FRESHDESK_DOMAIN.freshdesk.com/api/v2/search/'
    "tickets\" --data-urlencode 'query=\"status:4 OR status:5\"' -d page=1 | jq -r '.results[] | "
    '[.id, (.custom_fields.cf_masked_number // "")] | @csv\' >> closed.csv'
)
HUBSPOT_EXPORT = (
    'curl -sS -X POST https://api.hubapi.com/crm/v3/objects/tickets/search -H "Authorization: '
    "Bearer $HUBSPOT_TOKEN\" -H 'Content-Type: application/json' -d '{\"filterGroups\": "
    '[{"filters": [{"propertyName": "hs_pipeline_stage", "operator": "IN", "values": ["4"]}]}], '
    "\"limit\": 100}' | jq -r '.results[] | [.id] | @csv' >> closed.csv"
)
SALESFORCE_EXPORT = (
    'sf data export bulk --query "SELECT Id, Mask__c FROM Case WHERE IsClosed = true" '
    "--output-file cases.csv --result-format csv --wait 10"
)

COMMANDS: dict[str, Run | Recipe | NotRun] = {
    # README.md
    "make demo": Run(
        in_repo=True,
        says=(
            "== webhook-http-api.json +-> +webhook handler",
            # The outage scene's output as the README shows it.
            r"5 events deferred \(not parked\)",
            "webhook answered 202 queued: .*circuit breaker open",
            "one probe sent; DeepCall received nothing while the circuit was open",
            "DeepCall healthy again: probe succeeded, circuit closed",
            r"6 events expired \(5 closes and the webhook's\), each once; dead-letter queue empty",
            "all events behaved as expected",
        ),
        not_says=('"_aws"', "!!"),  # metric lines only with --verbose (docs/operations.md)
    ),
    "make test": Recipe(TEST_SUITE, says=".venv/bin/pytest"),
    "make unit": Recipe(TEST_SUITE, says=".venv/bin/pytest tests/unit"),
    "make integration": Recipe(TEST_SUITE, says=".venv/bin/pytest tests/integration"),
    "make ci": Recipe(TEST_SUITE + " (all of CI)", says=".venv/bin/pytest"),
    ".ci/run": NotRun(TEST_SUITE + " (the CI entry point)"),
    # docs/testing.md
    "SOAK_SCALE=1 .venv/bin/pytest -m soak": NotRun(
        TEST_SUITE + " (its soak tests at full size, about two minutes)"
    ),
    ".venv/bin/pytest -p no:cacheprovider --durations=0 tests/integration/test_soak.py": NotRun(
        TEST_SUITE + " (one of its files)"
    ),
    "make fuzz": Recipe(
        "2,000 examples per entry point, minutes; `make test` runs the same suite with 100",
        says="pytest tests/fuzz",
    ),
    "make lint": Recipe(CODE_CHECK, says=".venv/bin/ruff check ."),
    "make typecheck": Recipe(CODE_CHECK, says=".venv/bin/mypy -p masking_unset"),
    "make format": Recipe("rewrites the working tree", says=".venv/bin/ruff format ."),
    "make dev": Run(in_repo=True),
    "make cfn-lint": Run(in_repo=True),
    "make checkov": Recipe(
        "installs checkov from PyPI into .cache/tools (network); CI runs it",
        says=".cache/tools/checkov/bin/checkov --file template.yaml",
    ),
    "make openapi": Run(in_repo=True),
    "make build": Recipe(
        "installs the SAM CLI and the package's dependencies from PyPI (network, minutes); "
        "CI's `make artifact` builds the package the same way",
        says="sam build --parallel",
    ),
    "make deploy ARGS=--guided": Recipe(
        AWS_ACCOUNT, says=".cache/tools/sam/bin/sam deploy --guided"
    ),
    "make deploy": Recipe(AWS_ACCOUNT, says=".cache/tools/sam/bin/sam deploy"),
    "make build deploy": Recipe(AWS_ACCOUNT, says=".cache/tools/sam/bin/sam deploy"),
    "make artifact": Recipe(
        "installs the SAM CLI (network) and runs `sam build`, minutes; CI runs it",
        says=".ci/artifact_check.py --sam .cache/tools/sam/bin/sam",
    ),
    "make local-invoke FUNCTION=WebhookFunction EVENT=/tmp/signed.json": Recipe(
        "needs Docker (and the package of `make build`)",
        says=".cache/tools/sam/bin/sam local invoke WebhookFunction --event /tmp/signed.json",
    ),
    "make local-invoke FUNCTION=QueueFunction EVENT=events/sqs-batch.json": Recipe(
        "needs Docker (and the package of `make build`)",
        says=".cache/tools/sam/bin/sam local invoke QueueFunction --event events/sqs-batch.json",
    ),
    "make -n local-invoke FUNCTION=WebhookFunction EVENT=/tmp/signed.json": Recipe(
        "it is itself the dry run of a line that needs Docker",
        says="--check-runtime",
    ),
    "make help": Run(in_repo=True, says=(r"^  local-invoke +sam local invoke", r"^  help +list")),
    ".venv/bin/masking-unset invoke EVENT": NotRun(
        "EVENT is a placeholder; the invoke lines of docs/operations.md run"
    ),
    "masking-unset invoke": NotRun(NAMED_ONLY + "; its documented lines run"),
    ".venv/bin/masking-unset invoke": NotRun(NAMED_ONLY + "; its documented lines run"),
    "masking-unset serve": NotRun(NAMED_ONLY + "; its documented lines run"),
    "sam ...": NotRun(SAM_STEP),
    "make local-invoke": Recipe(
        "needs Docker; the README's two uses above", says=".cache/tools/sam/bin/sam local invoke"
    ),
    "make bench": Recipe(
        "takes about 10 minutes; the --quick run is tested", says="benchmarks.run"
    ),
    "make bench QUICK=1": Recipe(
        "its recipe is run as written by tests/integration/test_benchmarks_quick.py",
        says=".venv/bin/python -m benchmarks.run --quick",
    ),
    "make requirements": Recipe(
        "rewrites a tracked file; tests/test_artifact_requirements.py checks it matches uv.lock",
        says="--output-file src/layer/requirements.txt",
    ),
    "make tools-pins": Recipe(
        "re-resolves the tools' pins against PyPI (network)", says="pip compile"
    ),
    "make .cache/tools/sam/.synced": Recipe(
        "installs the SAM CLI from PyPI (network)",
        says="pip sync --quiet --python .cache/tools/sam/bin/python .ci/sam-requirements.txt",
    ),
    "make clean": Recipe(
        "removes .venv/, which this test suite runs from", says="rm -rf .venv .cache"
    ),
    "uv add": NotRun("changes the dependencies: needs a package name and PyPI (network)"),
    "uv lock": NotRun("re-resolves uv.lock against PyPI (network)"),
    "sam build": NotRun(SAM_STEP),
    "sam deploy": NotRun(SAM_STEP),
    "sam local invoke": NotRun(SAM_STEP),
    "sam local invoke --event": NotRun(SAM_STEP),
    "sam local invoke FUNCTION": NotRun(SAM_STEP),
    "python3.13 -m compileall -q --invalidation-mode unchecked-hash .aws-sam/build": NotRun(
        "needs .aws-sam/build from a `sam build` (network); `make build` runs it"
    ),
    "python3.13 -m compileall -q -j 0 --invalidation-mode unchecked-hash .aws-sam/build": NotRun(
        "needs .aws-sam/build from a `sam build` (network); `make build` runs it"
    ),
    "python3.13 -I -S": NotRun("describes how .ci/artifact_check.py starts its interpreter"),
    "aws secretsmanager create-secret --name masking-unset/deepcall --secret-string "
    '\'{"ssid": "<DeepCall session id>"}\'': NotRun(AWS_ACCOUNT),
    "aws secretsmanager create-secret --name masking-unset/webhooks --secret-string "
    '\'{"generic": ["whsec_<base64 key>"]}\'': NotRun(AWS_ACCOUNT),
    ".venv/bin/masking-unset resign events/webhook-http-api.json > /tmp/signed.json": Run(
        run_as=".venv/bin/masking-unset resign events/webhook-http-api.json > signed.json",
    ),  # not /tmp: the tests may run in parallel with others
    # docs/deploying.md
    "aws secretsmanager create-secret --name masking-unset/deepcall --secret-string "
    "file://deepcall.json --query ARN --output text": NotRun(AWS_ACCOUNT),
    "aws secretsmanager create-secret --name masking-unset/webhooks --secret-string "
    "file://webhooks.json --query ARN --output text": NotRun(AWS_ACCOUNT),
    "aws secretsmanager put-secret-value --secret-id ARN --secret-string file://...": NotRun(
        AWS_ACCOUNT
    ),
    "aws lambda delete-function --function-name NAME:VERSION": NotRun(AWS_ACCOUNT),
    "aws secretsmanager create-secret --name masking-unset/deepcall-brand-b --secret-string "
    '\'{"userId": "...", "token": "..."}\'': NotRun(AWS_ACCOUNT),
    "python3.13 .ci/prune_layer.py .aws-sam/build/DependenciesLayer/python": NotRun(
        "needs the layer of a `sam build` (network); `make build` runs it, and"
        " tests/test_package_contents.py runs the pruning on a copy"
    ),
    # docs/mapping.md
    'aws dynamodb put-item --table-name "$MASKING_MAP_TABLE" --item \'{ "pk": {"S": '
    '"hubspot#3141592"}, "mask": {"S": "+91 80 4000 3141"}, "expires_at": {"N": '
    '"1798761600"} }\'': NotRun(AWS_ACCOUNT),
    'aws dynamodb put-item --table-name "$MASKING_MAP_TABLE" --item \'{ "pk": {"S": '
    '"zendesk#5160"}, "m1": {"S": "+91 98765 15160"}, "m2": {"S": "+91 91234 '
    "15160\"} }'": NotRun(AWS_ACCOUNT),
    'aws dynamodb get-item --table-name "$MASKING_MAP_TABLE" --key \'{"pk": {"S": '
    '"hubspot#3141592"}}\'': NotRun(AWS_ACCOUNT),
    # docs/operations.md
    ".venv/bin/masking-unset": Run(exit=2, says=("usage: masking-unset",)),
    ".venv/bin/masking-unset --help": Run(
        says=tuple(
            rf"\n    {name} "
            for name in (
                "invoke",
                "serve",
                "sign",
                "expire",
                "dlq",
                "redrive",
                "mapping",
                "openapi",
            )
        )
    ),
    ".venv/bin/masking-unset invoke events/webhook-http-api.json": Run(
        says=(
            "webhook handler answered HTTP 200",
            '"status": "unset"',
            re.escape(
                'DeepCall stand-in received POST /api/v2/Masking/unset {"ssid": "<secret>", '
                '"mask": "******1234", "expiry_duration": -1}'
            ),
        ),
    ),
    ".venv/bin/masking-unset invoke events/sqs-batch.json": Run(
        says=("queue handler answered", r'"batchItemFailures": \[\]')
    ),
    ".venv/bin/masking-unset invoke events/webhook-http-api.json --no-resign": Run(
        exit=1, says=("answered HTTP 401",)
    ),
    RESIGN_TO_FRESH: Run(),
    ".venv/bin/masking-unset invoke fresh.json --live": Run(
        env="stack", after=RESIGN_TO_FRESH, says=("HTTP 200", '"status": "unset"'), unset_calls=1
    ),
    # Port 0 for the documented 8080 and 9000, which another process may hold.
    ".venv/bin/masking-unset serve": Run(
        serve=True,
        run_as=".venv/bin/masking-unset serve --port 0",
        says=("sources with demo secrets",),
    ),
    ".venv/bin/masking-unset serve --port 9000 --host 0.0.0.0 --public-url "
    "https://abc.tunnel.example": Run(
        serve=True,
        run_as=".venv/bin/masking-unset serve --port 0 --host 0.0.0.0 --public-url "
        "https://abc.tunnel.example",
        says=(r"serving the webhook function on http://0\.0\.0\.0:\d+/webhooks/\{source\}",),
    ),
    ".venv/bin/masking-unset serve --live": Run(
        serve=True,
        env="stack",
        run_as=".venv/bin/masking-unset serve --live --port 0",
        says=(r"configuration: the environment \(live\)",),
    ),
    ".venv/bin/masking-unset sign --source generic --secret-file whsec.txt body.json": Run(
        says=("webhook-signature: v1,", "--data-binary @body.json")
    ),
    ".venv/bin/masking-unset sign --source generic --demo-secret body.json --url "
    "http://127.0.0.1:8080/webhooks/generic": Run(
        says=(
            "webhook-signature: v1,",
            "curl -sS -i -X POST http://127.0.0.1:8080/webhooks/generic",
        )
    ),
    ".venv/bin/masking-unset sign --source hubspot --secret-file client-secret.txt body.json --url "
    "https://hooks.example.com/webhooks/hubspot": Run(
        says=("X-HubSpot-Signature-v3: ", "POST https://hooks.example.com/webhooks/hubspot")
    ),
    ".venv/bin/python -m masking_unset_tools.local.demo_secret <source>": Run(
        run_as=".venv/bin/python -m masking_unset_tools.local.demo_secret freshdesk",
        says=(f"^{re.escape(DEMO_SOURCE_SECRETS['freshdesk'][0])}$",),
    ),
    ".venv/bin/masking-unset expire --mask '+91 80 4000 1234' --dry-run": Run(
        env="dry",
        says=(f"^{re.escape(DRY_RUN_LINE)}$", r"^dry_run: event cli-\S+ mask=\*\*\*1234$"),
    ),
    ".venv/bin/masking-unset expire --mask '+91 80 4000 1234' --ticket-id T-42": Run(
        env="stack", says=("unset",), unset_calls=1
    ),
    ".venv/bin/masking-unset expire --m1 9876543210 --m2 9123456780": Run(
        env="stack", says=("unset",), unset_calls=1
    ),
    "masking-unset expire --mask ...": NotRun("`...` stands for a number; the full lines run"),
    "masking-unset expire --mask ... --dry-run": NotRun(
        "`...` stands for a number; `expire --mask '+91 80 4000 1234' --dry-run` runs"
    ),
    "masking-unset expire --dry-run": NotRun(
        "a short mention of `expire --mask '+91 80 4000 1234' --dry-run`, which runs"
    ),
    # One message parked by hand in the stack's dead-letter queue first (see _prepare).
    ".venv/bin/masking-unset dlq list": Run(
        env="stack", says=("1 message\\(s\\) listed", "no reason recorded"), unset_calls=0
    ),
    ".venv/bin/masking-unset dlq list --max 200 --json | jq -r .error_code | sort | uniq -c": Run(
        env="stack", says=(r"^\s*1 -$",)
    ),
    # docs/operations.md, trail: an operator's expiry first, then its trail three ways.
    EXPIRE_EVT_42: Run(env="stack", says=("unset",), unset_calls=1),
    "masking-unset trail": NotRun(NAMED_ONLY),
    "masking-unset redrive": NotRun(NAMED_ONLY),
    # README.md names it in prose; the lines of docs/operations.md below run.
    "masking-unset trail --ticket zendesk:4711": NotRun(NAMED_ONLY),
    ".venv/bin/masking-unset trail --event evt-42": Run(
        env="stack",
        after=EXPIRE_EVT_42,
        says=(
            r"^trail of event evt-42: 1 event\(s\), 4 step\(s\), oldest first \(UTC\)$",
            r"^\[1\] event cli:id:evt-42  ticket cli:T-42$",
            r"cli +received +trigger=cli source=cli account=default ticket_id=T-42 event_id=evt-42",
            r"cli +outcome +status=unset target=mask=\*\*\*1234",
        ),
        not_says=("4000 1234", "8040001234"),
    ),
    ".venv/bin/masking-unset trail --ticket cli:T-42 --json": Run(
        env="stack", after=EXPIRE_EVT_42, says=('"step": "received"', '"step": "done"')
    ),
    ".venv/bin/masking-unset trail --mask '+91 80 4000 1234'": Run(
        env="stack", after=EXPIRE_EVT_42, says=(r"^trail of masking \*\*\*1234: 1 event\(s\)",)
    ),
    # docs/operations.md says so: moto has no message move tasks.
    ".venv/bin/masking-unset redrive": Run(env="stack", exit=1, says=(NO_MOVE_TASKS,)),
    ".venv/bin/masking-unset redrive --max-per-second 5": Run(
        env="stack", exit=1, says=(NO_MOVE_TASKS,)
    ),
    ".venv/bin/masking-unset redrive --no-wait": Run(env="stack", exit=1, says=(NO_MOVE_TASKS,)),
    # docs/operations.md and docs/mapping.md: the ticket -> masking items, on the local stack.
    MAPPING_PUT: Run(
        env="stack", says=(r"^wrote hubspot#3141592: mask=\*\*\*3141 expires_at=\S+ \(\d+\)$",)
    ),
    ".venv/bin/masking-unset mapping put --source zendesk --ticket 5160 "
    "--m1 '+91 98765 15160' --m2 '+91 91234 15160'": Run(
        env="stack", says=(r"^wrote zendesk#5160: m1=\*\*\*5160 m2=\*\*\*5160$",)
    ),
    ".venv/bin/masking-unset mapping get --source hubspot --ticket 3141592": Run(
        env="stack",
        after=MAPPING_PUT,
        says=(r"^mapping hubspot#3141592$", r"^  mask: +\*\*\*3141$", r"^  expires_at: +\S+Z"),
        not_says=("8040003141", "4000 3141"),
    ),
    ".venv/bin/masking-unset mapping get --source hubspot --ticket 3141592 --json": Run(
        env="stack",
        after=MAPPING_PUT,
        says=(r'^\{"key": "hubspot#3141592", "mask": "\*\*\*3141", "expires_at": \d+',),
        not_says=("8040003141",),
    ),
    ".venv/bin/masking-unset mapping delete --source hubspot --ticket 3141592": Run(
        env="stack",
        after=MAPPING_PUT,
        says=(
            "^deleted hubspot#3141592$",
            "^error: no mapping for key 'hubspot#3141592'",
            "^exit=1$",
        ),
        then=(
            ".venv/bin/masking-unset mapping get --source hubspot --ticket 3141592 || echo exit=$?"
        ),
    ),
    "masking-unset mapping put --source ... --ticket ... --mask ...": NotRun(
        "`...` stands for the parked event's source, ticket and number; the full lines run"
    ),
    'aws lambda get-function-configuration --function-name "$WEBHOOK_FUNCTION" --query '
    "Environment.Variables --output json > env.json": NotRun(AWS_ACCOUNT),
    # With an env.json like the one the line above writes (see _prepare).
    "eval \"$(python3 -c 'import json, shlex, sys for k, v in json.load(open(sys.argv[1]))"
    '.items(): print(f"export {k}={shlex.quote(v)}")\' env.json)"': Run(
        then='echo "QUEUE_URL=$QUEUE_URL"; echo "NOTE=$NOTE"',
        says=("^QUEUE_URL=https://sqs.example/1/q$", "^NOTE=it's here$"),
    ),
    # With a `masking-unset serve` running: its exports reach its own stack.
    'eval "$(.venv/bin/masking-unset local env)"': Run(
        behind_serve=True,
        then='echo "TABLE=$MASKING_MAP_TABLE"; .venv/bin/masking-unset dlq list',
        says=(r"^TABLE=mu-[0-9a-f]{8}-masking-map$", r"^0 message\(s\) listed"),
    ),
    # No serve on port 9000 here (nor any): the documented refusal.
    ".venv/bin/masking-unset local env --port 9000": Run(
        exit=1, says=("no local stack is running on port 9000: start masking-unset serve",)
    ),
    ".venv/bin/masking-unset openapi": Run(),  # writes docs/openapi.json in the scratch directory
    ".venv/bin/masking-unset openapi --check": Run(in_repo=True),
    ".venv/bin/masking-unset openapi --output -": Run(says=('^  "openapi": "3.1',)),
    # docs/backfill.md
    "masking-unset backfill": NotRun(NAMED_ONLY + "; its documented lines run"),
    ".venv/bin/masking-unset backfill FILE": NotRun(
        "FILE is a placeholder; the lines below run on the example file"
    ),
    "echo 'ticket_id,mask' > closed.csv": Run(then="cat closed.csv", says=("^ticket_id,mask$",)),
    "echo 'ticket_id' > closed.csv": Run(then="cat closed.csv", says=("^ticket_id$",)),
    ZENDESK_EXPORT: NotRun("needs a Zendesk account and its API token"),
    FRESHDESK_EXPORT: NotRun("needs a Freshdesk account and its API key"),
    HUBSPOT_EXPORT: NotRun("needs a HubSpot account and its API token"),
    SALESFORCE_EXPORT: NotRun("needs a Salesforce org and the Salesforce CLI"),
    # On a file shaped as the Bulk API export writes it: the renamed file is one the backfill reads.
    "sed '1s/.*/ticket_id,mask/' cases.csv > closed.csv": Run(
        then=".venv/bin/masking-unset backfill closed.csv --source salesforce --dry-run",
        says=(r"^  would queue: 2 \(dry run: nothing sent\)$", r"^  invalid: 0$"),
    ),
    BACKFILL + " --dry-run": Run(
        exit=1,
        says=(
            r"^backfill of closed\.csv: 5 row\(s\)$",
            r"^  would queue: 3 \(dry run: nothing sent\)$",
            r"^  skipped repeats: 1 \(line 6 repeats line 2\)$",
            r"^    line 5: invalid_number: mask \(\*\*\*12\) is not a possible phone number$",
            r"^error: 1 invalid row\(s\), listed above: fix or remove them, then run without",
        ),
        not_says=("92000",),
    ),
    # The stand-ins' stack has no item for the example's mapped ticket: the documented refusal.
    ".venv/bin/masking-unset mapping get --source zendesk --ticket BF-3": Run(
        env="stack", exit=1, says=("^error: no mapping for key 'zendesk#BF-3'",)
    ),
    # Sent, then the same command again: the checkpoint says every row was queued.
    BACKFILL: Run(
        env="stack",
        exit=1,
        says=(
            r"^  queued: 3 to http://",
            r"^error: 1 invalid row\(s\), listed above, not queued; every valid row was$",
            r"^  the checkpoint says every row was queued before \(closed\.csv\.backfill-",
            r"^  queued: 0 to http://",
            r"^  queued by an earlier run \(checkpoint\): 3$",
        ),
        then=BACKFILL,
        unset_calls=0,  # queued: the queue function expires them
    ),
    BACKFILL + " --rate 20": Run(env="stack", exit=1, says=(r"^  queued: 3 to http://",)),
    "masking-unset trail --event <event id>": NotRun(
        "<event id> is a placeholder; the trail lines of docs/operations.md run"
    ),
    # docs/performance.md
    ".venv/bin/python -m benchmarks.run": NotRun("takes 8-10 minutes; the --quick run is tested"),
    ".venv/bin/python -m benchmarks.run --only ghi": NotRun(
        "3-5 minutes of fleet scenarios; the --quick run has the same rows and is tested"
    ),
    ".venv/bin/python -m benchmarks.run --quick": NotRun(
        "run as written by tests/integration/test_benchmarks_quick.py"
    ),
    ".venv/bin/python -m benchmarks.run --only c --no-bytecode": NotRun(
        "takes 2.5 minutes (60 cold starts without bytecode)"
    ),
    "python -m benchmarks.run --only c --no-bytecode": NotRun(
        "takes 2.5 minutes (60 cold starts without bytecode)"
    ),
    ".venv/bin/python -m benchmarks.importtime [--first-event]": NotRun(
        "`[--first-event]` is optional: both forms are the inline entries below"
    ),
    "python -m benchmarks.run --only ef": NotRun(
        "builds the package with sam when none exists (network, minutes); the --quick run,"
        " which has figure f, is tested"
    ),
    "python -m benchmarks.run --only e": NotRun(
        "reads or makes a `sam build` (network, minutes); `make artifact` checks the package"
    ),
    ".venv/bin/python -m benchmarks.run --only c": NotRun(
        "about 2.5 minutes of timed cold starts; the --quick run has the same rows and is tested"
    ),
    ".venv/bin/python -m benchmarks.importtime --first-event": Run(
        in_repo=True,
        # One run is enough here.
        run_as=".venv/bin/python -m benchmarks.importtime --first-event --runs 1",
        says=("first event, imported beyond the floor",),
    ),
    # docs/sources/
    "masking-unset sign": NotRun(NAMED_ONLY + "; its documented lines run"),
    "masking-unset resign": NotRun(NAMED_ONLY + "; its documented lines run"),
    ".venv/bin/masking-unset resign <event file>": NotRun(
        "placeholder; the README's `resign events/webhook-http-api.json` line runs"
    ),
    ".venv/bin/masking-unset demo": NotRun(
        "what `make demo` runs after `make dev` (tests/test_make_targets.py); `make demo` runs"
    ),
    ".venv/bin/masking-unset demo --events that-folder": Run(
        says=("== my-event.json +-> +webhook handler", "all events behaved as expected")
    ),  # that-folder is made as zendesk.md says (see _prepare)
    'python3 -c "import secrets; print(secrets.token_urlsafe(32))"': Run(
        says=(r"^[A-Za-z0-9_-]{43}$",)
    ),
    "python3 -c \"import base64, secrets; print('whsec_' + "
    'base64.b64encode(secrets.token_bytes(32)).decode())"': Run(
        says=(r"^whsec_[A-Za-z0-9+/]{43}=$",)  # 32 bytes; the README asks for at least 24
    ),
    "aws secretsmanager put-secret-value --secret-id masking-unset/webhooks --secret-string "
    '\'{"freshdesk": ["<token>"], "generic": ["whsec_..."]}\'': NotRun(AWS_ACCOUNT),
    "aws secretsmanager put-secret-value --secret-id masking-unset/webhooks --secret-string "
    '\'{"generic": ["whsec_..."]}\'': NotRun(AWS_ACCOUNT),
    "aws secretsmanager put-secret-value --secret-id masking-unset/webhooks --secret-string "
    '\'{"hubspot": ["<client secret>"], "generic": ["whsec_..."]}\'': NotRun(AWS_ACCOUNT),
    "aws secretsmanager put-secret-value --secret-id masking-unset/webhooks --secret-string "
    '\'{"salesforce": ["<token>"], "generic": ["whsec_..."]}\'': NotRun(AWS_ACCOUNT),
    "aws secretsmanager put-secret-value --secret-id masking-unset/webhooks --secret-string "
    '\'{"zendesk": ["<signing secret>"], "generic": ["whsec_..."]}\'': NotRun(AWS_ACCOUNT),
    # The deployed API stands in as a local `serve`; TOKEN is its freshdesk demo token.
    "curl -sS https://<your API>/webhooks/freshdesk -H 'Content-Type: application/json' -H "
    '"X-Webhook-Token: $TOKEN" -d \'{"freshdesk_webhook": {"ticket_id": "11", '
    '"ticket_status": "Resolved", "mask": "<a test masked number>"}}\'': Run(
        behind_serve=True,
        run_as="curl -sS {serve}/webhooks/freshdesk -H 'Content-Type: application/json' -H "
        '"X-Webhook-Token: $TOKEN" -d \'{"freshdesk_webhook": {"ticket_id": "11", '
        '"ticket_status": "Resolved", "mask": "+91 80 4000 1111"}}\'',
        says=('"status": ?"unset"',),
    ),
    'curl -sS -H "Authorization: Bearer $HUBSPOT_TOKEN" https://api.hubapi.com/crm/v3/pipelines/'
    "tickets | jq '.results[] | {pipeline: .label, stages: [.stages[] | {id, label}]}'": NotRun(
        "needs a HubSpot account and its API token"
    ),
}


# The checks.

DOCUMENTED = documented()
HANG_GUARD = 300  # seconds; a stuck command fails instead of blocking the suite


def test_every_command_the_documents_show_is_in_the_table() -> None:
    missing = {
        command: docs for command, (_, docs) in DOCUMENTED.items() if command not in COMMANDS
    }
    assert not missing, f"classify these in COMMANDS (run, or why not): {missing}"


def test_every_table_entry_is_still_in_a_document() -> None:
    stale = [command for command in COMMANDS if command not in DOCUMENTED]
    assert not stale, f"no document shows these any more; remove them from COMMANDS: {stale}"


def test_the_lines_run_name_the_tooling_by_its_path_after_make_dev() -> None:
    # `make dev` puts nothing on the PATH: a bare `masking-unset` or `python -m` of the tooling
    # would not run as written.
    for command, entry in COMMANDS.items():
        if isinstance(entry, Run):
            line = entry.run_as or command
            assert not line.startswith(("masking-unset", "python -m")), command


def test_the_table_runs_most_of_what_can_run_here() -> None:
    kinds = [type(entry) for entry in COMMANDS.values()]
    assert kinds.count(Run) >= 35
    assert all(entry.why for entry in COMMANDS.values() if not isinstance(entry, Run))


def _environment(kind: str, home: Path, stack: LocalStack | None) -> dict[str, str]:
    """A clean environment: nothing of the caller's AWS or function settings leaks in."""
    env = {name: os.environ[name] for name in ("LANG", "LC_ALL", "TMPDIR") if name in os.environ}
    # Not the virtual environment's bin/: after `make dev` it is not on the PATH either, so the
    # documents run .venv/bin/masking-unset and .venv/bin/python as written.
    path = [part for part in os.environ.get("PATH", os.defpath).split(os.pathsep)]
    env.update(
        PATH=os.pathsep.join(part for part in path if Path(part).resolve() != BIN.resolve()),
        HOME=str(home),
        PYTHONUNBUFFERED="1",
    )
    if kind == "dry":
        env.update(
            DEEPCALL_BASE_URL="https://v4-api.deepcall.com",
            DEEPCALL_SECRET_ID="masking-unset/deepcall",
        )
    if stack is not None:
        env.update(stack.env())
        # moto answers 500 to the message move task it lacks; one attempt, not 7 s of retries.
        env["AWS_MAX_ATTEMPTS"] = "1"
    return env


def _prepare(work: Path, stack: LocalStack | None) -> None:
    """The files the documents' commands name, and a parked message to list."""
    (work / "events").symlink_to(ROOT / "events")
    (work / ".venv").symlink_to(BIN.parent)  # the documents run .venv/bin/... from the root
    body = {"event_id": "evt-123", "ticket_id": "T-42", "mask": "+91 80 4000 1234"}
    (work / "body.json").write_text(json.dumps(body))
    (work / "whsec.txt").write_text(DEMO_SOURCE_SECRETS["generic"][0])
    (work / "client-secret.txt").write_text(DEMO_SOURCE_SECRETS["hubspot"][0])
    shutil.copy(ROOT / "events" / "backfill.csv", work / "closed.csv")  # docs/backfill.md
    (work / "cases.csv").write_text(  # as Salesforce's Bulk API export writes it
        '"Id","Mask__c"\n"5005g00000AbCdEAAV","+91 80 4000 5001"\n"5005g00000AbCdFAAV",""\n'
    )
    (work / "env.json").write_text(
        json.dumps({"QUEUE_URL": "https://sqs.example/1/q", "NOTE": "it's here"})
    )
    # docs/sources/zendesk.md: "copy one of them into a folder of your own ... add an entry".
    folder = work / "that-folder"
    folder.mkdir()
    shutil.copy(ROOT / "events" / "zendesk-trigger-solved.json", folder / "my-event.json")
    entry = {"function": "webhook", "sign": "zendesk", "expect": {"statusCode": 200}}
    (folder / "manifest.json").write_text(json.dumps({"my-event.json": entry}))
    if stack is not None:
        stack.aws.client("sqs").send_message(
            QueueUrl=stack.dead_letter_queue_url,
            MessageBody=json.dumps({"event_id": "evt-9", "mask": "+91 80 4000 1234"}),
        )


def _shell(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - commands from the repository's own documents
        ["bash", "-o", "pipefail", "-c", script],  # noqa: S607
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
        check=False,
    )


@contextmanager
def _serving(command: str, cwd: Path, env: dict[str, str]) -> Iterator[tuple[Popen[str], str, str]]:
    """A ``masking-unset serve`` line running, the base URL and the first line it printed."""
    process = subprocess.Popen(  # noqa: S603
        ["bash", "-c", f"exec {command}"],  # noqa: S607
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # blocks until the server listens
        found = re.match(r"serving the webhook function on (http://\S+):(\d+)/webhooks/", first)
        assert found, f"{command!r} did not start: {first!r}"
        yield process, f"http://127.0.0.1:{found.group(2)}", first
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=HANG_GUARD)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _assert_says(entry: Run, command: str, output: str) -> None:
    assert "Traceback" not in output, f"{command!r}:\n{output[-3000:]}"
    for pattern in entry.says:
        assert re.search(pattern, output, re.M), (
            f"{command!r}: no {pattern!r} in:\n{output[-3000:]}"
        )
    for text in entry.not_says:
        assert text not in output, f"{command!r}: {text!r} in:\n{output[-3000:]}"


RUNS = [command for command, entry in COMMANDS.items() if isinstance(entry, Run)]
RECIPES = [command for command, entry in COMMANDS.items() if isinstance(entry, Recipe)]


def _ids(commands: list[str]) -> list[str]:
    return [command if len(command) <= 80 else command[:77] + "..." for command in commands]


@pytest.mark.parametrize("command", RUNS, ids=_ids(RUNS))
def test_the_command_exits_as_the_document_says(
    command: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    entry = COMMANDS[command]
    assert isinstance(entry, Run)
    stack: LocalStack | None = None
    deepcall: ScriptedDeepCall | None = None
    if entry.env == "stack":
        deepcall = request.getfixturevalue("deepcall")
        stack = provision(request.getfixturevalue("aws"), deepcall)
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    home.mkdir()
    _prepare(work, stack)
    env = _environment(entry.env, home, stack)
    cwd = ROOT if entry.in_repo or command.startswith("make ") else work
    if entry.after is not None:
        first = _shell(DOCUMENTED[entry.after][0], cwd, env)
        assert first.returncode == 0, first.stderr
    script = entry.run_as or DOCUMENTED[command][0]
    if entry.serve:
        with _serving(script, cwd, env) as (process, base, first):
            answer = requests.post(f"{base}/webhooks/generic", json={"event_id": "e"}, timeout=30)
            assert answer.status_code == 401  # it serves the function: unsigned is refused
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=HANG_GUARD)
            # Not communicate(): readline() above holds the rest of stdout in its buffer.
            assert process.stdout is not None
            assert process.stderr is not None
            output = first + process.stdout.read() + process.stderr.read()
    elif entry.behind_serve:
        env_serve = _environment("offline", home, None)
        with _serving(".venv/bin/masking-unset serve --port 0", work, env_serve) as (_, base, _):
            env["TOKEN"] = DEMO_SOURCE_SECRETS["freshdesk"][0]
            done = _shell(f"{script.replace('{serve}', base)}\n{entry.then}", cwd, env)
        code, output = done.returncode, done.stdout + done.stderr
    else:
        done = _shell(f"{script}\n{entry.then}", cwd, env)
        code, output = done.returncode, done.stdout + done.stderr
    assert code == entry.exit, f"{command!r} exited {code}, not {entry.exit}:\n{output[-3000:]}"
    _assert_says(entry, command, output)
    if entry.unset_calls is not None:
        assert deepcall is not None
        assert len(deepcall.unset_calls) == entry.unset_calls
    if command == ".venv/bin/masking-unset openapi":
        written = (work / "docs" / "openapi.json").read_text(encoding="utf-8")
        assert written == (ROOT / "docs" / "openapi.json").read_text(encoding="utf-8")
    if command.endswith("> signed.json") or command.endswith("> fresh.json"):
        assert "webhook-signature" in (work / script.rsplit("> ", 1)[1]).read_text().lower()


@pytest.mark.parametrize("command", RECIPES, ids=_ids(RECIPES))
def test_the_make_line_not_run_resolves_to_its_recipe(command: str) -> None:
    entry = COMMANDS[command]
    assert isinstance(entry, Recipe)
    make = shutil.which("make")
    assert make is not None
    done = subprocess.run(  # noqa: S603
        # --always-make: a file target already built here (.cache/tools/...) still shows its recipe.
        [make, "-n", "--always-make", "--no-print-directory", *shlex.split(command)[1:]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert entry.says in done.stdout, f"{command!r}: {entry.says!r} not in:\n{done.stdout}"
