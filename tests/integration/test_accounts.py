"""Several DeepCall accounts in one deployment (docs/deploying.md, "Several DeepCall accounts"):
each event reaches its own account's DeepCall, with its own credentials, circuit breaker and rate;
an account that is not configured is refused on both channels, never sent to another.

The default account is the stack's stand-in; a second stand-in on another port, with credentials
of the other shape, is account ``brand-b``."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from masking_unset.app import reset_app
from masking_unset.clients.breaker import circuit_name
from masking_unset.handlers.queue import lambda_handler as queue_handler
from masking_unset.handlers.webhook import lambda_handler as webhook_handler
from masking_unset.models.tickets import ticket_key
from masking_unset_tools.local.lambda_context import LocalLambdaContext
from masking_unset_tools.local.stack import DEMO_SSID, LocalStack
from tests.conftest import sqs_record
from tests.integration.helpers import gateway_event, response_json
from tests.support.deepcall import Fault, ScriptedDeepCall
from tests.support.fleet import SCALED_OUTAGE_SETTINGS

B_CREDENTIALS = {"userId": "brand-b-user", "token": "brand-b-token-0000"}
OUTAGE = Fault(status=503, body=b'{"message": "Service Unavailable"}')


@pytest.fixture
def brand_b() -> Iterator[ScriptedDeepCall]:
    """The second account's DeepCall: another host, other credentials."""
    with ScriptedDeepCall(credentials=B_CREDENTIALS) as standin:
        yield standin


