"""What a cold start leaves unloaded: the guard on the cold-start cuts of docs/performance.md.

Each handler serves one plain event in a fresh interpreter, which then reports which of the
modules and pydantic models that the first event does not need were loaded or built anyway. A
future eager import or model build fails here, without timing anything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from masking_unset_tools.local.stack import LocalStack

ROOT = Path(__file__).resolve().parents[2]

# Other sources than the one a webhook names: only SOURCES, which the tooling reads, loads them.
OTHER_SOURCES = (
    "masking_unset.sources.zendesk",
    "masking_unset.sources.freshdesk",
    "masking_unset.sources.hubspot",
    "masking_unset.sources.salesforce",
    "masking_unset.logic.fields",
    "defusedxml",
)
# Models of answers and inputs that a plain close never meets: built on first use.
UNBUILT_MODELS = (
    "masking_unset.models.deepcall:TokenCredentials",
    "masking_unset.models.events:Ignored",
    "masking_unset.models.events:UnreadableClose",
    "masking_unset.models.api:ErrorDetail",
    "masking_unset.models.api:ErrorBody",
    "masking_unset.models.api:FailedItem",
    "masking_unset.models.api:DeliveryResults",
)

DRIVER = textwrap.dedent(
    """
    import importlib, json, sys
    from masking_unset_tools.local.lambda_context import LocalLambdaContext

    kind, event, watched, models = json.loads(sys.argv[1])
    handler = importlib.import_module(f"masking_unset.handlers.{kind}")
    answer = handler.lambda_handler(event, LocalLambdaContext())
    import pydantic.plugin._loader as plugins

    built = {}
    for path in models:
        module, name = path.split(":")
        if module in sys.modules:
            built[path] = bool(getattr(sys.modules[module], name).__pydantic_complete__)
    print(json.dumps({
        "answer": answer,
        "loaded": [name for name in watched if name in sys.modules],
        "built": built,
        "plugins_scanned": plugins._plugins is not None,
    }))
    """
)


def first_event(stack: LocalStack, kind: str, event: dict[str, Any]) -> dict[str, Any]:
    """Serve ``event`` with a fresh ``kind`` handler (no idempotency or mapping table) and report
    what the interpreter holds afterwards."""
    env = {
        **stack.env(),
        "IDEMPOTENCY_TABLE": "",
        "MASKING_MAP_TABLE": "",
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "POWERTOOLS_LOG_LEVEL": "ERROR",
    }
    watched = [*OTHER_SOURCES, "masking_unset.sources.generic"]
    run = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", DRIVER, json.dumps([kind, event, watched, UNBUILT_MODELS])],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    report: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return report


def test_a_generic_webhook_loads_only_its_own_source_and_builds_no_unused_model(
    stack: LocalStack,
) -> None:
    from tests.integration.helpers import gateway_event

    body = {"event_id": "cold-1", "ticket_id": "T-1", "mask": "+91 98765 43210"}
    report = first_event(stack, "webhook", gateway_event(body))
    assert report["answer"]["statusCode"] == 200, report["answer"]
    # The source it named is loaded (so the check sees imports at all), no other one.
    assert report["loaded"] == ["masking_unset.sources.generic"]
    assert report["built"] == dict.fromkeys(UNBUILT_MODELS, False)
    assert report["plugins_scanned"] is False


def test_a_queue_record_loads_no_source_and_builds_no_unused_model(stack: LocalStack) -> None:
    record = {
        "messageId": "cold-q1",
        "receiptHandle": "rh-cold-q1",
        "attributes": {"ApproximateReceiveCount": "1"},
        "body": json.dumps({"event_id": "cold-q1", "m1": "91234 56780", "m2": "99887 76655"}),
    }
    report = first_event(stack, "queue", {"Records": [record]})
    assert report["answer"] == {"batchItemFailures": []}
    assert report["loaded"] == []
    # The queue never renders webhook answers: their models are not even imported.
    built = report["built"]
    assert set(built) <= set(UNBUILT_MODELS)
    assert "masking_unset.models.deepcall:TokenCredentials" in built
    assert not any(built.values()), built
    assert report["plugins_scanned"] is False
