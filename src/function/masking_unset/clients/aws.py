"""The configuration every AWS client of the container is built with."""

from __future__ import annotations

from typing import TYPE_CHECKING

from masking_unset.models.budget import (
    AWS_CONNECT_TIMEOUT_SECONDS,
    AWS_MAX_ATTEMPTS,
    AWS_READ_TIMEOUT_SECONDS,
)

if TYPE_CHECKING:
    from botocore.config import Config


def aws_client_config(pool_size: int = 10) -> Config:
    """The botocore configuration of every AWS client: standard retries, bounded attempts and
    timeouts (the numbers :func:`masking_unset.models.budget.aws_call_seconds` counts with)."""
    from botocore.config import Config

    return Config(
        retries={"mode": "standard", "total_max_attempts": AWS_MAX_ATTEMPTS},
        connect_timeout=AWS_CONNECT_TIMEOUT_SECONDS,
        read_timeout=AWS_READ_TIMEOUT_SECONDS,
        max_pool_connections=max(10, pool_size),
    )
