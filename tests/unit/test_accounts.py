"""Named DeepCall accounts: parsing DEEPCALL_ACCOUNTS, the account a webhook URL names, and the
keys each account's events are stored under."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from masking_unset.config import Settings
from masking_unset.handlers.apigw import to_request
from masking_unset.models.accounts import DEFAULT_ACCOUNT, is_account_name, scoped_source
from masking_unset.models.errors import ConfigurationError, UnknownAccount
from masking_unset.models.events import CloseEvent
from masking_unset.models.mapping import mapping_key
from masking_unset_tools.local.events import http_api_event
from masking_unset_tools.ops.errors import UsageError
from masking_unset_tools.ops.mapping import key_for
from masking_unset_tools.ops.trail import event_keys, ticket_of

BASE = {"DEEPCALL_BASE_URL": "https://a.example", "DEEPCALL_SECRET_ID": "secret-a"}
B = {"base_url": "https://b.example/", "secret_id": "secret-b"}


def settings(accounts: Any, **env: str) -> Settings:
    text = accounts if isinstance(accounts, str) else json.dumps(accounts)
    return Settings.from_env({**BASE, "DEEPCALL_ACCOUNTS": text, **env})


def test_the_single_account_settings_are_the_default_account() -> None:
    plain = Settings.from_env(BASE)
    assert plain.account == DEFAULT_ACCOUNT
    assert plain.account_names == (DEFAULT_ACCOUNT,)
    assert plain.for_account(None) is plain
    assert plain.for_account("default") is plain


def test_a_named_account_has_its_own_url_secret_rate_and_webhook_secrets() -> None:
    base = settings(
        {"brand-b": {**B, "max_rps": 4, "webhook_secrets_id": "hooks-b"}, "brand-c": B},
        DEEPCALL_MAX_RPS="2",
        WEBHOOK_SECRETS_ID="hooks",
    )
    b = base.for_account("brand-b")
    assert (b.account, b.deepcall_base_url, b.deepcall_secret_id) == (
        "brand-b",
        "https://b.example",
        "secret-b",
    )
    assert (b.deepcall_max_rps, b.webhook_secrets_id) == (4.0, "hooks-b")
    assert b.secret_variable == "DEEPCALL_ACCOUNTS (brand-b: secret_id)"
    assert b.webhook_secrets_variable == "DEEPCALL_ACCOUNTS (brand-b: webhook_secrets_id)"
    assert base.for_account("brand-b").deepcall_number_format == "national"
    e164 = settings({"brand-e": {**B, "number_format": "e164"}}).for_account("brand-e")
    assert e164.deepcall_number_format == "e164"
    c = base.for_account("brand-c")  # what it leaves out is the deployment's
    assert (c.deepcall_max_rps, c.webhook_secrets_id) == (2.0, "hooks")
    assert c.webhook_secrets_variable == "WEBHOOK_SECRETS_ID"
    assert base.account_names == ("default", "brand-b", "brand-c")
    assert (base.account, base.deepcall_base_url) == ("default", "https://a.example")


@pytest.mark.parametrize("name", ["brand-z", "Brand-B", "", "default ", "brand-b/x"])
def test_a_name_not_configured_is_refused_never_the_default(name: str) -> None:
    with pytest.raises(UnknownAccount) as raised:
        settings({"brand-b": B}).for_account(name)
    assert raised.value.code == "unknown_account"
    assert name not in raised.value.message or not name


@pytest.mark.parametrize(
    ("accounts", "expected"),
    [
        ("not json", "must be a JSON object"),
        ("[]", "must be a JSON object from account name"),
        ({"default": B}, '"default" is DEEPCALL_BASE_URL'),
        ({"Brand": B}, "an account name must be lower-case"),
        ({"-x": B}, "an account name must be"),
        ({"b": {"secret_id": "s"}}, "account b: base_url: is required"),
        ({"b": {**B, "ssid": "x"}}, "ssid: is not a setting of an account"),
        ({"b": {**B, "max_rps": -1}}, "max_rps: must be a number of requests per second"),
        ({"b": {**B, "base_url": "https://b.example?x=1"}}, "must not have a query"),
        ({"b": {**B, "base_url": "http://b.example"}}, "(b: base_url): must be an https:// URL"),
        ({"b": 7}, "account b: settings: must be a JSON object"),
        ({"b": {**B, "number_format": "E.164"}}, "number_format: must be one of national"),
    ],
)
def test_a_bad_accounts_setting_names_the_variable_and_never_a_value(
    accounts: Any, expected: str
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        settings(accounts)
    message = raised.value.message
    assert message.startswith("invalid configuration: DEEPCALL_ACCOUNTS")
    assert expected in message
    assert "secret-b" not in message


def test_http_is_accepted_for_every_account_only_when_allowed() -> None:
    local = {**B, "base_url": "http://127.0.0.1:9"}
    allowed = settings({"b": local}, DEEPCALL_ALLOW_HTTP="true")
    assert allowed.for_account("b").deepcall_base_url == "http://127.0.0.1:9"


def test_a_paced_account_makes_the_webhook_budget_count_the_rate_limit_wait() -> None:
    # 13.45 s of read timeout fits unpaced, not with a rate limit's wait on top: the check
    # must see the named account's rate too.
    slow = {"DEEPCALL_TIMEOUT_SECONDS": "13.45"}
    settings({"b": B}, **slow)
    with pytest.raises(ConfigurationError, match="DEEPCALL_MAX_RPS slot"):
        settings({"b": {**B, "max_rps": 5}}, **slow)


@given(st.text(max_size=40))
def test_an_account_name_is_a_safe_path_segment_and_dimension(name: str) -> None:
    if is_account_name(name):
        assert name == name.lower().strip()
        assert "/" not in name
        assert "#" not in name
        assert "@" not in name
        assert ":" not in name
        assert 1 <= len(name) <= 32


@given(
    source=st.sampled_from(["generic", "zendesk", "hubspot"]),
    account=st.from_regex(r"[a-z0-9][a-z0-9-]{0,31}", fullmatch=True),
    prefix=st.sampled_from(["", "/prod", "/v1/api"]),
)
def test_the_url_names_the_account(source: str, account: str, prefix: str) -> None:
    path = f"{prefix}/webhooks/{source}/{account}"
    event = http_api_event("POST", path, [("content-type", "application/json")], b"{}")
    event.pop("pathParameters", None)
    request = to_request(event)
    assert (request.source, request.account) == (source, account)
    plain = http_api_event("POST", f"{prefix}/webhooks/{source}", [], b"{}")
    plain.pop("pathParameters", None)
    assert to_request(plain).account is None


def test_path_parameters_name_the_account_when_api_gateway_gives_them() -> None:
    event = http_api_event("POST", "/webhooks/zendesk/brand-b", [], b"{}")
    event["pathParameters"] = {"source": "zendesk", "account": "Brand-B"}
    assert to_request(event).account == "brand-b"
    event["pathParameters"] = {"source": "zendesk"}  # the /webhooks/{source} route
    assert to_request(event).account is None
    # An empty account is a name nobody configured, never the default account.
    event["pathParameters"] = {"source": "zendesk", "account": ""}
    assert to_request(event).account == ""


@given(ticket=st.text(min_size=1, max_size=20), account=st.sampled_from([None, "default", "b-2"]))
def test_keys_of_the_default_account_stay_as_they_were(ticket: str, account: str | None) -> None:
    event = CloseEvent(ticket_id=ticket, source="zendesk", account=account)
    if account in (None, "default"):
        assert event.scope == "zendesk"
    else:
        assert event.scope == "zendesk@b-2"
    assert event.scope == scoped_source("zendesk", account)


def test_the_tools_find_a_named_accounts_items() -> None:
    assert key_for("Zendesk", "42") == mapping_key("zendesk", "42")
    assert key_for("zendesk", "42", "brand-b") == "zendesk@brand-b#42"
    with pytest.raises(UsageError, match="--account must be"):
        key_for("zendesk", "42", "brand b")
    assert ticket_of("zendesk:42", "brand-b") == "zendesk@brand-b:42"
    assert ticket_of("zendesk:42") == "zendesk:42"
    assert event_keys("zendesk:e-1", "brand-b")[0] == "zendesk@brand-b:id:e-1"
    assert "queue@brand-b:id:e-1" in event_keys("e-1", "brand-b")
