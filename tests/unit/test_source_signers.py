"""The local signers produce requests their source accepts, in every API Gateway flavour."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from masking_unset.config import Settings
from masking_unset.handlers.apigw import to_request
from masking_unset.models.errors import AuthenticationFailed
from masking_unset.sources import SOURCES
from masking_unset.sources.hubspot import HubSpotSource
from masking_unset_tools.local.signers import sign_event
from masking_unset_tools.local.stack import DEMO_SOURCE_SECRETS
from tests.integration.helpers import gateway_event

NOW = 1_795_688_400.0
ENV = {"DEEPCALL_BASE_URL": "https://api.example.com", "DEEPCALL_SECRET_ID": "arn:secret"}


def settings_with(public_base_url: str = "") -> Settings:
    return Settings.from_env({**ENV, "PUBLIC_BASE_URL": public_base_url})


def verify(source: str, event: dict[str, Any], now: float = NOW) -> None:
    from masking_unset.sources import get_source

    adapter = get_source(source)
    assert adapter is not None
    adapter.authenticate(to_request(event), DEMO_SOURCE_SECRETS[source], now, settings_with())


@pytest.mark.parametrize("source", sorted(SOURCES))
@pytest.mark.parametrize("kind", ["http", "rest", "url"])
def test_every_signed_event_verifies(source: str, kind: str) -> None:
    event = gateway_event(json.dumps([{"a": 1}]), source=source, sign=False, kind=kind)
    verify(source, sign_event(event, source, now=NOW))


@pytest.mark.parametrize("source", ["generic", "zendesk", "hubspot"])
def test_a_signature_goes_stale(source: str) -> None:
    event = sign_event(gateway_event("{}", source=source, sign=False), source, now=NOW)
    with pytest.raises(AuthenticationFailed) as caught:
        verify(source, event, now=NOW + 301)
    assert caught.value.code == "stale_signature"


def test_signing_twice_replaces_the_headers_of_any_case() -> None:
    event = gateway_event("{}", source="zendesk", sign=False, kind="rest")
    twice = sign_event(sign_event(event, "zendesk", now=NOW - 1000), "zendesk", now=NOW)
    names = [key.lower() for key in twice["headers"]]
    assert names.count("x-zendesk-webhook-signature") == 1
    verify("zendesk", twice)


def test_hubspot_signer_follows_the_public_base_url() -> None:
    event = gateway_event("[]", source="hubspot", sign=False)
    secret = DEMO_SOURCE_SECRETS["hubspot"][0]
    signed = sign_event(event, "hubspot", secret=secret, base_url="https://hooks.example.com")
    HubSpotSource().authenticate(
        to_request(signed), [secret], time.time(), settings_with("https://hooks.example.com")
    )


def test_a_stored_delivery_keeps_its_delivery_id() -> None:
    # The same message sent again: its webhook-id (the generic event id fallback) is kept.
    stored = gateway_event("{}", headers={"webhook-id": "msg_stored"}, sign=False, kind="rest")
    resigned = sign_event(stored, "generic", now=NOW)
    assert resigned["headers"]["Webhook-Id"] == "msg_stored"
    verify("generic", resigned)
    fresh = sign_event(gateway_event("{}", sign=False), "generic", now=NOW)
    assert fresh["headers"]["webhook-id"].startswith("msg_")
    verify("generic", fresh)


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_the_demo_secrets_are_the_sources_own(source: str) -> None:
    [secret] = DEMO_SOURCE_SECRETS[source]
    assert secret == SOURCES[source].new_secret(f"demo-{source}")
    assert SOURCES[source].secret_problem(secret) is None
