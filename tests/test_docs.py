"""Documents that cannot drift: each table a document shows is checked against its one source of
truth (``config.Settings``, ``template.yaml``, the code), so a test fails when they disagree."""

from __future__ import annotations

import ast
import json
import re
import shlex
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode.decode import decode_str

from masking_unset.config import Settings
from masking_unset.models.errors import MaskingUnsetError
from masking_unset.models.events import Outcome

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DEPLOYING = ROOT / "docs" / "deploying.md"

# Variables the README documents that are no Setting: boto3 reads it itself.
STANDARD_VARIABLES = {"AWS_ENDPOINT_URL"}
NAME = re.compile(r"`([A-Za-z][A-Za-z0-9_]*)`")


def template() -> dict[str, Any]:
    """template.yaml, short-form intrinsics read by cfn-lint's own loader."""
    parsed, matches = decode_str((ROOT / "template.yaml").read_text())
    assert parsed is not None, matches
    return dict(parsed)


def section(path: Path, heading: str) -> str:
    """The text under a markdown heading, up to the next heading of the same or a higher level."""
    text = path.read_text()
    level = heading.split(" ", 1)[0]
    start = text.index(heading + "\n")
    end = re.compile(rf"^#{{1,{len(level)}}} ", re.M).search(text, start + len(heading))
    return text[start : end.start() if end else len(text)]


