"""``expire``: expire one masking now, through the same pipeline as the functions."""

from __future__ import annotations

import os
import uuid
from typing import TYPE_CHECKING

from pydantic import ValidationError

from masking_unset.config import Settings, plain_words
from masking_unset.logic import trail
from masking_unset.logic.failures import FailureKind, classify
from masking_unset.models.errors import (
    ConfigurationError,
    MaskingUnsetError,
    UnknownAccount,
    UnusableTarget,
)
from masking_unset.models.events import CloseEvent, Outcome, UnsetResult
from masking_unset_tools.ops.console import Out, function_stdout
from masking_unset_tools.ops.errors import OperationFailed, UsageError

if TYPE_CHECKING:
    from masking_unset.app import App

CLI_SOURCE = "cli"
SECRET_VARIABLE = "DEEPCALL_SECRET_ID"  # noqa: S105 - a variable name


def close_event(
    *,
    mask: str | None = None,
    m1: str | None = None,
    m2: str | None = None,
    ticket_id: str | None = None,
    event_id: str | None = None,
    account: str | None = None,
) -> CloseEvent:
    """The close event an operator's ``expire`` stands for (a fresh event id unless given)."""
    if not (mask or m1 or m2):
        raise UsageError("give --mask, or --m1 and/or --m2")
    try:
        return CloseEvent(
            event_id=event_id or f"cli-{uuid.uuid4()}",
            ticket_id=ticket_id,
            mask=mask,
            m1=m1,
            m2=m2,
            source=CLI_SOURCE,
            account=account,
        )
    except ValidationError as exc:  # names the options, never their values
        problems = [
            f"--{str(error['loc'][0]).replace('_', '-')}: {plain_words(error)}"
            if error["loc"]
            else plain_words(error)
            for error in exc.errors(include_input=False, include_url=False)
        ]
        raise UsageError("; ".join(problems)) from None


def would_send(event: CloseEvent, settings: Settings) -> str:
    """The unset request a dry run would have sent, numbers cut to their last four digits."""
    import json

    from masking_unset.logic.expiry import resolve_numbers
    from masking_unset.models.deepcall import EXPIRE_NOW_MINUTES
    from masking_unset_tools.local.demo import shown_request

    target = resolve_numbers(event, settings)
    body: dict[str, object] = {
        "<credentials>": f"from {settings.secret_variable}",
        **target.fields(),
    }
    body["expiry_duration"] = EXPIRE_NOW_MINUTES
    shown = json.loads(shown_request(body))
    return f"POST {settings.deepcall_base_url}/api/v2/Masking/unset {json.dumps(shown)}"


def expire(app: App, event: CloseEvent, out: Out) -> UnsetResult:
    """Expire the masking ``event`` names with ``app``'s pipeline and print the redacted outcome.

    :class:`UsageError` for a number that cannot be used or a configuration error (ours, or a
    refusal DeepCall classifies as one); :class:`OperationFailed` when DeepCall did not expire it.
    """
    try:
        app = app.for_account(event.account)  # its own base URL and credentials
        settings = app.settings
        if settings.dry_run and event.has_numbers:
            out(f"dry run: would send {would_send(event, settings)}")
        with function_stdout(), app.trail.event(CLI_SOURCE):
            # The operator's expiry is part of the event's trail (TRAIL_TABLE), as the functions'.
            app.trail.received(event, trigger=CLI_SOURCE)
            result = app.expirer.expire(event)
            trail.step("done", status=result.status.value, reason=result.reason)
    except ConfigurationError as exc:  # its message names the variable: "AWS configuration: .."
        raise UsageError(exc.message) from None
    except UnknownAccount as exc:
        raise UsageError(f"--account: {exc.message}") from None
    except UnusableTarget as exc:
        raise UsageError(f"{exc.code}: {exc.message}") from None
    except MaskingUnsetError as exc:
        if classify(exc) is FailureKind.CONFIGURATION:  # e.g. DeepCall: permission denied
            raise UsageError(f"{exc.code}: {exc.message}") from None
        raise OperationFailed(f"{exc.code}: {exc.message}") from None
    target = ", ".join(f"{name}={value}" for name, value in result.target.items())
    out(f"{result.status.value}: event {result.event_id} {target}".rstrip())
    if result.status is Outcome.DUPLICATE:
        out(f"  already handled before (first outcome: {result.first_status})")
    return result


def build_app(*, dry_run: bool) -> App:
    """An :class:`App` on the environment's configuration; ``dry_run`` forces DRY_RUN on."""
    from masking_unset.app import App

    environ = dict(os.environ)
    if dry_run and not environ.get(SECRET_VARIABLE, "").strip():
        # A dry run reads no secret: it must not ask for one.
        environ[SECRET_VARIABLE] = "(not read in a dry run)"
    try:
        settings = Settings.from_env(environ)
    except ConfigurationError as exc:
        raise UsageError(exc.message) from None
    if dry_run:
        settings = settings.model_copy(update={"dry_run": True})
    return App(settings)
