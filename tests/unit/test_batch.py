"""Batch processing (logic/batch.py) against in-memory fakes: done, parked or handed back."""

from __future__ import annotations

import base64
import hashlib
import json
import random

from masking_unset.logic.batch import Backoff, BatchProcessor
from masking_unset.models.budget import Deadline
from masking_unset.models.errors import UpstreamRejected, UpstreamUnavailable
from masking_unset.models.hashing import HashKeys
from masking_unset.models.queue import ATTR_ERROR_CODE, ATTR_RECEIVE_COUNT, QueueRecord
from tests.unit.fakes import HASH_KEY, FakeDeepCall, FakeQueue, expirer, settings


def record(
    message_id: str, body: object, *, receive_count: int = 1, group_id: str | None = None
) -> QueueRecord:
    text = body if isinstance(body, str) else json.dumps(body)
    return QueueRecord(message_id, f"receipt-{message_id}", text, receive_count, group_id)


def close(index: int) -> dict[str, str]:
    return {"event_id": f"e-{index}", "mask": f"+91 80 4000 {1000 + index}"}


def processor(
    deepcall: FakeDeepCall, dead_letters: FakeQueue, queue: FakeQueue, *, max_concurrency: int = 1
) -> BatchProcessor:
    return BatchProcessor(
        expirer(deepcall),
        dead_letters=dead_letters,
        visibility=queue,
        max_concurrency=max_concurrency,
        backoff=Backoff(30, 900),
        rng=random.Random(7),
    )


def test_given_a_batch_when_every_record_expires_then_none_comes_back() -> None:
    deepcall, dlq, queue = FakeDeepCall(), FakeQueue(), FakeQueue()
    records = [record(f"m-{i}", close(i)) for i in range(4)]
    assert processor(deepcall, dlq, queue, max_concurrency=4).process(records, Deadline()) == []
    assert len(deepcall.calls) == 4
    assert dlq.sent == []


def test_given_a_permanent_failure_then_it_is_parked_with_its_reason_not_handed_back() -> None:
    dlq, queue = FakeQueue(), FakeQueue()
    records = [record("m-1", {"mask": "not a number"}), record("m-2", close(2))]
    assert processor(FakeDeepCall(), dlq, queue).process(records, Deadline()) == []
    [parked] = dlq.sent
    assert parked.attributes[ATTR_ERROR_CODE] == "invalid_number"
    assert parked.dedup_id == "m-1"
    assert queue.delayed == {}


def test_given_an_outage_then_the_record_comes_back_later_with_backoff() -> None:
    deepcall = FakeDeepCall(*[UpstreamUnavailable("down")] * 3)
    dlq, queue = FakeQueue(), FakeQueue()
    failed = processor(deepcall, dlq, queue).process([record("m-1", close(1))], Deadline())
    assert failed == ["m-1"]
    assert dlq.sent == []
    assert 15 <= queue.delayed["receipt-m-1"] <= 30


def test_given_an_unrecognised_answer_on_the_last_delivery_then_it_is_parked() -> None:
    refusal = UpstreamRejected("odd", deepcall_code=4242, http_status=200)
    dlq, queue = FakeQueue(), FakeQueue()
    batch = processor(FakeDeepCall(refusal), dlq, queue)
    assert batch.process([record("m-1", close(1), receive_count=5)], Deadline()) == []
    [parked] = dlq.sent
    assert parked.attributes[ATTR_RECEIVE_COUNT] == "5"
    assert parked.attributes["ErrorMessage"].startswith("gave up after 5 deliveries")


def test_given_an_unrecognised_answer_before_the_last_delivery_then_it_comes_back() -> None:
    refusal = UpstreamRejected("odd", deepcall_code=4242, http_status=200)
    dlq, queue = FakeQueue(), FakeQueue()
    batch = processor(FakeDeepCall(refusal), dlq, queue)
    assert batch.process([record("m-1", close(1), receive_count=2)], Deadline()) == ["m-1"]
    assert dlq.sent == []


