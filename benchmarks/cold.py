"""One cold start, in a fresh interpreter: ``python -m benchmarks.cold SPEC_PATH``.

``SPEC_PATH`` is a JSON file written by :mod:`benchmarks.run`. With ``"kind": "webhook"`` or
``"queue"`` it imports that handler and serves the event in the file; with ``"kind": "floor"``
it does only what no implementation can avoid: import boto3, create the Secrets Manager client,
read the secret, send one unset with requests. ``"kind": "libraries"`` is the floor after
importing the other libraries the function cannot serve an event without (:data:`LIBRARIES`),
and nothing more: what is left above it is this code's. Each kind then writes
``time.monotonic()`` (a clock shared by all processes on Linux) into the file named by
``"done_path"``, so the parent measures from spawn to answer and interpreter teardown, which
Lambda never waits for, is left out.

Only the standard library is imported before the measured work.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

# The modules the function needs from its other required libraries: pydantic's BaseModel and
# the fields, validators and types its models are written with, Powertools (its package imports
# Logger and Metrics) with its parameters utility (the secret cache), and phonenumbers. Imported
# only: no model class, no logger, no parse.
LIBRARIES = (
    "pydantic.main",
    "pydantic.fields",
    "pydantic.functional_validators",
    "pydantic.types",
    "aws_lambda_powertools",
    "aws_lambda_powertools.utilities.parameters",
    "phonenumbers",
)


def _handler(spec: dict[str, Any]) -> bool:
    import importlib

    module = importlib.import_module(f"masking_unset.handlers.{spec['kind']}")
    from masking_unset_tools.local.lambda_context import LocalLambdaContext

    response = module.lambda_handler(spec["event"], LocalLambdaContext())
    if spec["kind"] == "webhook":
        return bool(response["statusCode"] == 200)
    return not response["batchItemFailures"]


def _floor(spec: dict[str, Any]) -> bool:
    import boto3

    from masking_unset_tools.local.lambda_context import LocalLambdaContext

    LocalLambdaContext()  # the runtime hands every function a context; keep the sides equal
    client = boto3.client("secretsmanager")
    secret = json.loads(client.get_secret_value(SecretId=spec["secret_id"])["SecretString"])
    import requests

    response = requests.post(spec["url"], json={**secret, **spec["body"]}, timeout=(3.05, 5.0))
    return response.status_code == 200 and response.json().get("status") == "success"


def _libraries(spec: dict[str, Any]) -> bool:
    import importlib

    for name in LIBRARIES:
        importlib.import_module(name)
    return _floor(spec)


def main(argv: list[str]) -> int:
    """Run the spec's cold start; exit status 0 if the event was served successfully."""
    with open(argv[0], encoding="utf-8") as file:
        spec = json.load(file)
    kinds = {"floor": _floor, "libraries": _libraries}
    ok = kinds.get(spec["kind"], _handler)(spec)
    done = time.monotonic()
    with open(spec["done_path"], "w", encoding="utf-8") as file:
        json.dump({"done": done, "ok": ok}, file)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
