"""Where a running ``masking-unset serve`` publishes its local stack, for ``local env``.

``serve`` writes one small JSON file (``serve-<pid>.json``: its URL and the variables that point
at its stack) on start and removes it on exit; ``local env`` reads it from another process. The
file holds names, URLs and the moto endpoint's dummy credentials, never a secret's value.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

STATE_DIR_VARIABLE: Final = "MASKING_UNSET_STATE_DIR"


def state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The per-user folder of the state files: ``$MASKING_UNSET_STATE_DIR``, else
    ``$XDG_RUNTIME_DIR/masking-unset``, else ``~/.cache/masking-unset/run``."""
    environ = os.environ if environ is None else environ
    if chosen := environ.get(STATE_DIR_VARIABLE, "").strip():
        return Path(chosen)
    if runtime := environ.get("XDG_RUNTIME_DIR", "").strip():
        return Path(runtime) / "masking-unset"
    cache = environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(cache) / "masking-unset" / "run"


@dataclass(frozen=True)
class RunningStack:
    """What one running ``serve`` published."""

    pid: int
    url: str  # the webhook server's base URL
    started: float
    variables: dict[str, str]  # name -> value, pointing at the stack
    path: Path

    def exports(self) -> list[str]:
        """``export NAME=value`` lines, quoted for a POSIX shell."""
        return [f"export {name}={shlex.quote(value)}" for name, value in self.variables.items()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


@contextmanager
def published(url: str, variables: Mapping[str, str], folder: Path | None = None) -> Iterator[Path]:
    """Publish this process's local stack for the duration of the block."""
    folder = folder or state_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    pid = os.getpid()
    path = folder / f"serve-{pid}.json"
    document = {"pid": pid, "url": url, "started": time.time(), "variables": dict(variables)}
    # Written whole then renamed: a reader never sees half a file.
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".serve-", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(document, stream, indent=2)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    try:
        yield path
    finally:
        with contextlib.suppress(OSError):
            path.unlink()


def _read(path: Path) -> RunningStack | None:
    try:
        if path.stat().st_uid != os.getuid():  # planted by someone else: not this user's serve
            return None
        document: Any = json.loads(path.read_text(encoding="utf-8"))
        stack = RunningStack(
            pid=int(document["pid"]),
            url=str(document["url"]),
            started=float(document["started"]),
            variables={str(k): str(v) for k, v in dict(document["variables"]).items()},
            path=path,
        )
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    return stack


def running_stacks(folder: Path | None = None) -> list[RunningStack]:
    """The local stacks of ``serve`` processes still running, newest first. The file of one
    that ended without removing it (killed) is removed."""
    folder = folder or state_dir()
    found = []
    for path in sorted(folder.glob("serve-*.json")):
        stack = _read(path)
        if stack is None:
            continue
        if not _alive(stack.pid):
            with contextlib.suppress(OSError):
                path.unlink()
            continue
        found.append(stack)
    return sorted(found, key=lambda stack: stack.started, reverse=True)
