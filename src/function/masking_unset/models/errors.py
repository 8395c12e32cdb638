"""Domain exceptions. Each carries a stable machine code and a message safe to show a caller:
never a raw phone number, a secret or a stack trace."""

from __future__ import annotations


class MaskingUnsetError(Exception):
    """Base class: ``code`` is the stable error code, ``str(self)`` a caller-safe message."""

    code = "internal_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        """The caller-safe message."""
        return str(self.args[0]) if self.args else self.code


class ConfigurationError(MaskingUnsetError):
    """The deployment is misconfigured (environment or secret content)."""

    code = "configuration_error"


class InvalidEvent(MaskingUnsetError):
    """The event cannot be understood: not JSON, wrong shape or wrong types."""

    code = "invalid_event"


class MalformedBody(InvalidEvent):
    """The body is not the expected document at all (not JSON, not an object)."""

    code = "malformed_body"


class FutureEvent(MaskingUnsetError):
    """``occurred_at`` lies further ahead of now than ``OCCURRED_AT_MAX_SKEW_SECONDS``: recorded,
    it would be the ticket's newest event for as long as its state is kept, and every real event
    after it stale."""

    code = "future_occurred_at"


class InvalidExpiry(MaskingUnsetError):
    """``expire_at`` cannot be used: unreadable (``invalid_expire_at``), without an offset
    (``expire_at_without_offset``), more than a year ahead (``expire_at_too_far``), or sent with
    ``expire_after_minutes`` (``expire_at_with_minutes``). The message names the field, never
    its value."""

    code = "invalid_expire_at"


class UnusableTarget(MaskingUnsetError):
    """The event is well-formed but names no masking that could be expired."""

    code = "no_target"


class InvalidNumber(UnusableTarget):
    """A phone number could not be parsed."""

    code = "invalid_number"


class ForeignNumber(InvalidNumber):
    """A number of another country, where ``DEEPCALL_NUMBER_FORMAT`` is ``national``: written
    without its country code it would be another number."""

    code = "foreign_number"


class SameNumbers(UnusableTarget):
    """``m1`` and ``m2`` are the same number after normalisation (DeepCall rejects it, 1501)."""

    code = "same_numbers"


class UnresolvedTarget(UnusableTarget):
    """No number in the payload and no mapping from the ticket to a masking."""

    code = "unresolved_target"


class AuthenticationFailed(MaskingUnsetError):
    """The webhook's signature or token is missing, wrong or stale."""

    code = "invalid_signature"


class UnknownSource(MaskingUnsetError):
    """The webhook source is not known or has no secret configured."""

    code = "unknown_source"


class UnknownAccount(MaskingUnsetError):
    """The event names a DeepCall account this deployment does not have (``DEEPCALL_ACCOUNTS``):
    refused, never sent to another account."""

    code = "unknown_account"


class MethodNotAllowed(MaskingUnsetError):
    """Only POST is accepted."""

    code = "method_not_allowed"


class PayloadTooLarge(MaskingUnsetError):
    """The webhook body is over the size limit."""

    code = "payload_too_large"


class InFlight(MaskingUnsetError):
    """The same event is being processed right now by another invocation: try again shortly."""

    code = "in_progress"


class OutcomeUnknown(MaskingUnsetError):
    """An earlier attempt at this event ended without recording whether DeepCall expired the
    masking (the idempotency table failed after the call, or the function died during it). The
    event is not sent to DeepCall again within the idempotency window: a second unset could end a
    newer masking that reuses the number."""

    code = "outcome_unknown"


class UpstreamError(MaskingUnsetError):
    """DeepCall did not expire the masking.

    ``deepcall_code`` is DeepCall's own error code when its body carried one; ``http_status`` the
    HTTP status it answered with (None when no answer arrived); ``retry_after`` seconds it asked to
    wait, if any; ``upstream_message`` DeepCall's own words (already scrubbed of secrets and
    numbers), which the failure table reads; it defaults to ``message``.
    """

    code = "upstream_error"

    def __init__(
        self,
        message: str,
        *,
        deepcall_code: int | None = None,
        http_status: int | None = None,
        retry_after: float | None = None,
        code: str | None = None,
        upstream_message: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.deepcall_code = deepcall_code
        self.http_status = http_status
        self.retry_after = retry_after
        self.upstream_message = message if upstream_message is None else upstream_message


# Codes of failures raised before anything was sent to DeepCall (the request rate, the time
# left, the open circuit): they say nothing about DeepCall's health.
NOT_SENT_CODES = frozenset({"rate_limited", "no_time_left", "circuit_open"})


class UpstreamUnavailable(UpstreamError):
    """No usable answer: connection error, timeout, non-JSON body, 429 or 5xx."""

    code = "upstream_unavailable"


class CircuitOpen(UpstreamUnavailable):
    """DeepCall's circuit breaker is open: it failed for every container of the deployment
    lately, so nothing is sent until one probe shows it answering again. ``retry_after`` is the
    time left until that probe may be sent."""

    code = "circuit_open"


class UpstreamRejected(UpstreamError):
    """DeepCall answered with an error body."""

    code = "upstream_rejected"
