"""The pipeline every trigger shares: resolve the target, fetch credentials, call DeepCall."""

from __future__ import annotations

from typing import Protocol

from pydantic import ValidationError

from masking_unset.config import Settings
from masking_unset.logic.failures import FailureKind, classify
from masking_unset.logic.phone import PhoneNumber, parse_number
from masking_unset.models.deepcall import (
    DeepCallCredentials,
    DeepCallReply,
    SsidCredentials,
    TokenCredentials,
    UnsetTarget,
)
from masking_unset.models.errors import (
    ConfigurationError,
    SameNumbers,
    UnusableTarget,
    UpstreamError,
    UpstreamRejected,
)
from masking_unset.models.events import CloseEvent, Outcome, UnsetResult
from masking_unset.observability import logger

# DeepCall's code for an expired or invalid token: re-read the secret once, it may have rotated.
CREDENTIAL_REFUSED_CODES = frozenset({1014})


class SecretReader(Protocol):
    """Reads a JSON secret (see :class:`masking_unset.clients.secrets.SecretStore`)."""

    def get_json(
        self, secret_id: str, *, variable: str, refresh: bool = False
    ) -> dict[str, object]: ...


class UnsetCaller(Protocol):
    """Calls DeepCall (see :class:`masking_unset.clients.deepcall.DeepCallClient`)."""

    def unset(self, credentials: DeepCallCredentials, target: UnsetTarget) -> DeepCallReply: ...


def parse_credentials(document: dict[str, object]) -> DeepCallCredentials:
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


def resolve_numbers(event: CloseEvent, settings: Settings) -> UnsetTarget:
    """Parse and format the numbers an event carries. Raises :class:`UnusableTarget`."""
    if not event.has_numbers:
        raise UnusableTarget("the event names no masking: give mask, or m1 and/or m2")
    region = settings.phone_default_region
    parsed: dict[str, PhoneNumber] = {}
    for field in ("mask", "m1", "m2"):
        raw = getattr(event, field)
        if raw is not None:
            parsed[field] = parse_number(raw, field=field, region=region)
    if "m1" in parsed and "m2" in parsed and parsed["m1"] == parsed["m2"]:
        raise SameNumbers("m1 and m2 are the same number")
    fmt = settings.deepcall_number_format
    return UnsetTarget(**{field: number.formatted(fmt) for field, number in parsed.items()})


def redacted_target(target: UnsetTarget) -> dict[str, str]:
    """The target with each number cut to its last four digits."""
    from masking_unset.logic.redact import redact_number

    return {field: redact_number(value) for field, value in target.fields().items()}


class UnsetService:
    """Expires the masking a close event names."""

    def __init__(self, settings: Settings, secrets: SecretReader, deepcall: UnsetCaller) -> None:
        self._settings = settings
        self._secrets = secrets
        self._deepcall = deepcall

    def credentials(self, *, refresh: bool = False) -> DeepCallCredentials:
        """The DeepCall credentials, from the (cached) secret."""
        document = self._secrets.get_json(
            self._settings.deepcall_secret_id, variable="DEEPCALL_SECRET_ID", refresh=refresh
        )
        return parse_credentials(document)

    def resolve(self, event: CloseEvent) -> UnsetTarget:
        """The masking ``event`` means, formatted for DeepCall."""
        return resolve_numbers(event, self._settings)

    def expire(self, event: CloseEvent) -> UnsetResult:
        """Expire the masking now. Raises a :class:`MaskingUnsetError` subclass on failure."""
        target = self.resolve(event)
        shown = redacted_target(target)
        if self._settings.dry_run:
            logger.info("dry run: unset not sent", extra={"target": shown})
            return self._result(Outcome.DRY_RUN, event, shown)
        try:
            self._call(target)
        except UpstreamError as exc:
            if classify(exc) is not FailureKind.ALREADY_DONE:
                raise
            logger.info("nothing active to expire", extra={"target": shown})
            return self._result(Outcome.ALREADY_DONE, event, shown)
        logger.info("masking expired", extra={"target": shown})
        return self._result(Outcome.UNSET, event, shown)

    def _call(self, target: UnsetTarget) -> DeepCallReply:
        try:
            return self._deepcall.unset(self.credentials(), target)
        except UpstreamRejected as exc:
            if exc.deepcall_code not in CREDENTIAL_REFUSED_CODES:
                raise
            logger.warning("deepcall refused the credential; re-reading the secret")
        try:
            return self._deepcall.unset(self.credentials(refresh=True), target)
        except UpstreamRejected as exc:
            if exc.deepcall_code in CREDENTIAL_REFUSED_CODES:
                raise ConfigurationError(
                    "DeepCall refuses the credential in DEEPCALL_SECRET_ID "
                    f"(code {exc.deepcall_code}); rotate the secret"
                ) from None
            raise

    @staticmethod
    def _result(status: Outcome, event: CloseEvent, shown: dict[str, str]) -> UnsetResult:
        return UnsetResult(
            status=status, event_id=event.event_id, ticket_id=event.ticket_id, target=shown
        )