def table(text: str, header: str) -> list[list[str]]:
    """The rows (cells stripped) of the markdown table whose header line starts with ``header``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def readme_variables() -> set[str]:
    rows = table(section(README, "## Configuration"), "| variable |")
    return {name for row in rows for name in NAME.findall(row[0])}


def setting_variables() -> set[str]:
    return {field.alias for field in Settings.model_fields.values() if field.alias}


def template_variables() -> set[str]:
    doc = template()
    names = set(doc["Globals"]["Function"]["Environment"]["Variables"])
    for resource in doc["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            env = resource["Properties"].get("Environment", {}).get("Variables", {})
            names |= set(env)
    return names


def not_template_parameters() -> set[str]:
    """The settings the README names as deliberately not template parameters."""
    text = section(README, "## Configuration")
    paragraph = text[text.index("Not template parameters") :].split("\n\n", 1)[0]
    return set(NAME.findall(paragraph))


def test_readme_configuration_table_is_every_setting_and_template_variable() -> None:
    documented = readme_variables()
    assert setting_variables() - documented == set(), "settings missing from the README"
    assert template_variables() - documented == set(), "template variables missing"
    unknown = documented - setting_variables() - template_variables() - STANDARD_VARIABLES
    assert unknown == set(), "README variables that nothing reads or sets"


def test_every_setting_is_set_by_the_template_or_the_readme_says_why_not() -> None:
    unset = setting_variables() - template_variables()
    assert unset == not_template_parameters()


def test_deploying_parameter_table_is_the_template_parameters() -> None:
    parameters = template()["Parameters"]
    rows = table(DEPLOYING.read_text(), "| Parameter |")
    documented = {NAME.findall(row[0])[0]: row for row in rows}
    assert set(documented) == set(parameters)
    for name, (_, required, default, _meaning) in documented.items():
        declared = parameters[name]
        if "Default" not in declared:
            assert (required, default) == ("yes", ""), name
            continue
        expected = str(declared["Default"])
        assert required == "", name
        assert default == ("empty" if expected == "" else f"`{expected}`"), name


def rate_descriptions(variable: str, parameter: str) -> list[str]:
    """What the README, docs/deploying.md and the template say about one rate setting."""
    readme = [
        row[2]
        for row in table(section(README, "## Configuration"), "| variable |")
        if f"`{variable}`" in row[0]
    ]
    deploying = [
        row[3]
        for row in table(DEPLOYING.read_text(), "| Parameter |")
        if f"`{parameter}`" in row[0]
    ]
    described = [str(template()["Parameters"][parameter]["Description"])]
    texts = readme + deploying + described
    assert len(texts) == 3, texts
    return texts


def test_the_deepcall_rate_is_the_deployments_and_the_per_container_cap_is_separate() -> None:
    # app.py: DEEPCALL_MAX_RPS is the fleet's rate (clients/fleet_rate.py, one per deployment);
    # DEEPCALL_MAX_RPS_PER_CONTAINER is one token bucket per container, shared by its threads.
    for text in rate_descriptions("DEEPCALL_MAX_RPS", "DeepCallMaxRps"):
        assert "whole deployment" in text, text
        assert "every container" in text, text
    for text in rate_descriptions("DEEPCALL_MAX_RPS_PER_CONTAINER", "DeepCallMaxRpsPerContainer"):
        assert "per container" in text, text
        assert "per invocation" not in text, text


# Error codes and statuses: README <-> code <-> docs/openapi.json.

PACKAGE = ROOT / "src" / "function" / "masking_unset"
CODE = re.compile(r"`([a-z][a-z0-9_]*\*?)`")


def code_error_codes() -> set[str]:
    """Every error code the function can answer or dead-letter with: the ``code`` of each error
    class, every ``code="..."`` argument, and the two codes named by module constants."""
    from masking_unset.handlers.apigw import UNSUPPORTED
    from masking_unset.logic.batch import MALFORMED_RECORD

    codes = {UNSUPPORTED, MALFORMED_RECORD}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.keyword)
                and node.arg == "code"
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
            ):
                codes.add(node.value.value)
            if isinstance(node, ast.ClassDef):
                for statement in node.body:
                    if (
                        isinstance(statement, ast.Assign)
                        and [getattr(t, "id", None) for t in statement.targets] == ["code"]
                        and isinstance(statement.value, ast.Constant)
                    ):
                        codes.add(str(statement.value.value))
    return codes


def readme_error_rows() -> list[list[str]]:
    return table(section(README, "## Responses"), "| status | codes |")


def readme_error_codes() -> set[str]:
    responses = section(README, "## Responses")
    # The queue paragraph names the dead-letter codes (and outcomes, which are no error codes).
    queue = responses[responses.index("**Queue:**") :]
    cells = [row[1] for row in readme_error_rows()]
    outcomes = {outcome.value for outcome in Outcome}
    found = {code for text in [*cells, queue] for code in CODE.findall(text) if "_" in code}
    return found - outcomes


def openapi() -> dict[str, Any]:
    return dict(json.loads((ROOT / "docs" / "openapi.json").read_text()))


def test_readme_error_codes_are_the_codes_in_the_code() -> None:
    documented = readme_error_codes()
    prefixes = [code[:-1] for code in documented if code.endswith("*")]
    exact = {code for code in documented if not code.endswith("*")}
    in_code = code_error_codes()
    undocumented = {c for c in in_code - exact if not any(c.startswith(p) for p in prefixes)}
    assert undocumented == set(), "codes the README's Responses section does not name"
    assert exact - in_code == set(), "README codes no code answers"


def test_readme_success_statuses_are_the_outcomes_and_the_openapi_enum() -> None:
    rows = table(section(README, "## Responses"), "| status | body |")
    documented = {re.search(r'"status": "([a-z_]+)"', row[1]).group(1) for row in rows}  # type: ignore[union-attr]
    outcomes = {outcome.value for outcome in Outcome}
    assert documented == outcomes
    assert set(openapi()["components"]["schemas"]["Outcome"]["enum"]) == outcomes


def test_openapi_answers_every_status_the_readme_lists() -> None:
    rows = table(section(README, "## Responses"), "| status | body |")
    statuses = {row[0] for row in rows} | {row[0] for row in readme_error_rows()}
    responses = openapi()["paths"]["/webhooks/{source}"]["post"]["responses"]
    assert set(responses) == statuses
    assert responses["500"]["content"]["application/json"]["example"]["error"]["code"] == (
        MaskingUnsetError.code
    )


# Metrics and dimensions: README <-> the metric names the code emits.

EMITTERS = {"count", "count_by", "milliseconds"}


def code_metrics() -> set[tuple[str, str]]:
    """(metric, own dimension or "") of every ``count``/``count_by``/``milliseconds`` call, the
    outcome counters of ``logic/expiry.py`` and Powertools' ``ColdStart``."""
    from masking_unset.logic.expiry import _OUTCOME_METRICS

    outcomes = _OUTCOME_METRICS.values()
    found = {(name, dimension) for name in outcomes for dimension in ("", "account")}
    found |= {("ColdStart", "function_name")}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in EMITTERS
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                dimension = node.args[1] if node.func.id == "count_by" else None
                name = str(node.args[0].value)
                found.add(
                    (name, str(dimension.value) if isinstance(dimension, ast.Constant) else "")
                )
    return found


def readme_metrics() -> set[tuple[str, str]]:
    text = section(README, "## Operations")
    rows = table("\n".join(line.strip() for line in text.splitlines()), "| metric |")
    return {
        (name, NAME.findall(row[1])[0] if row[1] else "")
        for row in rows
        for name in NAME.findall(row[0])
    }


def test_readme_metrics_table_is_what_the_code_emits() -> None:
    assert readme_metrics() == code_metrics()


def test_operations_names_the_dead_letter_metric_dimension_the_code_uses() -> None:
    text = (ROOT / "docs" / "operations.md").read_text()
    named = re.findall(r"`DeadLettered` metric \(dimension\s+`([a-z_]+)`\)", text)
    assert named == [dimension for name, dimension in code_metrics() if name == "DeadLettered"]


# CLI usage in documents <-> ``masking-unset --help``.

CLI = Path(sys.executable).parent / "masking-unset"
DOCUMENTS = [README, *sorted((ROOT / "docs").rglob("*.md"))]
# As written after `make dev` (.venv/bin/masking-unset), or named in prose.
INLINE = re.compile(r"`(?:\.venv/bin/)?(masking-unset [^`]+)`")
COMMAND_LINE = re.compile(r"^\s*(?:\$ )?(?:\.venv/bin/)?(masking-unset .+)$")


