"""Standard Webhooks v1 verification (the ``generic`` source)."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from masking_unset.logic.signatures import standard_webhooks_sign, verify_standard_webhooks
from masking_unset.models.errors import AuthenticationFailed

# The official vector from the Standard Webhooks specification.
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TIMESTAMP = 1614265330
BODY = b'{"test": 2432232314}'
SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def verify(
    *,
    secrets: list[str] | None = None,
    msg_id: str | None = MSG_ID,
    timestamp: str | None = str(TIMESTAMP),
    header: str | None = SIGNATURE,
    body: bytes = BODY,
    now: float = TIMESTAMP,
) -> None:
    verify_standard_webhooks(
        secrets=secrets or [SECRET],
        msg_id=msg_id,
        timestamp=timestamp,
        signature_header=header,
        body=body,
        now=now,
    )


def test_official_vector_signs_and_verifies() -> None:
    assert standard_webhooks_sign(SECRET, MSG_ID, TIMESTAMP, BODY) == SIGNATURE
    verify()


def test_any_matching_v1_entry_passes_and_unknown_versions_are_ignored() -> None:
    other = standard_webhooks_sign("whsec_" + base64.b64encode(b"x" * 24).decode(), "m", 1, b"")
    verify(header=f"v1a,abc v2,{SIGNATURE[3:]} {other} {SIGNATURE}")


def test_rotated_secret_list_passes_when_any_secret_matches() -> None:
    old = "whsec_" + base64.b64encode(b"old-secret-bytes").decode()
    verify(secrets=[old, "not base64!", SECRET])


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"header": None}, "missing_signature"),
        ({"msg_id": ""}, "missing_signature"),
        ({"timestamp": None}, "missing_signature"),
        ({"timestamp": "16142653.30"}, "invalid_signature"),
        ({"header": "v2," + SIGNATURE[3:]}, "invalid_signature"),
        ({"now": TIMESTAMP + 301}, "stale_signature"),
        ({"now": TIMESTAMP - 301}, "stale_signature"),
        ({"body": BODY + b" "}, "invalid_signature"),
    ],
)
def test_rejections_carry_a_specific_code(kwargs: dict[str, object], code: str) -> None:
    with pytest.raises(AuthenticationFailed) as caught:
        verify(**kwargs)  # type: ignore[arg-type]
    assert caught.value.code == code


def test_window_edges_are_inclusive() -> None:
    verify(now=TIMESTAMP + 300)
    verify(now=TIMESTAMP - 300)


@given(body=st.binary(max_size=200))
def test_tampered_body_never_verifies(body: bytes) -> None:
    if body == BODY:
        return
    with pytest.raises(AuthenticationFailed):
        verify(body=body)


@given(delta=st.integers(min_value=-(10**6), max_value=10**6).filter(lambda d: d != 0))
def test_tampered_timestamp_never_verifies(delta: int) -> None:
    ts = TIMESTAMP + delta
    with pytest.raises(AuthenticationFailed):
        verify(timestamp=str(ts), now=ts)


@given(key=st.binary(min_size=1, max_size=64))
def test_other_secret_never_verifies(key: bytes) -> None:
    secret = "whsec_" + base64.b64encode(key).decode()
    if secret == SECRET:
        return
    with pytest.raises(AuthenticationFailed):
        verify(secrets=[secret])


@given(msg_id=st.text(min_size=1, max_size=40).filter(lambda s: s != MSG_ID))
def test_other_message_id_never_verifies(msg_id: str) -> None:
    with pytest.raises(AuthenticationFailed):
        verify(msg_id=msg_id)


@given(
    key=st.binary(min_size=24, max_size=64), body=st.binary(max_size=300), ts=st.integers(0, 2**40)
)
def test_whatever_we_sign_verifies(key: bytes, body: bytes, ts: int) -> None:
    secret = "whsec_" + base64.b64encode(key).decode()
    header = standard_webhooks_sign(secret, "evt", ts, body)
    verify(secrets=[secret], msg_id="evt", timestamp=str(ts), header=header, body=body, now=ts)


def test_any_matches_compares_every_pair() -> None:
    from masking_unset.logic.signatures import any_matches

    assert any_matches(["a", "b"], ["x", "b"])
    assert not any_matches(["a", "b"], ["x", "y"])
    assert not any_matches([], ["x"])
    assert not any_matches(["a"], [])
