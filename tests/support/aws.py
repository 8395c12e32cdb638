"""Changing what the local AWS endpoint holds, as an operator would between two invocations."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from masking_unset_tools.local.stack import LocalStack


def put_secret(stack: LocalStack, secret_id: str, value: Mapping[str, Any]) -> None:
    """Replace a secret's value (rotation)."""
    client = stack.aws.client("secretsmanager")
    client.put_secret_value(SecretId=secret_id, SecretString=json.dumps(value))
