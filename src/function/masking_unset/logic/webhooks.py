"""What the service does with the events of an authenticated webhook delivery: the secrets a
source is checked with, and each event expired, ignored, failed, or handed to the queue.

Routing, authentication and the HTTP answer are the handler's (:mod:`masking_unset.handlers`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from masking_unset.config import Settings
from masking_unset.logic import trail
from masking_unset.logic.expiry import MaskingExpirer
from masking_unset.logic.failures import disposition
from masking_unset.logic.ports import SecretReader, SecretRule, Sender
from masking_unset.logic.trail import TRIGGER_WEBHOOK, TrailKeeper
from masking_unset.models.accounts import DEFAULT_ACCOUNT
from masking_unset.models.budget import Deadline, TimeBudget
from masking_unset.models.errors import (
    ConfigurationError,
    MaskingUnsetError,
    UnknownSource,
    UpstreamUnavailable,
)
from masking_unset.models.events import (
    Action,
    CloseEvent,
    Ignored,
    Outcome,
    SourceItem,
    UnreadableClose,
    UnsetResult,
)
from masking_unset.models.queue import sqs_body
from masking_unset.observability import count, count_by, logger

IGNORED_LOGGED = 3  # ignored events logged one by one; the rest of a delivery in one line


@dataclass(frozen=True, slots=True)
class ItemOutcome:
    """The end of one close event of a delivery: a result, or the error that stopped it."""

    result: UnsetResult | None = None
    error: MaskingUnsetError | None = None

    @property
    def retryable(self) -> bool:
        """Whether the sender should deliver this event again."""
        return self.error is not None and disposition(self.error).retry


class WebhookDelivery:
    """Turns the events of one authenticated delivery into outcomes."""

    def __init__(
        self,
        settings: Settings,
        secrets: SecretReader,
        expirer: MaskingExpirer,
        *,
        fallback: Sender | None = None,
        budget: TimeBudget | None = None,
        trail: TrailKeeper | None = None,
    ) -> None:
        self._settings = settings
        self._secrets = secrets
        self._expirer = expirer
        self._fallback = fallback
        self._budget = budget or TimeBudget()
        self._trail = trail

    def act(self, items: Sequence[SourceItem], deadline: Deadline) -> list[ItemOutcome]:
        """Each event's outcome, in order. Never raises for one event: its failure is its
        outcome."""
        self._log_ignored(items)
        return [self._act(item, deadline) for item in items]

    @staticmethod
    def _log_ignored(items: Sequence[SourceItem]) -> None:
        """A line for each of the first few ignored events, one summary for the rest: the log
        volume of an invocation does not grow with the delivery."""
        ignored = [item for item in items if isinstance(item, Ignored)]
        if not ignored:
            return
        count("EventsIgnored", len(ignored))
        for item in ignored[:IGNORED_LOGGED]:
            extra = {"event_id": item.event_id, "ticket_id": item.ticket_id, "reason": item.reason}
            logger.info("event ignored", extra=extra)
        if len(ignored) > IGNORED_LOGGED:
            logger.info("more events ignored", extra={"count": len(ignored) - IGNORED_LOGGED})

    def _act(self, item: SourceItem, deadline: Deadline) -> ItemOutcome:
        if isinstance(item, Ignored):
            result = UnsetResult(
                status=Outcome.IGNORED,
                event_id=item.event_id,
                ticket_id=item.ticket_id,
                reason=item.reason,
            )
            return ItemOutcome(result=result)
        if isinstance(item, UnreadableClose):
            count_by("EventsFailed", "code", item.error.code)
            extra = {"event_id": item.event_id, "ticket_id": item.ticket_id}
            logger.warning(
                "close event unreadable",
                extra={**extra, "code": item.error.code, "reason": item.error.message},
            )
            return ItemOutcome(error=item.error)
        # A webhook's account is its URL's, whatever the body says (a generic body may name one);
        # the default account's events stay as they always were (no account field queued).
        account = self._settings.account
        item = item.model_copy(update={"account": None if account == DEFAULT_ACCOUNT else account})
        logger.append_keys(event_id=item.event_id, ticket_id=item.ticket_id)
        if self._trail is None:
            return self._expire(item, deadline)
        with self._trail.event(TRIGGER_WEBHOOK, deadline):
            self._trail.received(item, trigger=TRIGGER_WEBHOOK)
            outcome = self._expire(item, deadline)
            if outcome.result is not None:
                result = outcome.result
                trail.step("answered", status=result.status.value, reason=result.reason)
            elif outcome.error is not None:
                error = outcome.error
                retry = outcome.retryable
                trail.step("answered", code=error.code, reason=error.message, retry=retry)
            return outcome

    def _expire(self, item: CloseEvent, deadline: Deadline) -> ItemOutcome:
        try:
            return ItemOutcome(result=self._expirer.expire(item, deadline))
        except MaskingUnsetError as exc:
            count_by("EventsFailed", "code", exc.code)
            logger.warning("event failed", extra={"code": exc.code, "reason": exc.message})
            error = exc
        except Exception:  # noqa: BLE001 - a bug must not lose the event: queue it
            logger.exception("event failed unexpectedly")
            error = UpstreamUnavailable("the event could not be processed", code="internal_error")
        trail.step("failed", code=error.code, reason=error.message)
        if not disposition(error).queue:
            return ItemOutcome(error=error)
        return self._hand_to_queue(item, error, deadline)

    def _hand_to_queue(
        self, event: CloseEvent, error: MaskingUnsetError, deadline: Deadline
    ) -> ItemOutcome:
        """Nothing is lost when DeepCall is down: the queue retries the event later."""
        if self._fallback is None:
            return ItemOutcome(error=error)
        if deadline.remaining() < self._budget.send:
            # A send cut off by the timeout would lose the answer: the sender retries on the 503.
            logger.warning("no time left to queue the event", extra={"code": error.code})
            return ItemOutcome(error=error)
        try:
            self._fallback.send(
                queued_body(event),
                group_id=event.ticket_id or event.event_id,
                dedup_id=event.event_id,
            )
        except MaskingUnsetError as exc:
            logger.error("queue fallback failed", extra={"code": exc.code})
            trail.step("not_queued", code=exc.code)
            return ItemOutcome(error=error)
        trail.step("queued", code=error.code, reason=error.message)
        count("EventsQueued")
        logger.info("event queued for retry", extra={"code": error.code})
        result = UnsetResult(
            status=Outcome.QUEUED,
            event_id=event.event_id,
            ticket_id=event.ticket_id,
            reason=error.message,
        )
        return ItemOutcome(result=result)

    def source_secrets(self, source: SecretRule) -> list[str]:
        """The secrets configured for ``source``; :class:`UnknownSource` if there are none.

        Each is checked against the source's own rule (``secret_problem``): one unfit secret in
        the list makes the whole source a :class:`ConfigurationError` (503), so nothing is ever
        verified with an empty or short key, and a rotation mistake shows at once instead of
        when the good secret is removed.
        """
        variable = self._settings.webhook_secrets_variable
        if not self._settings.webhook_secrets_id:
            raise ConfigurationError(f"{variable} is not set")
        document = self._secrets.get_json(self._settings.webhook_secrets_id, variable=variable)
        configured = document.get(source.name)
        if isinstance(configured, str):
            configured = [configured]
        if configured is None or configured == []:
            raise UnknownSource("this webhook source is not configured")
        if not isinstance(configured, list) or not all(
            isinstance(item, str) for item in configured
        ):
            raise self._unfit(variable, source.name, "must be a list of strings")
        for index, secret in enumerate(configured):
            if (problem := source.secret_problem(secret)) is not None:
                raise self._unfit(variable, source.name, f"secret {index + 1} {problem}")
        return configured

    @staticmethod
    def _unfit(variable: str, source: str, problem: str) -> ConfigurationError:
        # Names the source and the position of the secret, never its value.
        message = f'{variable}: the entry for "{source}": {problem}'
        logger.error("webhook secret refused", extra={"source": source, "problem": problem})
        return ConfigurationError(message)


def queued_body(event: CloseEvent) -> str:
    """The event as queued: every field it has; ``action`` only when it is not the default
    close, so a close's queued body stays as it always was."""
    skip = {"action"} if event.action is Action.CLOSE else set()
    # An id may hold U+FFFF, which JSON leaves as it is and SQS refuses: escaped, same document.
    return sqs_body(event.model_dump_json(exclude_none=True, exclude=skip))
