"""The trail keeper (logic/trail.py) with an in-memory store: one write per event, nothing
outside an event, numbers cut, and a failing store never reaching the event."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence

import pytest

from masking_unset.logic import trail
from masking_unset.logic.trail import TRIGGER_QUEUE, TrailKeeper
from masking_unset.models.budget import Deadline
from masking_unset.models.deepcall import UnsetTarget
from masking_unset.models.events import CloseEvent
from masking_unset.models.hashing import HashKeys
from tests.unit.fakes import settings

KEYS = HashKeys(hashlib.sha256(b"unit test hash key").digest())


class Store:
    """Keeps what is appended; fails when told to."""

    def __init__(self, *, fail: bool = False) -> None:
        self.fail = fail
        self.writes: list[tuple[str, list[dict[str, str | int]], dict[str, str]]] = []

    def append(
        self,
        key: str,
        steps: Sequence[Mapping[str, str | int]],
        *,
        index: Mapping[str, str],
        expires_at: int,
    ) -> None:
        if self.fail:
            raise RuntimeError("table gone")
        self.writes.append((key, [dict(step) for step in steps], dict(index)))


def keeper(store: Store | None) -> TrailKeeper:
    configured = settings(HASH_KEY_SECRET_ID="hash-key")
    return TrailKeeper(store, settings=configured, hash_keys=lambda: KEYS)


def close(**fields: str) -> CloseEvent:
    return CloseEvent.from_document(
        {"ticket_id": "T-1", "mask": "+91 80 4000 1234", **fields}, source=None
    )


def test_the_steps_of_one_event_are_written_once_with_the_ticket_and_keyed_mask() -> None:
    store = Store()
    kept = keeper(store)
    with kept.event(TRIGGER_QUEUE):
        kept.received(close(event_id="e-1"), trigger=TRIGGER_QUEUE, receive_count=2)
        trail.note_target(UnsetTarget(mask="8040001234"))
        trail.step("deepcall", code="ok", http_status=200, latency_ms=12.6)
        trail.step("failed", reason="DeepCall said 8040001234 is unknown")
    [(key, steps, index)] = store.writes
    assert key == "queue:id:e-1"
    assert [step["step"] for step in steps] == ["received", "deepcall", "failed"]
    assert steps[0]["receive_count"] == 2
    assert steps[1]["latency_ms"] == 13
    assert steps[2]["reason"] == "DeepCall said ***1234 is unknown"
    assert index["ticket"] == "queue:T-1"
    assert index["mask_hash"] == KEYS.digest("trail-mask", "+918040001234")


def test_an_event_without_an_id_is_kept_under_its_keyed_hash() -> None:
    store = Store()
    kept = keeper(store)
    with kept.event(TRIGGER_QUEUE):
        kept.received(close(), trigger=TRIGGER_QUEUE)
    [(key, _, _)] = store.writes
    assert key.startswith("queue:hash:")
    plain = hashlib.sha256(b"8040001234").hexdigest()
    assert plain not in key
    assert base64.b64encode(b"8040001234").decode() not in key


def test_steps_outside_an_event_and_events_never_named_are_not_written() -> None:
    store = Store()
    kept = keeper(store)
    trail.step("deepcall", code="ok")  # no event: dropped
    with kept.event(TRIGGER_QUEUE):
        trail.step("failed", code="malformed_record")  # never named (an unreadable body)
    assert store.writes == []


def test_without_a_table_nothing_is_collected() -> None:
    kept = keeper(None)
    assert not kept.enabled
    with kept.event(TRIGGER_QUEUE):
        kept.received(close(event_id="e-2"), trigger=TRIGGER_QUEUE)
        trail.step("deepcall", code="ok")


def test_a_failing_store_is_counted_and_never_raised(caplog: pytest.LogCaptureFixture) -> None:
    store = Store(fail=True)
    kept = keeper(store)
    with kept.event(TRIGGER_QUEUE):
        kept.received(close(event_id="e-3"), trigger=TRIGGER_QUEUE)
    assert "trail not written: RuntimeError" in caplog.text


def test_no_write_is_tried_when_the_invocation_is_about_to_end() -> None:
    store = Store()
    kept = keeper(store)
    with kept.event(TRIGGER_QUEUE, Deadline(lambda: 1000)):
        kept.received(close(event_id="e-4"), trigger=TRIGGER_QUEUE)
    assert store.writes == []
