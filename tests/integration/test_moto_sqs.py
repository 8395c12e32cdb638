"""The cheap moto SQS of the tests (tests/support/moto_sqs.py) answers as moto's own code does."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from tests.support import moto_sqs
from tests.support.sqs_limits import SqsLimitedEndpoint


def backend_and_queue(aws: SqsLimitedEndpoint, retention: int) -> tuple[Any, str, str]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sqs.models import sqs_backends

    name = f"retention-{uuid.uuid4().hex[:8]}"
    url = aws.client("sqs").create_queue(
        QueueName=name, Attributes={"MessageRetentionPeriod": str(retention)}
    )["QueueUrl"]
    return sqs_backends[DEFAULT_ACCOUNT_ID]["us-east-1"], name, url


def test_the_endpoint_runs_the_cheap_sqs(aws: SqsLimitedEndpoint) -> None:
    from moto.sqs import models

    assert models.unix_time is moto_sqs.unix_time
    assert models.unix_time_millis is moto_sqs.unix_time_millis
    assert set(moto_sqs.originals()) == {"unix_time", "unix_time_millis", "retention"}


def test_the_clock_reads_what_motos_own_clock_reads(aws: SqsLimitedEndpoint) -> None:
    import datetime

    originals = moto_sqs.originals()
    before = originals["unix_time"]()
    cheap = moto_sqs.unix_time()
    after = originals["unix_time"]()
    assert before - 0.001 <= cheap <= after + 0.001
    assert moto_sqs.unix_time_millis() == pytest.approx(originals["unix_time_millis"](), abs=50)
    moment = datetime.datetime(2026, 12, 6, 12, 30, 15, 250_000)
    assert moto_sqs.unix_time(moment) == originals["unix_time"](moment)
    assert moto_sqs.unix_time_millis(moment) == originals["unix_time_millis"](moment)


@pytest.mark.parametrize("age_seconds", [0, 59, 61, 3600])
def test_the_retention_check_decides_as_motos_own(
    aws: SqsLimitedEndpoint, age_seconds: int
) -> None:
    backend, name, url = backend_and_queue(aws, retention=60)
    aws.client("sqs").send_message(QueueUrl=url, MessageBody="kept?")
    [message] = backend.get_queue(name)._messages
    message.sent_timestamp = int((time.time() - age_seconds) * 1000)

    cheap = backend.is_message_valid_based_on_retention_period(name, message)
    own = moto_sqs.originals()["retention"](backend, name, message)

    assert cheap == own == (age_seconds < 60)


def test_a_message_past_its_retention_is_still_not_received(aws: SqsLimitedEndpoint) -> None:
    backend, name, url = backend_and_queue(aws, retention=60)
    sqs = aws.client("sqs")
    sqs.send_message(QueueUrl=url, MessageBody="old")
    [message] = backend.get_queue(name)._messages
    message.sent_timestamp = int((time.time() - 120) * 1000)

    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []
