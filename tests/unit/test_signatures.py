"""Standard Webhooks v1 verification (the ``generic`` source)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook

from masking_unset.logic.signatures import (
    MAX_TIMESTAMP_DIGITS,
    parse_iso_time,
    parse_unix_time,
    standard_webhooks_sign,
    verify_standard_webhooks,
)
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
        ({"timestamp": "16142653.30"}, "invalid_timestamp"),
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


# --- timestamp headers: strict ASCII digits, bounded, never anything but a 401 ----------------

HOSTILE_TIMESTAMPS = [
    "9" * 400,
    "9" * 5000,
    "²",  # str.isdigit() accepts it, int() does not
    "\u0661\u0666\u0661\u0664\u0662\u0666\u0665\u0663\u0663\u0660",  # int() reads these
    "-1614265330",
    "+1614265330",
    " 1614265330",
    "1614265330 ",
    "1_614_265_330",
    "",
    "\ud800",
]


@pytest.mark.parametrize("timestamp", HOSTILE_TIMESTAMPS)
def test_hostile_unix_timestamps_are_refused_with_a_specific_code(timestamp: str) -> None:
    with pytest.raises(AuthenticationFailed) as caught:
        parse_unix_time(timestamp, header="webhook-timestamp")
    assert caught.value.code == "invalid_timestamp"
    assert timestamp.strip() == "" or timestamp not in caught.value.message


@pytest.mark.parametrize("timestamp", [t for t in HOSTILE_TIMESTAMPS if t])
def test_hostile_webhook_timestamp_is_a_401_before_any_signature_check(timestamp: str) -> None:
    with pytest.raises(AuthenticationFailed) as caught:
        verify(timestamp=timestamp)
    assert caught.value.code == "invalid_timestamp"


def test_unix_time_reads_seconds_and_milliseconds() -> None:
    assert parse_unix_time("1614265330", header="h") == 1614265330.0
    assert parse_unix_time("1614265330123", header="h", milliseconds=True) == 1614265330.123
    assert parse_unix_time("0" * MAX_TIMESTAMP_DIGITS, header="h") == 0.0
    with pytest.raises(AuthenticationFailed):
        parse_unix_time("1" * (MAX_TIMESTAMP_DIGITS + 1), header="h")


@given(text=st.text(max_size=40), milliseconds=st.booleans())
def test_unix_time_parser_returns_the_digits_or_refuses(text: str, milliseconds: bool) -> None:
    ascii_digits = text.isascii() and text.isdigit() and len(text) <= MAX_TIMESTAMP_DIGITS
    if not ascii_digits:
        with pytest.raises(AuthenticationFailed) as caught:
            parse_unix_time(text, header="h", milliseconds=milliseconds)
        assert caught.value.code == "invalid_timestamp"
        return
    value = parse_unix_time(text, header="h", milliseconds=milliseconds)
    assert value == (int(text) / 1000 if milliseconds else int(text))


@given(
    moment=st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        # ISO-8601 offsets are whole minutes (Python's sub-minute offsets don't round-trip).
        timezones=st.integers(min_value=-23 * 60, max_value=23 * 60).map(
            lambda minutes: timezone(timedelta(minutes=minutes))
        ),
    )
)
def test_iso_time_parser_reads_any_offset(moment: datetime) -> None:
    assert parse_iso_time(moment.isoformat(), header="h") == moment.timestamp()


@given(text=st.text(max_size=80))
def test_iso_time_parser_returns_a_time_or_refuses(text: str) -> None:
    code, value = None, 0.0
    try:
        value = parse_iso_time(text, header="h")
    except AuthenticationFailed as exc:
        code = exc.code
    assert code in {None, "invalid_timestamp"}
    assert math.isfinite(value)


@pytest.mark.parametrize(
    "timestamp",
    ["9" * 400, "²", "2024-01-01T00:00:00" + "0" * 5000, "99999-01-01T00:00:00Z", "\ud800"],
)
def test_hostile_iso_timestamps_are_refused(timestamp: str) -> None:
    with pytest.raises(AuthenticationFailed) as caught:
        parse_iso_time(timestamp, header="X-Zendesk-Webhook-Signature-Timestamp")
    assert caught.value.code == "invalid_timestamp"


@given(
    timestamp=st.one_of(st.text(max_size=30), st.from_regex(r"\A[0-9]{1,40}\Z")),
    header=st.text(max_size=60),
)
def test_any_header_text_verifies_or_is_refused(timestamp: str, header: str) -> None:
    # Nothing an unsigned caller sends may raise anything but AuthenticationFailed.
    with pytest.raises(AuthenticationFailed):
        verify(timestamp=timestamp, header=header or None)


# What the spec authors' library (standardwebhooks) does not do, which the project keeps.


def raw_v1(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    """The spec's v1 signature computed independently of both the library and our code."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def test_official_vector_is_what_the_library_signs() -> None:
    when = datetime.fromtimestamp(TIMESTAMP, tz=UTC)
    assert Webhook(SECRET).sign(MSG_ID, when, BODY.decode()) == SIGNATURE
    assert standard_webhooks_sign(SECRET, MSG_ID, TIMESTAMP, BODY) == SIGNATURE


def test_a_body_that_is_not_utf8_is_verified_over_its_raw_bytes() -> None:
    body = b'{"note": "\xff\xfe"}'
    with pytest.raises(UnicodeDecodeError):  # why the library cannot serve this body
        Webhook(SECRET).verify(body, {}, json_parse=False)
    verify(body=body, header=raw_v1(SECRET, MSG_ID, str(TIMESTAMP), body))
    with pytest.raises(AuthenticationFailed):
        verify(body=body + b" ", header=raw_v1(SECRET, MSG_ID, str(TIMESTAMP), body))


def test_a_timestamp_with_leading_zeros_is_signed_as_sent() -> None:
    timestamp = "00" + str(TIMESTAMP)
    verify(timestamp=timestamp, header=raw_v1(SECRET, MSG_ID, timestamp, BODY))
    assert standard_webhooks_sign(SECRET, MSG_ID, TIMESTAMP, BODY) != raw_v1(
        SECRET, MSG_ID, timestamp, BODY
    )


@pytest.mark.parametrize("odd", ["v1", "v1,a,b", "v1,!!!not-base64", "v1,abc"])
def test_malformed_signature_entries_are_skipped_not_raised(odd: str) -> None:
    now = int(time.time())  # the library reads its own clock; ours is given this one
    header = raw_v1(SECRET, MSG_ID, str(now), BODY)
    headers = {"webhook-id": MSG_ID, "webhook-timestamp": str(now)}
    with pytest.raises((ValueError, binascii.Error)):  # why the library's verify is not used
        Webhook(SECRET).verify(BODY, headers | {"webhook-signature": f"{odd} {header}"})
    verify(timestamp=str(now), now=now, header=f"{odd} {header}")
    with pytest.raises(AuthenticationFailed):
        verify(timestamp=str(now), now=now, header=odd)