@pytest.fixture
def accounts(
    stack: LocalStack, brand_b: ScriptedDeepCall, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """``DEEPCALL_ACCOUNTS`` naming brand-b, its secret in the local Secrets Manager."""
    secret = stack.aws.client("secretsmanager").create_secret(
        Name=f"{stack.queue_url.rsplit('/', 1)[-1]}/brand-b", SecretString=json.dumps(B_CREDENTIALS)
    )["ARN"]
    accounts = {"brand-b": {"base_url": brand_b.base_url, "secret_id": secret}}
    monkeypatch.setenv("DEEPCALL_ACCOUNTS", json.dumps(accounts))
    reset_app()
    return accounts


def post(body: dict[str, Any], path_account: str | None = None) -> dict[str, Any]:
    event = gateway_event(body, msg_id=f"msg-{body['event_id']}")
    if path_account is not None:
        event["rawPath"] += f"/{path_account}"
        event["pathParameters"]["account"] = path_account
    response: dict[str, Any] = webhook_handler(event, LocalLambdaContext())
    return response


def run_queue(bodies: list[dict[str, Any]]) -> dict[str, Any]:
    records = [sqs_record(body, f"m-{i}") for i, body in enumerate(bodies)]
    return queue_handler({"Records": records}, LocalLambdaContext())  # type: ignore[arg-type]


def credentials_sent(standin: ScriptedDeepCall) -> list[dict[str, str]]:
    """The credential fields of every unset request the stand-in received."""
    keys = ("ssid", "userId", "token")
    return [
        {key: request.json[key] for key in keys if key in request.json}
        for request in standin.unset_calls
    ]


def test_each_webhook_reaches_its_own_accounts_deepcall_with_its_own_credentials(
    accounts: dict[str, Any], deepcall: ScriptedDeepCall, brand_b: ScriptedDeepCall
) -> None:
    # The same ticket and event id in both brands' CRMs: two tickets, two maskings.
    body = {"event_id": "evt-1", "ticket_id": "T-1", "mask": "8040001234"}
    to_b = post(body, "brand-b")
    to_default = post(body)
    assert (to_b["statusCode"], response_json(to_b)["status"]) == (200, "unset")
    assert (to_default["statusCode"], response_json(to_default)["status"]) == (200, "unset")
    assert credentials_sent(brand_b) == [B_CREDENTIALS]
    assert credentials_sent(deepcall) == [{"ssid": DEMO_SSID}]
    # A body cannot move itself to another account: the URL decides.
    forged = post(
        {"event_id": "evt-2", "ticket_id": "T-2", "mask": "8040001235", "account": "brand-b"}
    )
    assert response_json(forged)["status"] == "unset"
    assert len(deepcall.unset_calls) == 2
    assert len(brand_b.unset_calls) == 1


def test_each_queued_event_reaches_its_own_account(
    accounts: dict[str, Any], deepcall: ScriptedDeepCall, brand_b: ScriptedDeepCall
) -> None:
    bodies = [
        {"event_id": f"q-{i}", "ticket_id": f"T-{i}", "mask": f"80400012{i:02d}"}
        | ({"account": "brand-b"} if i % 2 else {})
        for i in range(6)
    ]
    assert run_queue(bodies) == {"batchItemFailures": []}
    assert credentials_sent(brand_b) == [B_CREDENTIALS] * 3
    assert credentials_sent(deepcall) == [{"ssid": DEMO_SSID}] * 3
    assert sorted(r.json["mask"][-2:] for r in brand_b.unset_calls) == ["01", "03", "05"]


def test_an_unknown_account_is_refused_on_the_webhook_and_calls_nothing(
    accounts: dict[str, Any], deepcall: ScriptedDeepCall, brand_b: ScriptedDeepCall
) -> None:
    for name in ("brand-c", "Brand-C", "default-x", "x" * 40):
        response = post({"event_id": f"e-{name}", "mask": "8040001234"}, name)
        assert response["statusCode"] == 404
        assert response_json(response)["error"]["code"] == "unknown_account"
    assert deepcall.unset_calls == []
    assert brand_b.unset_calls == []


def test_an_unknown_account_on_the_queue_is_parked_with_its_reason(
    stack: LocalStack,
    accounts: dict[str, Any],
    deepcall: ScriptedDeepCall,
    brand_b: ScriptedDeepCall,
) -> None:
    bodies = [
        {"event_id": "q-1", "ticket_id": "T-1", "mask": "8040001234", "account": "brand-c"},
        {"event_id": "q-2", "ticket_id": "T-2", "mask": "8040001235", "account": ""},
    ]
    assert run_queue(bodies) == {"batchItemFailures": []}  # parked, not handed back
    sqs = stack.aws.client("sqs")
    parked = sqs.receive_message(
        QueueUrl=stack.dead_letter_queue_url,
        MaxNumberOfMessages=10,
        MessageAttributeNames=["All"],
    )["Messages"]
    reasons = {m["MessageAttributes"]["ErrorCode"]["StringValue"] for m in parked}
    assert len(parked) == 2
    assert reasons == {"unknown_account"}
    assert deepcall.unset_calls == []
    assert brand_b.unset_calls == []
    # Nothing was recorded for them: the ticket state is untouched.
    assert stack.ticket_state("queue@brand-c#ticket#T-1") is None


def test_the_ticket_state_ledger_and_trail_are_kept_per_account(
    stack: LocalStack, accounts: dict[str, Any], brand_b: ScriptedDeepCall
) -> None:
    body = {"event_id": "evt-9", "ticket_id": "T-9", "mask": "8040001299"}
    assert response_json(post(body, "brand-b"))["status"] == "unset"
    state = stack.ticket_state(ticket_key("generic@brand-b", "T-9", None))
    assert state is not None
    [ledger] = [value["M"] for name, value in state.items() if name.startswith("ledger#")]
    assert ledger["account"] == {"S": "brand-b"}
    assert stack.ticket_state(ticket_key("generic", "T-9", None)) is None
    trail = stack.aws.client("dynamodb").get_item(
        TableName=stack.trail_table, Key={"id": {"S": "generic@brand-b:id:evt-9"}}
    )["Item"]
    assert trail["account"] == {"S": "brand-b"}
    assert trail["ticket"] == {"S": "generic@brand-b:T-9"}
    received = trail["steps"]["L"][0]["M"]
    assert received["account"] == {"S": "brand-b"}
    # A repeat at the same account is a duplicate; at the default account, another masking.
    assert response_json(post(body, "brand-b"))["status"] == "duplicate"
    assert len(brand_b.unset_calls) == 1


def test_an_outage_of_one_accounts_deepcall_opens_only_its_circuit(
    stack: LocalStack,
    accounts: dict[str, Any],
    deepcall: ScriptedDeepCall,
    brand_b: ScriptedDeepCall,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in SCALED_OUTAGE_SETTINGS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("BREAKER_OPEN_SECONDS", "300")  # stays open for the whole test
    reset_app()
    deepcall.set_outage(OUTAGE)  # the default account's DeepCall is down
    bodies = [
        {"event_id": f"o-{i}", "ticket_id": f"T-{i}", "mask": f"80400013{i:02d}"}
        | ({"account": "brand-b"} if i % 2 else {})
        for i in range(20)
    ]
    for start in range(0, 20, 10):
        run_queue(bodies[start : start + 10])
    dynamodb = stack.aws.client("dynamodb")

    def circuit(account: str) -> dict[str, Any] | None:
        key = {"id": {"S": circuit_name(account)}}
        item = dynamodb.get_item(TableName=stack.fleet_state_table, Key=key, ConsistentRead=True)
        found: dict[str, Any] | None = item.get("Item")
        return found

    opened = circuit("default")
    assert opened is not None
    assert opened["state"] == {"S": "OPEN"}
    b_state = circuit("brand-b")
    assert b_state is None or b_state["state"] == {"S": "CLOSED"}
    # Every brand-b event went through at once, each exactly once, none deferred behind the
    # other account's outage; the default account's DeepCall saw only what opened its circuit.
    assert len(brand_b.unset_calls) == 10
    assert sorted(r.json["mask"][-2:] for r in brand_b.unset_calls) == [
        f"{i:02d}" for i in range(1, 20, 2)
    ]
    attempts = int(SCALED_OUTAGE_SETTINGS["DEEPCALL_MAX_ATTEMPTS"])
    threshold = int(SCALED_OUTAGE_SETTINGS["BREAKER_FAILURE_THRESHOLD"])
    assert len(deepcall.unset_calls) < threshold + attempts * int(
        SCALED_OUTAGE_SETTINGS["MAX_CONCURRENCY"]
    )


def test_each_account_has_its_own_deepcall_rate(
    stack: LocalStack,
    accounts: dict[str, Any],
    brand_b: ScriptedDeepCall,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    accounts["brand-b"]["max_rps"] = 7
    monkeypatch.setenv("DEEPCALL_ACCOUNTS", json.dumps(accounts))
    monkeypatch.setenv("DEEPCALL_MAX_RPS", "3")
    reset_app()
    from masking_unset.app import get_app

    app = get_app()
    b = app.for_account("brand-b")
    assert b.pacer is not None
    assert app.pacer is not None
    assert (b.pacer.account, b.pacer.rate) == ("brand-b", 7.0)  # type: ignore[attr-defined]
    assert (app.pacer.account, app.pacer.rate) == ("default", 3.0)  # type: ignore[attr-defined]
    assert b.breaker is not None
    assert b.breaker.account == "brand-b"
    assert b.deepcall is not app.deepcall
    assert b.secrets is app.secrets
    # The account's App is built once per container and reused.
    assert app.for_account("brand-b") is b
    assert os.environ["DEEPCALL_MAX_RPS"] == "3"


def test_outcome_metrics_carry_the_account(
    accounts: dict[str, Any], brand_b: ScriptedDeepCall, capsys: pytest.CaptureFixture[str]
) -> None:
    post({"event_id": "evt-m", "ticket_id": "T-m", "mask": "8040001277"}, "brand-b")
    out = capsys.readouterr().out
    by_account = [
        document
        for line in out.splitlines()
        if '"_aws"' in line
        and "account" in (document := json.loads(line))
        and "MaskingsExpired" in document
    ]
    assert [d["account"] for d in by_account] == ["brand-b"]
    [directive] = by_account[0]["_aws"]["CloudWatchMetrics"]
    assert ["service", "account"] in directive["Dimensions"]


def test_an_operators_expiry_names_its_account(
    accounts: dict[str, Any],
    deepcall: ScriptedDeepCall,
    brand_b: ScriptedDeepCall,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from masking_unset_tools.cli import EXIT_OK, EXIT_USAGE, main

    assert main(["expire", "--mask", "+91 80 4000 1288", "--account", "brand-b"]) == EXIT_OK
    assert "unset:" in capsys.readouterr().out
    assert credentials_sent(brand_b) == [B_CREDENTIALS]
    assert main(["expire", "--mask", "+91 80 4000 1288", "--account", "brand-z"]) == EXIT_USAGE
    assert "--account: no DeepCall account of that name" in capsys.readouterr().err
    assert deepcall.unset_calls == []
    assert len(brand_b.unset_calls) == 1


def test_serve_routes_an_accounts_webhook_as_api_gateway_does() -> None:
    from masking_unset_tools.local.events import http_api_event

    event = http_api_event("POST", "/webhooks/zendesk/brand-b", [], b"{}")
    assert event["pathParameters"] == {"source": "zendesk", "account": "brand-b"}
    assert event["routeKey"] == "POST /webhooks/{source}/{account}"
    plain = http_api_event("POST", "/webhooks/zendesk", [], b"{}")
    assert plain["pathParameters"] == {"source": "zendesk"}
    assert plain["routeKey"] == "POST /webhooks/{source}"


def test_a_webhook_handed_to_the_queue_stays_with_its_account(
    stack: LocalStack,
    accounts: dict[str, Any],
    deepcall: ScriptedDeepCall,
    brand_b: ScriptedDeepCall,
) -> None:
    brand_b.set_outage(OUTAGE)
    body = {"event_id": "evt-q", "ticket_id": "T-q", "mask": "8040001266"}
    response = post(body, "brand-b")
    assert (response["statusCode"], response_json(response)["status"]) == (202, "queued")
    sqs = stack.aws.client("sqs")
    [message] = sqs.receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=10)["Messages"]
    assert json.loads(message["Body"])["account"] == "brand-b"
    brand_b.set_outage(None)
    assert run_queue([json.loads(message["Body"])]) == {"batchItemFailures": []}
    assert credentials_sent(brand_b)[-1] == B_CREDENTIALS
    assert brand_b.expired  # the retry from the queue expired it at brand-b's DeepCall
    assert deepcall.unset_calls == []


def test_several_containers_keep_each_accounts_circuit_and_expire_each_once(
    stack: LocalStack,
    accounts: dict[str, Any],
    deepcall: ScriptedDeepCall,
    brand_b: ScriptedDeepCall,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.support.fleet import run_fleet

    for name, value in SCALED_OUTAGE_SETTINGS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("BREAKER_OPEN_SECONDS", "300")  # the default account stays down
    reset_app()
    deepcall.set_outage(OUTAGE)
    bodies = [
        {"event_id": f"f-{i}", "ticket_id": f"F-{i}", "mask": f"80400014{i:02d}"}
        | ({"account": "brand-b"} if i % 2 else {})
        for i in range(40)
    ]
    sqs = stack.aws.client("sqs")
    for start in range(0, len(bodies), 10):
        entries = [
            {"Id": str(i), "MessageBody": json.dumps(body)}
            for i, body in enumerate(bodies[start : start + 10])
        ]
        sqs.send_message_batch(QueueUrl=stack.queue_url, Entries=entries)
        # One record again, as SQS may deliver it twice.
        sqs.send_message(QueueUrl=stack.queue_url, MessageBody=json.dumps(bodies[start + 1]))
    b_masks = {f"80400014{i:02d}" for i in range(1, 40, 2)}
    fleet = run_fleet(
        dict(os.environ),
        sqs,
        stack.queue_url,
        containers=3,
        until=lambda timeout: brand_b.wait_until(lambda done: set(done) >= b_masks, timeout),
        timeout=60,
    )
    assert all(not container.errors for container in fleet)
    assert set(brand_b.expired) == b_masks
    assert set(brand_b.expired.values()) == {1}  # each once, redelivery and all
    assert credentials_sent(brand_b) == [B_CREDENTIALS] * len(brand_b.unset_calls)
    # The default account's outage opened its circuit only, and parked nothing.
    threshold = int(SCALED_OUTAGE_SETTINGS["BREAKER_FAILURE_THRESHOLD"])
    assert len(deepcall.unset_calls) <= 3 * threshold * int(
        SCALED_OUTAGE_SETTINGS["DEEPCALL_MAX_ATTEMPTS"]
    )
    assert not deepcall.expired  # DeepCall down: nothing expired there, nothing parked
    dlq = sqs.get_queue_attributes(
        QueueUrl=stack.dead_letter_queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert dlq["ApproximateNumberOfMessages"] == "0"
