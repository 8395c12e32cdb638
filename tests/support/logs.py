"""The service's log lines as Lambda ships them, for tests that read what was logged."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from masking_unset.observability import logger


@contextmanager
def captured_logs(level: str | None = None) -> Iterator[io.StringIO]:
    """Every log record of the service, through its real formatter, while the block runs;
    ``level`` lowers the threshold for the block (``"DEBUG"`` to see everything)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    previous = logger.log_level
    if level is not None:
        logger.setLevel(level)
    try:
        yield stream
    finally:
        logging.getLogger(logger.name).removeHandler(handler)  # Powertools has no removeHandler
        logger.setLevel(previous)