def test_given_a_park_that_fails_then_the_record_comes_back_instead() -> None:
    dlq, queue = FakeQueue(failing=True), FakeQueue()
    batch = processor(FakeDeepCall(), dlq, queue)
    assert batch.process([record("m-1", "{not json")], Deadline()) == ["m-1"]


def test_given_a_record_without_message_id_then_it_is_parked_and_never_processed() -> None:
    deepcall, dlq, queue = FakeDeepCall(), FakeQueue(), FakeQueue()
    failed = processor(deepcall, dlq, queue).process([record("", close(1))], Deadline())
    assert failed == []
    assert deepcall.calls == []
    assert dlq.sent[0].attributes[ATTR_ERROR_CODE] == "malformed_record"


def test_a_parked_record_without_message_id_is_deduplicated_by_a_keyed_hash_of_its_body() -> None:
    # Its body holds numbers, and a FIFO queue shows the deduplication id: never a plain hash.
    body = json.dumps(close(1))
    keys = HashKeys(base64.b64decode(HASH_KEY))
    ids = []
    for _ in range(2):
        dlq = FakeQueue(is_fifo=True)
        processor(FakeDeepCall(), dlq, FakeQueue()).process([record("", body)], Deadline())
        ids.append(dlq.sent[0].dedup_id)
    assert ids[0] == ids[1] == keys.digest(body)
    assert ids[0] != hashlib.sha256(body.encode()).hexdigest()


def test_without_a_hash_key_a_parked_record_gets_a_random_deduplication_id() -> None:
    config = settings().model_copy(update={"hash_key_secret_id": None})
    body = json.dumps(close(1))
    ids = []
    for _ in range(2):
        dlq = FakeQueue(is_fifo=True)
        batch = BatchProcessor(
            expirer(FakeDeepCall(), config=config),
            dead_letters=dlq,
            visibility=FakeQueue(),
            max_concurrency=1,
            backoff=Backoff(30, 900),
        )
        batch.process([record("", body)], Deadline())
        ids.append(dlq.sent[0].dedup_id)
    assert ids[0] != ids[1]
    assert hashlib.sha256(body.encode()).hexdigest() not in ids


def test_given_a_fifo_group_when_one_record_comes_back_then_the_rest_of_it_waits() -> None:
    deepcall = FakeDeepCall(*[UpstreamUnavailable("down")] * 3)
    dlq, queue = FakeQueue(), FakeQueue()
    records = [record(f"m-{i}", close(i), group_id="T-1") for i in range(3)]
    assert processor(deepcall, dlq, queue).process(records, Deadline()) == ["m-0", "m-1", "m-2"]
    assert len(deepcall.calls) == 3  # the first record's attempts only


def test_given_no_time_left_then_no_record_is_started() -> None:
    deepcall, dlq, queue = FakeDeepCall(), FakeQueue(), FakeQueue()
    records = [record(f"m-{i}", close(i)) for i in range(2)]
    failed = processor(deepcall, dlq, queue).process(records, Deadline(lambda: 1000))
    assert failed == ["m-0", "m-1"]
    assert deepcall.calls == []


def test_a_deferral_waits_the_time_its_failure_names_not_the_backoff() -> None:
    import random

    from masking_unset.logic.batch import Backoff, Deferral

    deferral, backoff, rng = Deferral(max_seconds=90), Backoff(30, 900), random.Random(7)
    # The rate limit's next slot in 1 s: back within 1-2 s, not the 15-30 s of the backoff.
    assert all(1 <= deferral.seconds(1.0, backoff, 0, rng) <= 2 for _ in range(50))
    # No wait named (a 503 without Retry-After): the backoff's step, jittered.
    assert all(15 <= deferral.seconds(None, backoff, 0, rng) <= 45 for _ in range(50))
    # The open circuit's 20 s left: 20-30 s, never past the cap.
    assert all(20 <= deferral.seconds(20.0, backoff, 3, rng) <= 30 for _ in range(50))
    assert deferral.seconds(3600.0, backoff, 0, rng) == 90
