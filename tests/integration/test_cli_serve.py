"""``masking-unset serve`` over real HTTP: requests become payload 2.0 events for the webhook
handler, and the answers come back as sent; plus the console script itself in a subprocess."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from http.client import HTTPConnection
from pathlib import Path

import pytest
import requests

from masking_unset.logic.signatures import standard_webhooks_sign
from masking_unset_tools.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main
from masking_unset_tools.local.deepcall_standin import DeepCallStandIn
from masking_unset_tools.local.stack import (
    DEMO_SSID,
    DEMO_WEBHOOK_SECRET,
    LocalStack,
    setting_names,
)
from masking_unset_tools.ops.serve import WebhookServer, announce, running_server, serving

CONSOLE_SCRIPT = Path(sys.executable).parent / "masking-unset"
BODY = b'{"event_id": "evt-serve", "ticket_id": "T-5", "mask": "+91 80 4000 1234"}'


def signed(body: bytes, msg_id: str = "msg_serve") -> dict[str, str]:
    timestamp = int(time.time())
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": standard_webhooks_sign(DEMO_WEBHOOK_SECRET, msg_id, timestamp, body),
    }


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False  # loopback only, whatever HTTP(S)_PROXY says
        yield session


@pytest.fixture
def log() -> list[str]:
    return []


@pytest.fixture
def server(stack: LocalStack, log: list[str]) -> Iterator[WebhookServer]:
    """The webhook handler served on the stack the environment points at."""
    with running_server("127.0.0.1", 0, out=log.append) as running:
        yield running


def test_a_signed_close_event_expires_the_masking(
    server: WebhookServer,
    deepcall: DeepCallStandIn,
    http: requests.Session,
    log: list[str],
) -> None:
    response = http.post(f"{server.url}/webhooks/generic", data=BODY, headers=signed(BODY))

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {
        "status": "unset",
        "event_id": "evt-serve",
        "ticket_id": "T-5",
        "target": {"mask": "***1234"},
    }
    [call] = deepcall.unset_calls
    assert call.json == {"ssid": DEMO_SSID, "mask": "8040001234", "expiry_duration": -1}
    assert log == [log[0]]
    assert log[0].startswith("POST /webhooks/generic -> 200 (")


def test_the_output_of_sign_is_a_request_that_verifies(
    server: WebhookServer,
    deepcall: DeepCallStandIn,
    http: requests.Session,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    body_file = tmp_path / "body.json"
    body_file.write_bytes(BODY)
    url = f"{server.url}/webhooks/generic"
    assert main(["sign", "--source", "generic", "--demo-secret", str(body_file), "--url", url]) == 0
    head = capsys.readouterr().out.split("\n\n", 1)[0].splitlines()
    assert head[0] == f"POST {url}"
    headers = dict(line.split(": ", 1) for line in head[1:])

    response = http.post(url, data=body_file.read_bytes(), headers=headers)

    assert response.status_code == 200
    assert len(deepcall.unset_calls) == 1


def test_a_wrong_signature_is_refused(server: WebhookServer, http: requests.Session) -> None:
    headers = signed(b"another body")
    response = http.post(f"{server.url}/webhooks/generic", data=BODY, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_signature"


def test_other_methods_get_405_with_allow(server: WebhookServer, http: requests.Session) -> None:
    response = http.get(f"{server.url}/webhooks/generic")
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    head = http.head(f"{server.url}/webhooks/generic")
    assert head.status_code == 405
    assert head.content == b""


def test_an_unknown_source_is_404(server: WebhookServer, http: requests.Session) -> None:
    response = http.post(f"{server.url}/webhooks/nosuch", data=BODY, headers=signed(BODY))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_source"


def test_a_binary_body_reaches_the_handler_byte_for_byte(
    server: WebhookServer, http: requests.Session
) -> None:
    # Not UTF-8: the event carries it base64-encoded. The signature over the raw bytes verifies
    # only if the handler gets exactly these bytes back, and then the JSON parse refuses it.
    body = b"\xff\xfe{not json"
    response = http.post(f"{server.url}/webhooks/generic", data=body, headers=signed(body))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_body"


def test_a_chunked_body_is_read(
    server: WebhookServer, deepcall: DeepCallStandIn, http: requests.Session
) -> None:
    headers = signed(BODY)
    response = http.post(
        f"{server.url}/webhooks/generic", data=iter([BODY[:10], BODY[10:]]), headers=headers
    )
    assert response.request.headers["Transfer-Encoding"] == "chunked"
    assert response.status_code == 200
    assert len(deepcall.unset_calls) == 1


def test_an_oversized_body_is_refused_before_it_is_read(server: WebhookServer) -> None:
    host, port = server.server_address[:2]
    connection = HTTPConnection(str(host), port, timeout=10)
    try:
        connection.putrequest("POST", "/webhooks/generic")
        connection.putheader("Content-Length", str(11 * 1024 * 1024))
        connection.endheaders()
        response = connection.getresponse()
        assert response.status == 413
        assert json.loads(response.read())["error"]["code"] == "payload_too_large"
    finally:
        connection.close()


def test_the_query_string_reaches_the_handler_but_not_the_log(
    server: WebhookServer, http: requests.Session, log: list[str]
) -> None:
    response = http.post(
        f"{server.url}/webhooks/salesforce?token=tok-never-logged",
        data=b"<x/>",
        headers={"content-type": "text/xml"},
    )
    # "invalid", not "missing": the token reached the source's check, and it is not the demo one.
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"
    assert log[-1].startswith("POST /webhooks/salesforce -> 401")
    assert "tok-never-logged" not in "\n".join(log)


def test_local_mode_runs_its_own_stand_ins(http: requests.Session) -> None:
    with serving("127.0.0.1", 0) as running:
        assert running.stack is not None
        url = f"{running.url}/webhooks/generic"
        response = http.post(url, data=BODY, headers=signed(BODY))
        assert response.status_code == 200
        assert len(running.stack.deepcall.unset_calls) == 1


def test_local_mode_sets_the_public_url_hubspot_signs(
    http: requests.Session, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body_file = tmp_path / "hubspot.json"
    body_file.write_text("[]")
    with serving("127.0.0.1", 0) as running:
        statuses = {}
        for signed_url in (f"{running.url}/webhooks/hubspot", "https://elsewhere/webhooks/hubspot"):
            args = ["sign", "--source", "hubspot", "--demo-secret", str(body_file)]
            assert main([*args, "--url", signed_url]) == EXIT_OK
            printed = capsys.readouterr().out
            # The served function's own log lines may come first; sign's output starts at POST.
            head = printed[printed.index("POST ") :].split("\n\n", 1)[0].splitlines()
            headers = dict(line.split(": ", 1) for line in head[1:])
            response = http.post(f"{running.url}/webhooks/hubspot", data=b"[]", headers=headers)
            statuses[signed_url] = response.status_code
    assert statuses[f"{running.url}/webhooks/hubspot"] != 401
    assert statuses["https://elsewhere/webhooks/hubspot"] == 401


def test_live_mode_without_configuration_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DEEPCALL_BASE_URL", raising=False)
    monkeypatch.delenv("DEEPCALL_SECRET_ID", raising=False)
    assert main(["serve", "--live", "--port", "0"]) == EXIT_USAGE
    assert "DEEPCALL_BASE_URL" in capsys.readouterr().err


def test_live_mode_without_webhook_secrets_id_exits_2_before_listening(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("WEBHOOK_SECRETS_ID", raising=False)

    code = main(["serve", "--live", "--port", "0"])

    captured = capsys.readouterr()
    assert code == EXIT_USAGE
    assert "WEBHOOK_SECRETS_ID is not set" in captured.err
    assert "serving the webhook function" not in captured.out


# --- the console script ----------------------------------------------------------------------


def test_the_console_script_documents_its_exit_codes() -> None:
    shown = subprocess.run(  # noqa: S603 - our own console script
        [str(CONSOLE_SCRIPT), "serve", "--help"], capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == EXIT_OK
    assert "exit codes:" in shown.stdout
    assert "--public-url" in shown.stdout

    refused = subprocess.run(  # noqa: S603
        [str(CONSOLE_SCRIPT), "serve", "--port", "not-a-port"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == EXIT_USAGE
    assert "invalid port: 'not-a-port'" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_the_console_script_serves_until_interrupted(http: requests.Session) -> None:
    process = subprocess.Popen(  # noqa: S603
        [str(CONSOLE_SCRIPT), "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # blocks until the server listens
        assert first.startswith("serving the webhook function on http://127.0.0.1:")
        base = first.split(" on ", 1)[1].split("/webhooks/", 1)[0]
        response = http.post(f"{base}/webhooks/generic", data=BODY, headers=signed(BODY))
        assert response.status_code == 200
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == EXIT_OK
    assert "POST /webhooks/generic -> 200" in err
    assert err.rstrip().endswith("stopped")
    assert "Traceback" not in err
    assert "demo-ssid" not in out + err
    assert DEMO_WEBHOOK_SECRET not in out + err


# --- the user's settings, and seeing into the local stack ---------------------------------------


@pytest.fixture
def clean_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """None of the functions' settings from the caller's environment."""
    for name in setting_names():
        monkeypatch.delenv(name, raising=False)


def hubspot_close(stage: str) -> bytes:
    change = {
        "eventId": int(stage[:6]),
        "occurredAt": int(time.time() * 1000),
        "subscriptionType": "ticket.propertyChange",
        "objectId": 3141592,
        "propertyName": "hs_pipeline_stage",
        "propertyValue": stage,
    }
    return json.dumps([change]).encode()


@pytest.mark.usefixtures("clean_settings")
def test_local_mode_keeps_the_users_settings_and_says_which_it_ignores(
    http: requests.Session,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HUBSPOT_CLOSED_STAGES", "98765432")
    monkeypatch.setenv("SALESFORCE_ORG_IDS", "00D000000000MINEAA")
    monkeypatch.setenv("QUEUE_URL", "https://sqs.example/1/mine")
    body_file = tmp_path / "hubspot.json"
    results = {}
    with serving("127.0.0.1", 0) as running:
        assert running.stack is not None
        running.stack.put_mapping("hubspot#3141592", {"mask": "+91 80 4000 3141"})
        for stage in ("4", "98765432"):  # the demo's closed stage, then the user's
            body_file.write_bytes(hubspot_close(stage))
            url = f"{running.url}/webhooks/hubspot"
            args = ["sign", "--source", "hubspot", "--demo-secret", str(body_file), "--url", url]
            assert main(args) == EXIT_OK
            printed = capsys.readouterr().out
            head = printed[printed.index("POST ") :].split("\n\n", 1)[0].splitlines()
            headers = dict(line.split(": ", 1) for line in head[1:])
            answer = http.post(url, data=body_file.read_bytes(), headers=headers)
            results[stage] = answer.json()["status"]
        assert os.environ["SALESFORCE_ORG_IDS"] == "00D000000000MINEAA"
        assert os.environ["QUEUE_URL"] == running.stack.queue_url
        banner: list[str] = []
        announce(running, banner.append)
        calls = len(running.stack.deepcall.unset_calls)
    assert results == {"4": "ignored", "98765432": "unset"}
    assert calls == 1
    assert os.environ["QUEUE_URL"] == "https://sqs.example/1/mine"  # restored
    assert "your settings in effect: HUBSPOT_CLOSED_STAGES, SALESFORCE_ORG_IDS" in banner
    assert "ignored: QUEUE_URL (the local stack's own is used)" in banner
    assert not [line for line in banner if line.startswith("demo values:")]


@pytest.mark.usefixtures("clean_settings")
def test_local_mode_names_the_demo_values_and_its_resources() -> None:
    banner: list[str] = []
    with serving("127.0.0.1", 0) as running:
        assert running.stack is not None
        announce(running, banner.append)
        stack = running.stack
    assert (
        "demo values: HUBSPOT_CLOSED_STAGES=4, SALESFORCE_ORG_IDS=00D000000000DEMOAA; "
        "set them to use your own"
    ) in banner
    assert not [line for line in banner if line.startswith("ignored:")]
    shown = "\n".join(banner)
    for name in (stack.masking_map_table, stack.ticket_state_table, stack.idempotency_table):
        assert f"  {name}" in shown
    assert stack.queue_url in shown
    assert stack.dead_letter_queue_url in shown
    assert stack.deepcall_secret_id in shown
    assert DEMO_SSID not in shown


def test_the_console_script_shows_what_reached_deepcall_and_publishes_its_stack(
    http: requests.Session, tmp_path: Path
) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if k not in setting_names()},
        "MASKING_UNSET_STATE_DIR": str(tmp_path / "state"),
    }
    local_env = [str(CONSOLE_SCRIPT), "local", "env"]
    process = subprocess.Popen(  # noqa: S603
        [str(CONSOLE_SCRIPT), "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # blocks until the server listens
        base = first.split(" on ", 1)[1].split("/webhooks/", 1)[0]
        exports = subprocess.run(  # noqa: S603
            local_env, capture_output=True, text=True, timeout=60, env=env, check=True
        ).stdout
        # The exports point the CLI at the served stack: its (empty) dead-letter queue.
        listed = subprocess.run(  # noqa: S603
            ["bash", "-c", f"{exports}\n{CONSOLE_SCRIPT} dlq list"],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        response = http.post(f"{base}/webhooks/generic", data=BODY, headers=signed(BODY))
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
        # Not communicate(): readline() above holds the rest of stdout in its buffer.
        assert process.stderr is not None
        out, err = first + process.stdout.read(), process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert response.status_code == 200
    assert process.returncode == EXIT_OK
    assert "export AWS_ENDPOINT_URL=http://127.0.0.1:" in exports
    assert "export AWS_ACCESS_KEY_ID=testing" in exports
    table = re.search(r"^export MASKING_MAP_TABLE=(mu-\w+-masking-map)$", exports, re.M)
    assert table is not None
    assert f"  {table.group(1)}" in out  # the banner names the same table
    assert listed.returncode == EXIT_OK, listed.stderr
    assert "0 message(s) listed" in listed.stdout
    assert (
        "DeepCall stand-in received POST /api/v2/Masking/unset "
        '{"ssid": "<secret>", "mask": "******1234", "expiry_duration": -1}\n'
        "POST /webhooks/generic -> 200"
    ) in err
    assert "8040001234" not in out + err
    assert "demo-ssid" not in out + err
    gone = subprocess.run(local_env, capture_output=True, text=True, timeout=60, env=env)  # noqa: S603
    assert gone.returncode == EXIT_FAILED
    assert "no local stack is running: start masking-unset serve" in gone.stderr
