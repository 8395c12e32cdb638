"""Expiring the masking a close event names, whichever way it came: resolve the target, fetch
credentials, call DeepCall - at most once per event, retried within the invocation's time."""

from __future__ import annotations

import time
from typing import Any

from pydantic import ValidationError

from masking_unset.config import Settings
from masking_unset.logic.failures import disposition
from masking_unset.logic.idempotency import idempotency_key
from masking_unset.logic.phone import for_deepcall, parse_number
from masking_unset.logic.ports import IdempotencyGuard, MaskingMap, SecretReader, UnsetCaller
from masking_unset.logic.retry import RetryPolicy
from masking_unset.models.budget import Deadline, TimeBudget, ensure_time
from masking_unset.models.deepcall import (
    NUMBER_FIELDS,
    DeepCallCredentials,
    DeepCallReply,
    SsidCredentials,
    TokenCredentials,
    UnsetTarget,
)
from masking_unset.models.errors import (
    ConfigurationError,
    MaskingUnsetError,
    SameNumbers,
    UnresolvedTarget,
    UnusableTarget,
    UpstreamError,
)
from masking_unset.models.events import CloseEvent, Outcome, UnsetResult
from masking_unset.models.redact import redact_number
from masking_unset.observability import count, count_by, logger, milliseconds, subsegment


def parse_credentials(document: dict[str, Any]) -> DeepCallCredentials:
    """DeepCall credentials from the secret's JSON: ``{"ssid"}`` or ``{"userId", "token"}``."""
    keys = set(document)
    try:
        if keys == {"ssid"}:
            return SsidCredentials.model_validate(document)
        if keys == {"userId", "token"}:
            return TokenCredentials.model_validate(document)
    except ValidationError:
        raise ConfigurationError(
            "the secret named by DEEPCALL_SECRET_ID has empty or non-text values"
        ) from None
    raise ConfigurationError(
        "the secret named by DEEPCALL_SECRET_ID must hold exactly "
        '{"ssid": "..."} or {"userId": "...", "token": "..."}; '
        f"it has the keys {sorted(keys)}"
    )


def target_from_numbers(numbers: dict[str, str], settings: Settings) -> UnsetTarget:
    """Parse ``mask``/``m1``/``m2`` and write them as DeepCall is sent them. Raises
    :class:`UnusableTarget`."""
    region = settings.phone_default_region
    fmt = settings.deepcall_number_format
    formatted: dict[str, str] = {
        field: for_deepcall(
            parse_number(raw, field=field, region=region), fmt, field=field, region=region
        )
        for field in NUMBER_FIELDS
        if (raw := numbers.get(field)) is not None
    }
    if not formatted:
        raise UnusableTarget("the event names no masking: give mask, or m1 and/or m2")
    # Compared as sent: DeepCall refuses two equal numbers (1501).
    if "m1" in formatted and formatted.get("m1") == formatted.get("m2"):
        raise SameNumbers("m1 and m2 are the same number")
    return UnsetTarget(**formatted)


def resolve_numbers(event: CloseEvent, settings: Settings) -> UnsetTarget:
    """The target named in the event's own payload. Raises :class:`UnusableTarget`."""
    return target_from_numbers(
        {f: v for f in NUMBER_FIELDS if (v := getattr(event, f)) is not None}, settings
    )


def redacted_target(target: UnsetTarget) -> dict[str, str]:
    """The target with each number cut to its last four digits."""
    return {field: redact_number(value) for field, value in target.fields().items()}


