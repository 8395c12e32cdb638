"""The service's logger. Structured JSON; never a raw phone number, a secret or a whole event."""

from __future__ import annotations

from aws_lambda_powertools import Logger

logger = Logger(service="masking-unset")
