"""Cold starts resumed from a snapshot, emulated: ``python -m benchmarks.snapstart SPEC_PATH``.

SnapStart initialises a function once, snapshots the process and resumes each new container from
that memory. Here the snapshot is this process after its init (the handler module imported and
the ``before_snapshot`` hook run, no event served), and each restore is a ``fork()``: the child
runs the ``after_restore`` hook and serves one event, as the first invocation of a restored
container does. Lambda's own restore of the snapshot (its "Restore Duration") is not emulated: a
fork costs almost nothing, so these figures are what our code adds on top of it.

``SPEC_PATH`` (JSON, written by :mod:`benchmarks.package`): ``kind`` (webhook or queue),
``events`` (one per restore) and ``result_path``, which receives the seconds from each fork to
its answer and whether every answer was a success.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import types
from collections.abc import Callable
from typing import Any


def _served(kind: str, response: dict[str, Any]) -> bool:
    if kind == "webhook":
        return bool(response["statusCode"] == 200)
    return not response["batchItemFailures"]


def main(argv: list[str]) -> int:
    """Snapshot once, then restore (fork) once per event; exit status 0 if all were served."""
    with open(argv[0], encoding="utf-8") as file:
        spec = json.load(file)
    hooks: dict[str, list[Callable[[], None]]] = {"before": [], "after": []}
    runtime = types.ModuleType("snapshot_restore_py")
    runtime.register_before_snapshot = hooks["before"].append  # type: ignore[attr-defined]
    runtime.register_after_restore = hooks["after"].append  # type: ignore[attr-defined]
    sys.modules[runtime.__name__] = runtime
    module = importlib.import_module(f"masking_unset.handlers.{spec['kind']}")
    from masking_unset_tools.local.lambda_context import LocalLambdaContext

    for hook in hooks["before"]:
        hook()
    seconds, ok = [], True
    for event in spec["events"]:
        read, write = os.pipe()
        started = time.monotonic()
        child = os.fork()
        if child == 0:  # the restored copy
            os.close(read)
            for hook in hooks["after"]:
                hook()
            served = _served(spec["kind"], module.lambda_handler(event, LocalLambdaContext()))
            os.write(write, json.dumps([time.monotonic(), served]).encode())
            os._exit(0)
        os.close(write)
        with os.fdopen(read, "rb") as pipe:
            answer = pipe.read()
        os.waitpid(child, 0)
        if not answer:
            ok = False
            continue
        done, served = json.loads(answer)
        seconds.append(done - started)
        ok = ok and served
    with open(spec["result_path"], "w", encoding="utf-8") as file:
        json.dump({"seconds": seconds, "ok": ok}, file)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
