"""The source registry: every source signs what it accepts, documents what it reads, and names its
own settings."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from masking_unset.config import Settings
from masking_unset.models.errors import AuthenticationFailed
from masking_unset.models.http import WebhookRequest
from masking_unset.sources import SOURCES
from masking_unset.sources.base import SignedParts, WebhookSource

NOW = 1_795_688_400.0
ENV = {"DEEPCALL_BASE_URL": "https://api.example.com", "DEEPCALL_SECRET_ID": "arn:secret"}
SETTINGS = Settings.from_env(ENV)
# Settings of the service itself, shared by every source.
SERVICE_FIELDS = frozenset(
    name
    for name in Settings.model_fields
    if not any(name in source.settings_fields for source in SOURCES.values())
)


def request_for(
    source: WebhookSource, url: str, body: bytes, signed: SignedParts
) -> WebhookRequest:
    """The request a sender makes to ``url`` with what ``sign`` added, as the handler reads it."""
    parts = urlsplit(url)
    query = dict(signed.query)
    raw_query = "&".join(q for q in (parts.query, urlencode(query)) if q)
    return WebhookRequest(
        method="POST",
        path=parts.path,
        source=source.name,
        headers={name.lower(): value for name, value in signed.headers.items()},
        body=body,
        query=query,
        raw_query=raw_query,
        domain=parts.netloc,
    )


@pytest.mark.parametrize("name", sorted(SOURCES))
@given(seed=st.text(max_size=40), body=st.binary(max_size=200))
@settings(deadline=None)  # the first example imports and compiles; timing is not under test
def test_what_a_source_signs_it_authenticates(name: str, seed: str, body: bytes) -> None:
    source = SOURCES[name]
    secret = source.new_secret(seed)
    url = f"https://hooks.example.com/webhooks/{name}"
    signed = source.sign(method="POST", url=url, body=body, secret=secret, now=NOW)
    source.authenticate(request_for(source, url, body, signed), [secret], NOW, SETTINGS)


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_a_signature_with_another_secret_is_refused(name: str) -> None:
    source = SOURCES[name]
    url = f"https://hooks.example.com/webhooks/{name}"
    signed = source.sign(method="POST", url=url, body=b"{}", secret=source.new_secret("a"), now=NOW)
    request = request_for(source, url, b"{}", signed)
    with pytest.raises(AuthenticationFailed):
        source.authenticate(request, [source.new_secret("b")], NOW, SETTINGS)


@pytest.mark.parametrize("name", sorted(SOURCES))
@given(seed=st.text(max_size=40))
@settings(deadline=None)
def test_new_secrets_are_fit_and_deterministic(name: str, seed: str) -> None:
    source = SOURCES[name]
    secret = source.new_secret(seed)
    assert source.secret_problem(secret) is None
    assert len(secret) >= 32
    assert source.new_secret(seed) == secret
    assert source.new_secret(seed + "x") != secret


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_what_a_source_sends_is_documented(name: str) -> None:
    source = SOURCES[name]
    url = f"https://hooks.example.com/webhooks/{name}"
    signed = source.sign(method="POST", url=url, body=b"{}", secret=source.new_secret("d"), now=NOW)
    documented = {(c.location, c.name.lower()) for c in source.doc.credentials}
    sent = {("header", h.lower()) for h in signed.headers} | {("query", q) for q in signed.query}
    assert sent <= documented
    secret_names = {c.name for c in source.doc.credentials if c.secret}
    assert signed.secret_names <= secret_names


def test_the_registry_is_keyed_by_each_source_name() -> None:
    assert sorted(SOURCES) == ["freshdesk", "generic", "hubspot", "salesforce", "zendesk"]
    assert all(key == source.name for key, source in SOURCES.items())


def test_each_source_setting_belongs_to_one_source_and_keeps_its_variable() -> None:
    claimed = [name for source in SOURCES.values() for name in source.settings_fields]
    assert len(claimed) == len(set(claimed))
    assert set(claimed) <= set(Settings.model_fields)
    assert SOURCES["hubspot"].env_vars() == (
        "HUBSPOT_CLOSED_STAGES",
        "HUBSPOT_OPEN_STAGES",
        "PUBLIC_BASE_URL",
        "SOURCE_FIELDS_HUBSPOT",
    )
    # A setting named after a source is that source's.
    for name in SERVICE_FIELDS:
        assert not any(source in name for source in SOURCES), name


def test_only_salesforce_answers_in_xml() -> None:
    xml = {name for name, source in SOURCES.items() if "xml" in source.doc.answer_content_type}
    assert xml == {"salesforce"}
    assert {name for name, source in SOURCES.items() if source.doc.signs_url} == {"hubspot"}


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_what_a_source_signs_again_it_authenticates(name: str) -> None:
    source = SOURCES[name]
    secret = source.new_secret("again")
    url = f"https://hooks.example.com/webhooks/{name}"
    first = source.sign(method="POST", url=url, body=b"{}", secret=secret, now=NOW - 600)
    again = source.resign(
        method="POST", url=url, body=b"{}", secret=secret, now=NOW, headers=first.headers
    )
    source.authenticate(request_for(source, url, b"{}", again), [secret], NOW, SETTINGS)
    # What identifies the delivery stays; only what is signed anew changes.
    kept = {h: v for h, v in first.headers.items() if again.headers.get(h) == v}
    if name == "generic":
        assert kept == {"webhook-id": first.headers["webhook-id"]}


def test_each_source_is_listed_by_its_name_and_get_source_hands_out_the_same_adapter() -> None:
    import pkgutil

    import masking_unset.sources as package
    from masking_unset.sources import get_source

    # Every source module of the package is registered (the registry names modules, not classes).
    modules = {info.name for info in pkgutil.iter_modules(package.__path__)} - {"base"}
    assert {type(source).__module__.rsplit(".", 1)[1] for source in SOURCES.values()} == modules
    assert len(modules) >= 5
    for name, source in SOURCES.items():
        assert source.name == name
        assert get_source(name) is source
    assert get_source("nosuch") is None
    assert get_source("SOURCES") is None
