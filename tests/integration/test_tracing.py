"""Traces as Lambda would send them: a DeepCall subsegment per call, also from batch threads,
and no phone number or secret in anything sent to the X-Ray daemon.

The functions run in a child interpreter that believes it is in Lambda (the X-Ray SDK keeps
global state); a UDP socket on loopback plays the X-Ray daemon.
"""

from __future__ import annotations

import json
import socket
import textwrap
from pathlib import Path

from masking_unset_tools.local.deepcall_standin import DeepCallStandIn, Fault
from masking_unset_tools.local.stack import DEMO_SSID, DEMO_WEBHOOK_SECRET, LocalStack
from tests.support.lambda_child import run_as_in_lambda

DRIVER = textwrap.dedent(
    """
    import json, sys
    from masking_unset.handlers import queue, webhook
    from masking_unset_tools.local.lambda_context import LocalLambdaContext
    from tests.integration.helpers import gateway_event

    body = {"event_id": "t1", "ticket_id": "T-1", "mask": "+91 98765 43210"}
    answer = webhook.lambda_handler(gateway_event(body), LocalLambdaContext())
    records = [
        {"messageId": f"m{i}", "receiptHandle": f"r{i}", "attributes": {},
         "body": json.dumps({"event_id": f"q{i}", "m1": f"91234 5678{i}", "m2": "99887 76655"})}
        for i in range(3)
    ]
    batch = queue.lambda_handler({"Records": records}, LocalLambdaContext())
    print(json.dumps({"webhook": answer["statusCode"], "batch": batch}))
    """
)


def test_deepcall_calls_are_traced_without_personal_data(
    stack: LocalStack, deepcall: DeepCallStandIn, tmp_path: Path
) -> None:
    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    daemon.settimeout(2)  # bounds the read after the child has exited
    deepcall.enqueue(Fault.error(1009, "Something went wrong for 9876543210"))
    run = run_as_in_lambda(
        DRIVER,
        stack.env(),
        tmp_path,
        _X_AMZN_TRACE_ID="Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;"
        "Sampled=1",
        AWS_XRAY_DAEMON_ADDRESS=f"127.0.0.1:{daemon.getsockname()[1]}",
        DEEPCALL_RETRY_BASE_SECONDS="0",
    )
    assert run.returncode == 0, run.stderr[-2000:]
    outcome = json.loads(run.stdout.strip().splitlines()[-1])
    assert outcome == {"webhook": 200, "batch": {"batchItemFailures": []}}

    sent: list[str] = []
    try:
        while True:
            sent.append(daemon.recv(65536).decode())
    except TimeoutError:
        pass
    finally:
        daemon.close()
    documents = [json.loads(part) for text in sent for part in text.splitlines()[1:]]
    unset = [d for d in documents if d.get("name") == "## deepcall.unset"]
    # Webhook: a failed attempt (1009) and its retry; queue: one per record, from worker threads.
    assert len(unset) == 5
    assert {d["trace_id"] for d in unset} == {"1-5759e988-bd862e3fe1be46a994272793"}
    assert sorted(d["annotations"].get("error_code", "") for d in unset) == ["", "", "", "", "1009"]
    everything = "\n".join(sent)
    for secret in ("9876543210", "98765 43210", "9123456780", "9988776655", DEMO_SSID):
        assert secret not in everything
    assert DEMO_WEBHOOK_SECRET.removeprefix("whsec_") not in everything
