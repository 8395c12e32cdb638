"""botocore's data files read once per test process, not once per session.

Every botocore session gets its own :class:`botocore.loaders.Loader`, which parses the data files
again: the 1.2 MB ``endpoints.json`` and each service's model, a quarter of a second of CPU for
the first client of every session. A Lambda container pays that once; the tests make a new
deployment (new sessions, new clients) per test and per local stack, and paid it thousands of
times: more than half the CPU of a test file such as tests/integration/test_cli_invoke.py.

:func:`share_botocore_loaders` gives every session created with the same data path
(``AWS_DATA_PATH``) the same loader, as botocore itself shares one loader between all the
clients of a session: the data is parsed once and read, never changed, by every client. boto3
adds its own data folder to its session's loader; the shared loader keeps one copy of each folder.
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["share_botocore_loaders"]

_lock = threading.Lock()
_loaders: dict[str | None, Any] = {}
_original: list[Any] = []


class _Folders(list[str]):
    """A loader's search path that every boto3 session appends its data folder to: kept once."""

    def append(self, folder: str) -> None:
        if folder not in self:
            super().append(folder)


def shared_loader(search_path_string: str | None = None) -> Any:
    """The one loader of this process for ``search_path_string`` (``AWS_DATA_PATH``)."""
    with _lock:
        loader = _loaders.get(search_path_string)
        if loader is None:
            loader = _original[0](search_path_string)
            loader._search_paths = _Folders(loader.search_paths)
            _loaders[search_path_string] = loader
        return loader


def share_botocore_loaders() -> None:
    """Make every new botocore session use :func:`shared_loader` (idempotent)."""
    import botocore.session

    with _lock:
        if _original:
            return
        _original.append(botocore.session.create_loader)
        botocore.session.create_loader = shared_loader
