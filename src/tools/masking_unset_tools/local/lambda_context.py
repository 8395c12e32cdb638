"""A Lambda context for running the handlers outside Lambda (tests, local runs, benchmarks)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field


@dataclass
class LocalLambdaContext:
    """The attributes of ``LambdaContext`` the handlers and Powertools read."""

    function_name: str = "masking-unset-local"
    memory_limit_in_mb: int = 256
    timeout_seconds: float = 30.0
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/masking-unset-local"
    log_stream_name: str = "local"
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        """A well-formed ARN for a local function."""
        return f"arn:aws:lambda:us-east-1:000000000000:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before this invocation would time out."""
        left = self.timeout_seconds - (time.monotonic() - self.started)
        return max(0, int(left * 1000))
