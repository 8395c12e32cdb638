"""SnapStart hooks: what is built before the snapshot, and what every restored copy redoes.

With the template's ``SnapStart`` parameter on, Lambda initialises each published version once,
snapshots its memory and resumes every new container from that snapshot. ``before_snapshot``
builds what holds no secret and no connection (settings, clients, services), so that no copy
pays for it; ``after_restore`` gives each copy its own random state, drops pooled connections
and empties the secret cache. docs/performance.md explains why that is safe.

The hooks are registered with ``snapshot_restore_py``, which Lambda's Python runtime provides;
where it is absent (tests, local runs, other hosts) nothing is registered and nothing runs.
"""

from __future__ import annotations

import importlib
import random

from masking_unset.models.errors import MaskingUnsetError
from masking_unset.observability import logger, warm_tracer

RUNTIME_MODULE = "snapshot_restore_py"
_registered: list[str] = []


def register() -> bool:
    """Register both hooks with the runtime, once; False where the runtime has no SnapStart
    module."""
    if _registered:
        return True
    try:
        runtime = importlib.import_module(RUNTIME_MODULE)
    except ImportError:
        return False
    runtime.register_before_snapshot(before_snapshot)
    runtime.register_after_restore(after_restore)
    _registered.append(RUNTIME_MODULE)
    return True


def before_snapshot() -> None:
    """Build the container's clients and services before the snapshot is taken."""
    from masking_unset.app import get_app

    try:
        app = get_app()
        app.warm()  # no AWS region or credentials: a ConfigurationError too
    except MaskingUnsetError as exc:  # the first invocation reports the configuration error
        logger.warning("nothing built before the snapshot", extra={"reason": exc.message})
        return
    # What the first event would still load: the SQS record model (queue function) and the
    # phone-number metadata of the default region, which phonenumbers loads on first use.
    importlib.import_module("masking_unset.handlers.sqs")
    import phonenumbers

    phonenumbers.PhoneMetadata.metadata_for_region(app.settings.phone_default_region)
    warm_tracer()  # the X-Ray SDK, when this deployment traces


def after_restore() -> None:
    """Make this restored copy its own: fresh random state, no pooled connection, no secret."""
    random.seed()  # the module-level generator, which botocore's retry jitter draws from
    from masking_unset.app import get_app

    if get_app.cache_info().currsize:
        get_app().after_restore()