@lru_cache
def cli_help(*words: str) -> str:
    """The ``--help`` text of ``masking-unset <words>``."""
    done = subprocess.run(  # noqa: S603 (our own console script, fixed words from documents)
        [str(CLI), *words, "--help"], capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout


def subcommands(*words: str) -> set[str]:
    """The commands a ``--help`` lists under COMMAND."""
    text = cli_help(*words)
    if "  COMMAND\n" not in text:
        return set()
    listing = text[text.index("  COMMAND\n") :].split("\n\n", 1)[0]
    return set(re.findall(r"^    ([a-z][a-z-]*)", listing, re.M))


def documented_commands() -> list[tuple[str, str]]:
    """(document, command line) of every ``masking-unset ...`` the documents show as a command:
    in an inline code span, or on a line of a fenced block."""
    found = []
    for path in DOCUMENTS:
        fenced = False
        for line in path.read_text().splitlines():
            if line.lstrip().startswith("```"):
                fenced = not fenced
                continue
            commands = [m.group(1)] if fenced and (m := COMMAND_LINE.match(line)) else []
            commands += [] if fenced else INLINE.findall(line)
            found += [(path.name, command.split("#", 1)[0].strip()) for command in commands]
    return found


def test_documents_show_commands() -> None:
    assert len(documented_commands()) > 20


@pytest.mark.parametrize(("document", "command"), documented_commands())
def test_documented_cli_usage_is_in_its_help(document: str, command: str) -> None:
    words = shlex.split(command.replace("...", "x").removesuffix("\\"))[1:]
    path: list[str] = []
    while words and subcommands(*path) and words[0] in subcommands(*path):
        path.append(words.pop(0))
    assert path or words[:1] in (["--help"], ["-h"]), f"{document}: {command!r}: no such command"
    assert not (path and subcommands(*path)), f"{document}: {command!r}: not a command of {path}"
    usage = cli_help(*path)
    for option in (word.split("=", 1)[0] for word in words if word.startswith("--")):
        assert re.search(rf"{re.escape(option)}\b", usage), f"{document}: {command!r}: {option}"


# The source guides' answer tables and recommended bodies (docs/sources/).
SINGLE_EVENT_STATUSES = {200, 202, 400, 401, 404, 405, 409, 413, 422, 500, 502, 503}
ARRAY_STATUSES = {200, 400, 401, 404, 405, 413, 500, 503}  # per-event failures are in the body
REQUEST_CODES = {
    "malformed_body", "unknown_source", "method_not_allowed", "payload_too_large",
    "configuration_error", "internal_error",
}  # fmt: skip
EVENT_CODES = {
    "invalid_event", "in_progress", "outcome_unknown", "no_target", "invalid_number",
    "foreign_number", "same_numbers", "unresolved_target", "future_occurred_at",
    "upstream_rejected", "invalid_expire_at", "expire_at_without_offset", "expire_at_too_far",
    "expire_at_with_minutes",
}  # fmt: skip
GUIDES = {
    "generic": SINGLE_EVENT_STATUSES,
    "zendesk": SINGLE_EVENT_STATUSES,
    "freshdesk": SINGLE_EVENT_STATUSES,
    "hubspot": ARRAY_STATUSES,
    "salesforce": ARRAY_STATUSES,
}


def answer_table(source: str) -> list[str]:
    """The rows of the guide's table whose first column is the HTTP status."""
    lines = (ROOT / "docs" / "sources" / f"{source}.md").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| status |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


@pytest.mark.parametrize("source", sorted(GUIDES))
def test_each_guides_answer_table_has_every_status_and_code_the_source_can_answer(
    source: str,
) -> None:
    rows = answer_table(source)
    statuses = {int(n) for row in rows for n in re.findall(r"\d{3}", row.split("|")[1])}
    assert statuses >= GUIDES[source], f"{source}.md lacks {GUIDES[source] - statuses}"
    codes = set(NAME.findall("\n".join(rows)))
    expected = REQUEST_CODES | (EVENT_CODES if GUIDES[source] is SINGLE_EVENT_STATUSES else set())
    assert codes >= expected, f"{source}.md lacks {expected - codes}"


@pytest.mark.parametrize("source", ["zendesk", "freshdesk", "generic"])
def test_every_body_a_guide_recommends_carries_event_id_and_occurred_at(source: str) -> None:
    text = (ROOT / "docs" / "sources" / f"{source}.md").read_text(encoding="utf-8")
    bodies = re.findall(r"```json\n(.*?)```", text, re.S)
    assert bodies
    for body in bodies:
        assert '"event_id"' in body, f"{source}.md: {body}"
        assert '"occurred_at"' in body, f"{source}.md: {body}"
