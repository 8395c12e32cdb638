"""moto's SQS with the same answers at a fraction of the CPU: the tests' queues hold hundreds of
messages (the soak and fleet tests), where moto 5's own bookkeeping dominates the whole suite.

moto reads its clock through datetime arithmetic (a naive UTC ``now`` minus the epoch), and
checks each message it hands out against the queue's retention period by building every
attribute of the queue - three times - which counts the visible, delayed and in-flight messages,
reading that clock twice per message. A receive from a queue of N messages thus reads the clock
about 20 N times per message received: receiving every message of a queue is quadratic.

:func:`cheap_moto_sqs` replaces two things, once per process, keeping what moto answers:

- the clock of moto's SQS: ``time.time()``, the same seconds since the epoch (moto's value to
  the microsecond);
- the retention check: it reads the queue's ``MessageRetentionPeriod`` itself, the value
  moto's check looks up among all the attributes it builds.

tests/integration/test_moto_sqs.py compares both with moto's originals.
"""

from __future__ import annotations

import threading
import time
from typing import Any

__all__ = ["cheap_moto_sqs"]

_lock = threading.Lock()
_ORIGINALS: dict[str, Any] = {}


def unix_time(dt: Any = None) -> float:
    """moto's ``unix_time``: seconds since the epoch, now or at the naive UTC ``dt``."""
    if dt is None:
        return time.time()
    return float(_ORIGINALS["unix_time"](dt))


def unix_time_millis(dt: Any = None) -> float:
    """moto's ``unix_time_millis``: milliseconds since the epoch, now or at ``dt``."""
    return unix_time(dt) * 1000.0


def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
    """moto's check that ``message`` is still within its queue's retention period."""
    retention_period = self.get_queue(queue_name).message_retention_period
    retain_until = retention_period + message.sent_timestamp / 1000
    return bool(retain_until > unix_time())


def cheap_moto_sqs() -> None:
    """Replace moto's SQS clock and retention check (idempotent; moto is a dev dependency)."""
    from moto.sqs import models

    with _lock:
        if _ORIGINALS:
            return
        _ORIGINALS["unix_time"] = models.unix_time
        _ORIGINALS["unix_time_millis"] = models.unix_time_millis
        _ORIGINALS["retention"] = models.SQSBackend.is_message_valid_based_on_retention_period
        models.unix_time = unix_time
        models.unix_time_millis = unix_time_millis
        models.SQSBackend.is_message_valid_based_on_retention_period = (
            is_message_valid_based_on_retention_period
        )


def originals() -> dict[str, Any]:
    """moto's own functions that :func:`cheap_moto_sqs` replaced (empty before it ran)."""
    return dict(_ORIGINALS)