class MaskingExpirer:
    """Expires the masking a close event names: once, retried, or not at all with a reason."""

    def __init__(
        self,
        settings: Settings,
        secrets: SecretReader,
        deepcall: UnsetCaller,
        *,
        mapping: MaskingMap | None = None,
        idempotency: IdempotencyGuard | None = None,
        retry: RetryPolicy | None = None,
        budget: TimeBudget | None = None,
    ) -> None:
        self._settings = settings
        self._secrets = secrets
        self._deepcall = deepcall
        self._mapping = mapping
        self.idempotency = idempotency
        self._retry = retry or RetryPolicy()
        self._budget = budget or TimeBudget()

    def credentials(self, *, refresh: bool = False) -> DeepCallCredentials:
        """The DeepCall credentials, from the (cached) secret."""
        document = self._secrets.get_json(
            self._settings.deepcall_secret_id, variable="DEEPCALL_SECRET_ID", refresh=refresh
        )
        return parse_credentials(document)

    def expire(self, event: CloseEvent, deadline: Deadline | None = None) -> UnsetResult:
        """Expire the masking now, unless this event was already handled.

        Raises a :class:`MaskingUnsetError` subclass when it could not be done; nothing is recorded
        then, so a later delivery of the same event tries again.
        """
        deadline = deadline or Deadline()
        payload_target = resolve_numbers(event, self._settings) if event.has_numbers else None
        if payload_target is None and not (self._mapping and event.ticket_id):
            raise UnusableTarget("the event names no masking: give mask, or m1 and/or m2")

        def action() -> dict[str, Any]:
            return self._expire_now(event, payload_target, deadline).body()

        if not self._settings.dry_run:
            # Nothing is written unless the event can be seen through, or handed on, in time.
            ensure_time(deadline, self._budget.event_start, "this event")
        if self._settings.dry_run or self.idempotency is None:
            body = action()
        else:
            body = self.idempotency.once(idempotency_key(event, payload_target), action)
        result = UnsetResult.model_validate(body)
        if result.status is Outcome.DUPLICATE:
            count("Duplicates")
            logger.info("duplicate event: nothing called", extra=self._ids(event))
        return result

    def _expire_now(
        self, event: CloseEvent, payload_target: UnsetTarget | None, deadline: Deadline
    ) -> UnsetResult:
        target, from_mapping = payload_target, False
        if target is None:
            ensure_time(deadline, self._budget.aws_step, "the ticket mapping lookup")
            target, from_mapping = self._mapped_target(event), True
        shown = redacted_target(target)
        log = {**self._ids(event), "target": shown}
        if self._settings.dry_run:
            count("DryRuns")
            logger.info("dry run: unset not sent", extra=log)
            return self._result(Outcome.DRY_RUN, event, shown)
        # Read (or find cached) before the first attempt, whose budget holds DeepCall only.
        ensure_time(deadline, self._budget.aws_step, "reading the DeepCall secret")
        self.credentials()
        try:
            self._retry.run(lambda: self._call(target, deadline), deadline)
            status = Outcome.UNSET
            count("MaskingsExpired")
            logger.info("masking expired", extra=log)
        except UpstreamError as exc:
            codes = self._settings.deepcall_already_done_codes
            if not disposition(exc, already_done_codes=codes).done:
                raise
            status = Outcome.ALREADY_DONE
            count("AlreadyExpired")
            logger.info("nothing active to expire", extra=log)
        if from_mapping:
            self._forget(event)
        return self._result(status, event, shown)

    def _mapped_target(self, event: CloseEvent) -> UnsetTarget:
        assert self._mapping is not None
        assert event.ticket_id is not None
        numbers = self._mapping.lookup(event.source, event.ticket_id)
        if not numbers:
            raise UnresolvedTarget("no number in the event and no masking recorded for this ticket")
        return target_from_numbers(numbers, self._settings)

    def _forget(self, event: CloseEvent) -> None:
        assert self._mapping is not None
        assert event.ticket_id is not None
        try:
            self._mapping.forget(event.source, event.ticket_id)
        except MaskingUnsetError as exc:
            # The masking is expired; a stale entry only waits for its TTL.
            logger.warning("mapping entry not removed", extra={"code": exc.code})

    def _call(self, target: UnsetTarget, deadline: Deadline) -> DeepCallReply:
        try:
            return self._measured_unset(self.credentials(), target)
        except UpstreamError as exc:
            if not disposition(exc).refresh:
                raise
            budget = self._budget
            if deadline.remaining() < budget.aws_call + budget.deepcall_attempt + budget.hand_on:
                raise  # no time to re-read and call again: handed on, retried later
            logger.warning("deepcall refused the credential; re-reading the secret")
        try:
            return self._measured_unset(self.credentials(refresh=True), target)
        except UpstreamError as exc:
            if disposition(exc).refresh:
                raise ConfigurationError(
                    "DeepCall refuses the credential in DEEPCALL_SECRET_ID "
                    f"(code {exc.deepcall_code}); rotate the secret"
                ) from None
            raise

    def _measured_unset(
        self, credentials: DeepCallCredentials, target: UnsetTarget
    ) -> DeepCallReply:
        started = time.perf_counter()
        with subsegment("## deepcall.unset", fields=",".join(target.fields())) as segment:
            try:
                reply = self._deepcall.unset(credentials, target)
            except UpstreamError as exc:
                code = str(exc.deepcall_code) if exc.deepcall_code is not None else exc.code
                count_by("UpstreamErrors", "code", code)
                if segment is not None:
                    segment.put_annotation(key="error_code", value=code)
                raise
            finally:
                milliseconds("DeepCallLatency", (time.perf_counter() - started) * 1000)
        return reply

    @staticmethod
    def _ids(event: CloseEvent) -> dict[str, Any]:
        return {"event_id": event.event_id, "ticket_id": event.ticket_id, "source": event.source}

    @staticmethod
    def _result(status: Outcome, event: CloseEvent, shown: dict[str, str]) -> UnsetResult:
        return UnsetResult(
            status=status, event_id=event.event_id, ticket_id=event.ticket_id, target=shown
        )
