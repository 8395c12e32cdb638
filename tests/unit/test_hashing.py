"""The keyed hash of everything stored about a number (models/hashing.py), its key's checks, and
what the expiry logic does with it: keyed stored keys, no fallback, rotation."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from masking_unset.config import Settings
from masking_unset.logic.expiry import resolve_numbers
from masking_unset.logic.idempotency import idempotency_key, idempotency_keys
from masking_unset.models.errors import ConfigurationError
from masking_unset.models.events import CloseEvent, Outcome
from masking_unset.models.hashing import HashKeys, keyed_digest, parse_hash_keys
from masking_unset.models.tickets import TicketState, epoch_ms, ticket_key, ticket_keys
from tests.unit.fakes import (
    ENV,
    FakeDeepCall,
    FakeGuard,
    FakeSecrets,
    FakeTicketStates,
    expirer,
    settings,
)

KEYS = st.binary(min_size=32, max_size=64)
PARTS = st.lists(
    st.text(alphabet=st.sampled_from('ab\x1f",[]\\'), max_size=8), min_size=1, max_size=5
) | st.lists(st.text(max_size=30), min_size=1, max_size=5)
NUMBER = st.from_regex(r"[6-9][0-9]{9}", fullmatch=True)
T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def plain_hashes(text: str) -> set[str]:
    """Every encoding of a plain SHA-256 of ``text`` the product ever stored or emitted."""
    digest = hashlib.sha256(text.encode())
    return {digest.hexdigest(), digest.hexdigest()[:40], b64(digest.digest())}


def variants(national: str) -> list[str]:
    """The forms a number was written in: national, digits with the country code, E.164."""
    return [national, "91" + national, "+91" + national]


def queued(**fields: object) -> CloseEvent:
    base: dict[str, object] = {"source": "queue", "ticket_id": "T-1", "mask": "+91 98765 43210"}
    return CloseEvent.model_validate({**base, **fields})


# -- the keyed hash -------------------------------------------------------------------------


@given(key=KEYS, parts=PARTS)
def test_the_digest_is_deterministic_per_key(key: bytes, parts: list[str]) -> None:
    assert keyed_digest(key, *parts) == keyed_digest(bytes(key), *parts)
    assert HashKeys(key).digest(*parts) == keyed_digest(key, *parts)


@given(first=KEYS, second=KEYS, parts=PARTS)
def test_different_keys_give_different_digests(
    first: bytes, second: bytes, parts: list[str]
) -> None:
    if first == second:
        return
    assert keyed_digest(first, *parts) != keyed_digest(second, *parts)


@given(key=KEYS, number=NUMBER)
def test_no_digest_is_a_plain_hash_of_any_form_of_the_number(key: bytes, number: str) -> None:
    for form in variants(number):
        for text in (form, f"mask={form}"):
            assert keyed_digest(key, text) not in plain_hashes(text)
            assert keyed_digest(key, "queue", "T-1", text) not in plain_hashes(
                "\x1f".join(("queue", "T-1", text))
            )


@given(key=KEYS, parts=PARTS)
def test_parts_are_not_run_together(key: bytes, parts: list[str]) -> None:
    # ("ab", "c") and ("a", "bc") are two different events, whatever characters they hold.
    if len(parts) < 2 or not parts[0]:
        return
    moved = [parts[0][:-1], parts[0][-1] + parts[1], *parts[2:]]
    assert keyed_digest(key, *parts) != keyed_digest(key, *moved)


@given(current=KEYS, previous=st.lists(KEYS, max_size=3))
def test_digests_are_the_current_key_first_then_each_previous_one(
    current: bytes, previous: list[bytes]
) -> None:
    keys = HashKeys(current, *previous)
    found = keys.digests("x")
    assert found[0] == keyed_digest(current, "x") == keys.digest("x")
    expected = [keyed_digest(k, "x") for k in dict.fromkeys([current, *previous])]
    assert list(found) == expected


def test_the_keys_never_show_in_a_repr() -> None:
    key = b"s" * 32
    shown = repr(HashKeys(key, b"p" * 32))
    assert "s" * 8 not in shown
    assert b64(key) not in shown
    assert "2 key(s)" in shown


# -- the secret -----------------------------------------------------------------------------


@given(key=KEYS, previous=st.lists(KEYS, max_size=3))
def test_the_secret_gives_its_keys(key: bytes, previous: list[bytes]) -> None:
    parsed = parse_hash_keys({"key": b64(key), "previous_keys": [b64(p) for p in previous]})
    assert parsed.digest("x") == keyed_digest(key, "x")
    assert set(parsed.digests("x")) == {keyed_digest(k, "x") for k in [key, *previous]}


SHORT = b64(b"s" * 31)
NOT_BASE64 = "not base64 at all!" * 4


@pytest.mark.parametrize(
    ("document", "problem", "secret"),
    [
        ({}, '"key" is missing', None),
        ({"key": ""}, '"key" is missing', None),
        ({"key": 42}, '"key" is missing or not text', None),
        ({"key": NOT_BASE64}, '"key" is not base64', NOT_BASE64),
        ({"key": SHORT}, '"key" is shorter than 32 bytes', SHORT),
        ({"key": b64(b"k" * 32), "previous_keys": SHORT}, "must be a list", SHORT),
        (
            {"key": b64(b"k" * 32), "previous_keys": [b64(b"p" * 32), SHORT]},
            '"previous_keys"[1] is shorter than 32 bytes',
            SHORT,
        ),
    ],
)
def test_an_unusable_secret_names_the_variable_never_the_value(
    document: dict[str, object], problem: str, secret: str | None
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_hash_keys(document)
    message = caught.value.message
    assert caught.value.code == "configuration_error"
    assert "HASH_KEY_SECRET_ID" in message
    assert problem in message
    if secret is not None:
        assert secret not in message
        assert secret[:12] not in message


# -- the setting ----------------------------------------------------------------------------


@pytest.mark.parametrize("table", ["IDEMPOTENCY_TABLE", "TICKET_STATE_TABLE"])
def test_a_table_without_the_hash_key_is_refused(table: str) -> None:
    env = {k: v for k, v in ENV.items() if k != "HASH_KEY_SECRET_ID"}
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({**env, table: "t"})
    assert caught.value.code == "configuration_error"
    assert "HASH_KEY_SECRET_ID" in caught.value.message
    assert table in caught.value.message


def test_without_tables_no_hash_key_is_needed() -> None:
    env = {k: v for k, v in ENV.items() if k != "HASH_KEY_SECRET_ID"}
    assert Settings.from_env(env).hash_key_secret_id is None


def test_no_key_means_no_hash_never_a_plain_one() -> None:
    with pytest.raises(ConfigurationError, match="HASH_KEY_SECRET_ID"):
        idempotency_key(queued(), None)
    with pytest.raises(ConfigurationError, match="HASH_KEY_SECRET_ID"):
        ticket_key("queue", None, None)
    # An event id, or a ticket id, needs no hash.
    assert idempotency_key(queued(event_id="e-1"), None) == "queue:id:e-1"
    assert ticket_key("queue", "T-1", None) == "queue#ticket#T-1"


def test_the_expirer_refuses_to_store_without_the_variable() -> None:
    # The settings refuse this already; the expirer does not rely on it.
    config = settings().model_copy(update={"hash_key_secret_id": None})
    deepcall = FakeDeepCall()
    with pytest.raises(ConfigurationError, match="HASH_KEY_SECRET_ID"):
        expirer(deepcall, guard=FakeGuard(), config=config).expire(queued())
    assert deepcall.calls == []


def test_an_unusable_key_stops_the_event_before_any_call() -> None:
    deepcall = FakeDeepCall()
    secrets = FakeSecrets({"deepcall": {"ssid": "s"}, "hash-key": {"key": SHORT}})
    with pytest.raises(ConfigurationError, match="HASH_KEY_SECRET_ID"):
        expirer(deepcall, guard=FakeGuard(), secrets=secrets).expire(queued())
    assert deepcall.calls == []


def test_without_tables_nothing_reads_the_key() -> None:
    secrets = FakeSecrets()
    result = expirer(FakeDeepCall(), secrets=secrets).expire(queued())
    assert result.status is Outcome.UNSET
    assert "hash-key" not in {read for read, _ in secrets.reads}
    assert secrets.reads  # the DeepCall secret was read: the check can see reads


# -- stored keys under two keys, and rotation -----------------------------------------------


def secrets_with(key: bytes, *previous: bytes) -> FakeSecrets:
    document = {"key": b64(key), "previous_keys": [b64(p) for p in previous]}
    return FakeSecrets({"deepcall": {"ssid": "s"}, "hash-key": document})


OLD, NEW = b"o" * 32, b"n" * 32


def test_the_same_event_under_two_keys_is_stored_under_two_keys() -> None:
    event = queued(ticket_id=None, occurred_at=T0)
    stored: list[set[str]] = []
    for key in (OLD, NEW):
        guard, states = FakeGuard(), FakeTicketStates()
        expirer(FakeDeepCall(), guard=guard, states=states, secrets=secrets_with(key)).expire(event)
        stored.append({*guard.done, *states.states})
    assert len(stored[0]) == len(stored[1]) == 2  # an idempotency key and a ticket state key
    assert stored[0].isdisjoint(stored[1])


def test_after_a_rotation_a_repeat_recorded_under_the_previous_key_is_a_duplicate() -> None:
    event = queued(occurred_at=T0)
    guard, states, deepcall = FakeGuard(), FakeTicketStates(), FakeDeepCall()
    expirer(deepcall, guard=guard, states=states, secrets=secrets_with(OLD)).expire(event)
    again = expirer(deepcall, guard=guard, states=states, secrets=secrets_with(NEW, OLD)).expire(
        event
    )
    assert (again.status, again.first_status) == (Outcome.DUPLICATE, Outcome.UNSET)
    assert len(deepcall.calls) == 1


def test_after_a_rotation_without_the_previous_key_the_repeat_is_called_again() -> None:
    # What "previous_keys" is for: without it the old record is not found.
    event = queued(occurred_at=T0)
    guard, deepcall = FakeGuard(), FakeDeepCall()
    expirer(deepcall, guard=guard, secrets=secrets_with(OLD)).expire(event)
    again = expirer(deepcall, guard=guard, secrets=secrets_with(NEW)).expire(event)
    assert again.status is Outcome.UNSET
    assert len(deepcall.calls) == 2


def test_after_a_rotation_a_newer_state_under_the_previous_key_makes_an_event_stale() -> None:
    # No ticket id: the state itself is keyed by a hash of the target.
    states, deepcall = FakeTicketStates(), FakeDeepCall()
    newer = queued(ticket_id=None, occurred_at=T0.replace(hour=13), event_id="newer")
    expirer(deepcall, states=states, secrets=secrets_with(OLD)).expire(newer)
    older = queued(ticket_id=None, occurred_at=T0, event_id="older")
    result = expirer(deepcall, states=states, secrets=secrets_with(NEW, OLD)).expire(older)
    assert result.status is Outcome.STALE
    assert len(deepcall.calls) == 1


def test_after_a_rotation_a_retry_of_a_failed_claim_is_let_through() -> None:
    # The claim recorded under the old key's event key, its call failed: the same event, now
    # keyed under the new key, is the same event to the ticket state.
    event = queued(occurred_at=T0)
    old_key = idempotency_key(event, resolve_numbers(event, settings()), HashKeys(OLD))
    state = TicketState(epoch_ms(T0), event.action, old_key, applied=False, lease_until=0.0)
    states = FakeTicketStates({ticket_key("queue", "T-1", None): state})
    deepcall = FakeDeepCall()
    result = expirer(deepcall, states=states, secrets=secrets_with(NEW, OLD)).expire(event)
    assert result.status is Outcome.UNSET
    assert len(deepcall.calls) == 1
    # ... which it would not be without the previous key.
    states = FakeTicketStates({ticket_key("queue", "T-1", None): state})
    result = expirer(FakeDeepCall(), states=states, secrets=secrets_with(NEW)).expire(event)
    assert result.status is Outcome.STALE


def test_keys_are_listed_newest_first() -> None:
    event = queued(ticket_id=None)
    keys = HashKeys(NEW, OLD)
    target_keys = ticket_keys("queue", None, None, keys)
    assert idempotency_keys(event, None, keys)[0] == idempotency_key(event, None, HashKeys(NEW))
    assert idempotency_keys(event, None, keys)[1] == idempotency_key(event, None, HashKeys(OLD))
    assert target_keys == (
        ticket_key("queue", None, None, HashKeys(NEW)),
        ticket_key("queue", None, None, HashKeys(OLD)),
    )
