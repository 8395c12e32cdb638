"""Every source checks its own secrets when they are loaded: none empty, blank or too short."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from masking_unset.logic.signatures import (
    MIN_STANDARD_WEBHOOKS_KEY_BYTES,
    standard_webhooks_sign,
    verify_standard_webhooks,
)
from masking_unset.models.errors import AuthenticationFailed, PayloadTooLarge
from masking_unset.sources import SOURCES

SHARED_SECRET_SOURCES = ["zendesk", "freshdesk", "hubspot", "salesforce"]


def whsec(key: bytes) -> str:
    return "whsec_" + base64.b64encode(key).decode()


@pytest.mark.parametrize("source", SHARED_SECRET_SOURCES)
@pytest.mark.parametrize("secret", ["", " ", "\t\n  ", "x" * 15, " " * 10 + "y" * 15 + " "])
def test_empty_blank_or_short_shared_secrets_are_unfit(source: str, secret: str) -> None:
    problem = SOURCES[source].secret_problem(secret)
    assert problem is not None
    assert secret.strip() == "" or secret.strip() not in problem


@pytest.mark.parametrize("source", SHARED_SECRET_SOURCES)
def test_a_shared_secret_of_16_characters_is_fit(source: str) -> None:
    assert SOURCES[source].secret_problem("x" * 16) is None


@pytest.mark.parametrize(
    "secret",
    [
        "whsec_",
        "whsec_" + "=" * 4,
        whsec(b"k" * (MIN_STANDARD_WEBHOOKS_KEY_BYTES - 1)),
        "whsec_not base64!",
        "",
        "   ",
    ],
)
def test_unfit_standard_webhooks_secrets(secret: str) -> None:
    assert SOURCES["generic"].secret_problem(secret) is not None


def test_a_standard_webhooks_key_of_24_bytes_is_fit() -> None:
    assert SOURCES["generic"].secret_problem(whsec(b"k" * MIN_STANDARD_WEBHOOKS_KEY_BYTES)) is None
    # The spec's own example secret (24 bytes).
    assert SOURCES["generic"].secret_problem("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") is None


@given(key=st.binary(max_size=MIN_STANDARD_WEBHOOKS_KEY_BYTES - 1), body=st.binary(max_size=50))
def test_a_short_key_verifies_nothing_even_when_it_signed(key: bytes, body: bytes) -> None:
    secret = whsec(key)
    header = standard_webhooks_sign(secret, "msg", 1_700_000_000, body)
    with pytest.raises(AuthenticationFailed):
        verify_standard_webhooks(
            secrets=[secret],
            msg_id="msg",
            timestamp="1700000000",
            signature_header=header,
            body=body,
            now=1_700_000_000,
        )


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_every_source_caps_the_events_of_a_delivery(source: str) -> None:
    SOURCES[source].check_event_count(100)
    with pytest.raises(PayloadTooLarge) as caught:
        SOURCES[source].check_event_count(101)
    assert caught.value.code == "too_many_events"
