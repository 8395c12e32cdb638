"""SnapStart hooks (handlers/snapstart.py), called as Lambda's runtime would call them.

Copies resumed from one snapshot start with the same memory: the same random state, the same
pooled sockets, the same cached secrets. Each test checks one thing the after-restore hook makes
a copy's own, against the real moto server and DeepCall stand-in.
"""

from __future__ import annotations

import random
import sys
import textwrap
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import phonenumbers
import pytest
from phonenumbers.data import _load_region as load_region

from masking_unset.app import App, get_app
from masking_unset.handlers import snapstart
from masking_unset.handlers.webhook import lambda_handler
from masking_unset_tools.local.lambda_context import LocalLambdaContext
from masking_unset_tools.local.stack import DEMO_SSID, LocalStack
from tests.integration.helpers import gateway_event
from tests.support.aws import put_secret
from tests.support.deepcall import ScriptedDeepCall
from tests.support.lambda_child import run_as_in_lambda


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Callable[[], None]]]:
    """A stand-in for the runtime's snapshot_restore_py that records what is registered."""
    registered: dict[str, list[Callable[[], None]]] = {"before": [], "after": []}
    module = types.ModuleType(snapstart.RUNTIME_MODULE)
    module.register_before_snapshot = registered["before"].append  # type: ignore[attr-defined]
    module.register_after_restore = registered["after"].append  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, snapstart.RUNTIME_MODULE, module)
    monkeypatch.setattr(snapstart, "_registered", [])
    return registered


def webhook(number: int) -> dict[str, Any]:
    close = {
        "event_id": f"evt-snap-{number}",
        "ticket_id": "T-7",
        "mask": f"+91 80 4000 123{number}",
    }
    return lambda_handler(gateway_event(close), LocalLambdaContext())  # type: ignore[arg-type]


def test_the_hooks_are_registered_once_with_the_runtime(
    runtime: dict[str, list[Callable[[], None]]],
) -> None:
    assert snapstart.register() is True
    assert snapstart.register() is True

    assert runtime["before"] == [snapstart.before_snapshot]
    assert runtime["after"] == [snapstart.after_restore]


def test_without_the_runtime_module_nothing_is_registered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, snapstart.RUNTIME_MODULE, None)  # import fails
    monkeypatch.setattr(snapstart, "_registered", [])

    assert snapstart.register() is False
    assert snapstart._registered == []


def test_before_snapshot_builds_everything_without_connecting(
    stack: LocalStack, deepcall: ScriptedDeepCall, monkeypatch: pytest.MonkeyPatch
) -> None:
    # phonenumbers loads a region's metadata on first use: record whether that happens here.
    loaded: list[str] = []

    def load(region: str) -> None:
        loaded.append(region)
        load_region(region)

    monkeypatch.setitem(phonenumbers.PhoneMetadata._region_available, "IN", load)
    # Nothing listens on port 9: a client that connected, or a secret read, would fail here.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")

    snapstart.before_snapshot()

    app = get_app()
    assert {"expirer", "webhook_receiver", "batch", "deepcall", "secrets"} <= set(vars(app))
    assert set(app._clients) == {"secretsmanager", "dynamodb", "sqs"}
    assert deepcall.unset_calls == []
    assert loaded == ["IN"]  # PHONE_DEFAULT_REGION's metadata, loaded before the snapshot


def test_before_snapshot_leaves_a_configuration_error_to_the_invocation(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEEPCALL_NUMBER_FORMAT", "not-a-format")

    snapstart.before_snapshot()  # no exception: the snapshot is still taken

    assert get_app.cache_info().currsize == 0


def test_after_restore_empties_the_secret_cache(stack: LocalStack) -> None:
    snapstart.before_snapshot()
    secrets = get_app().secrets
    put_secret(stack, stack.deepcall_secret_id, {"ssid": DEMO_SSID, "rotation": 1})
    assert secrets.get_json(stack.deepcall_secret_id, variable="X")["rotation"] == 1
    put_secret(stack, stack.deepcall_secret_id, {"ssid": DEMO_SSID, "rotation": 2})
    assert secrets.get_json(stack.deepcall_secret_id, variable="X")["rotation"] == 1  # cached

    snapstart.after_restore()

    assert secrets.get_json(stack.deepcall_secret_id, variable="X")["rotation"] == 2


def _pools(app: App) -> dict[str, int]:
    """How many connection pools each client holds."""
    session = app.deepcall._session
    counts = {"deepcall": sum(len(a.poolmanager.pools) for a in session.adapters.values())}
    for name, client in app._clients.items():
        counts[name] = len(client._endpoint.http_session._manager.pools)
    return counts


def test_after_restore_drops_pooled_connections_and_the_next_call_reconnects(
    stack: LocalStack, deepcall: ScriptedDeepCall
) -> None:
    snapstart.before_snapshot()
    assert webhook(1)["statusCode"] == 200
    before = _pools(get_app())
    assert before["deepcall"] >= 1
    assert before["secretsmanager"] >= 1

    snapstart.after_restore()

    assert set(_pools(get_app()).values()) == {0}
    assert webhook(2)["statusCode"] == 200
    assert len(deepcall.unset_calls) == 2  # reached again, on a new connection
    assert _pools(get_app())["deepcall"] >= 1


def _draws(app: App) -> list[float]:
    return [rng.random() for rng in app._rngs] + [random.random()]


@pytest.mark.parametrize("restored", [True, False])
def test_copies_of_one_snapshot_draw_their_own_jitter(stack: LocalStack, restored: bool) -> None:
    snapstart.before_snapshot()
    app = get_app()
    assert len(app._rngs) == 2  # the DeepCall retry policy and the queue backoff
    snapshot = [rng.getstate() for rng in app._rngs], random.getstate()

    sequences = []
    for _copy in range(2):  # each copy resumes from the same memory
        for rng, state in zip(app._rngs, snapshot[0], strict=True):
            rng.setstate(state)
        random.setstate(snapshot[1])
        if restored:
            snapstart.after_restore()
        sequences.append(_draws(app))

    first, second = sequences
    if restored:
        assert all(a != b for a, b in zip(first, second, strict=True))
    else:  # the hazard the hook exists for: identical jitter in every copy
        assert first == second


WARM_TRACER = textwrap.dedent(
    """
    import sys
    from masking_unset import observability
    from masking_unset.handlers import snapstart

    snapstart.before_snapshot()
    print("aws_xray_sdk" in sys.modules, observability.tracer.cache_info().currsize)
    """
)


@pytest.mark.parametrize(("disabled", "built"), [("false", "True 1"), ("true", "False 0")])
def test_before_snapshot_builds_the_tracer_only_where_the_deployment_traces(
    stack: LocalStack, tmp_path: Path, disabled: str, built: str
) -> None:
    # In a child: the X-Ray SDK, once loaded, patches botocore for the whole process.
    run = run_as_in_lambda(WARM_TRACER, stack.env(), tmp_path, POWERTOOLS_TRACE_DISABLED=disabled)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip().splitlines()[-1] == built
