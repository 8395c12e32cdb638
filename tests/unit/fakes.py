"""Small in-memory fakes of the ports in masking_unset.logic.ports: no sockets, no AWS, no clock.

Each records what it was asked, so a test can check what the logic did, and can be scripted to
fail, so a test can check what the logic makes of a failure. The integration tests cover the
real clients against the local servers; these only stand in for them.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from masking_unset.config import Settings
from masking_unset.logic.expiry import MaskingExpirer
from masking_unset.logic.retry import RetryPolicy
from masking_unset.models.deepcall import DeepCallCredentials, DeepCallReply, UnsetTarget
from masking_unset.models.errors import InFlight, UpstreamUnavailable
from masking_unset.models.events import Outcome
from masking_unset.models.tickets import Claimed, LedgerEntry, TicketState

SSID = "fake-ssid-value-for-tests"
HASH_KEY = base64.b64encode(b"k" * 32).decode()  # the hash key of the fakes' deployment
ENV = {
    "DEEPCALL_BASE_URL": "https://api.example.com",
    "DEEPCALL_SECRET_ID": "deepcall",
    "WEBHOOK_SECRETS_ID": "webhooks",
    "HASH_KEY_SECRET_ID": "hash-key",
}


def settings(**env: str) -> Settings:
    """Settings from :data:`ENV` and ``env``."""
    return Settings.from_env({**ENV, **env})


class FakeSecrets:
    """Secrets by id (with the hash key's unless ``documents`` names it); ``documents`` may be
    replaced between reads (a rotation)."""

    def __init__(self, documents: Mapping[str, dict[str, Any]] | None = None) -> None:
        # The hash key is there unless a test replaces it.
        self.documents = {
            "hash-key": {"key": HASH_KEY},
            **(documents or {"deepcall": {"ssid": SSID}}),
        }
        self.reads: list[tuple[str, bool]] = []

    def get_json(self, secret_id: str, *, variable: str, refresh: bool = False) -> dict[str, Any]:
        self.reads.append((secret_id, refresh))
        return dict(self.documents[secret_id])


class FakeDeepCall:
    """Answers each call with the next scripted answer (a reply or an exception to raise), then
    with success."""

    def __init__(self, *answers: DeepCallReply | Exception) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[DeepCallCredentials, UnsetTarget]] = []
        self.durations: list[int] = []  # the expiry_duration of each call
        self.time_limits: list[float | None] = []  # the time_limit of each call

    def unset(
        self,
        credentials: DeepCallCredentials,
        target: UnsetTarget,
        expiry_duration: int = -1,
        *,
        time_limit: float | None = None,
    ) -> DeepCallReply:
        self.calls.append((credentials, target))
        self.durations.append(expiry_duration)
        self.time_limits.append(time_limit)
        answer = self.answers.pop(0) if self.answers else DeepCallReply(status="success")
        if isinstance(answer, Exception):
            raise answer
        return answer


class FakeMaskingMap:
    """Ticket -> numbers, keyed by ``(source, ticket_id)``."""

    def __init__(self, entries: dict[tuple[str, str], dict[str, str]] | None = None) -> None:
        self.entries = dict(entries or {})
        self.forgotten: list[tuple[str, str]] = []

    def lookup(self, source: str, ticket_id: str) -> dict[str, str] | None:
        return self.entries.get((source, ticket_id))

    def forget(self, source: str, ticket_id: str) -> None:
        self.forgotten.append((source, ticket_id))
        self.entries.pop((source, ticket_id), None)


class FakeTicketStates:
    """Ticket states by key, with the table's conditional claim."""

    def __init__(self, states: dict[str, TicketState] | None = None) -> None:
        self.states = dict(states or {})
        self.settled: list[tuple[str, str, bool]] = []
        self.ledgers: dict[str, dict[str, LedgerEntry]] = {}

    def read(self, key: str) -> TicketState | None:
        recorded = self.states.get(key)
        if recorded is None:
            return None
        return replace(recorded, ledger=dict(self.ledgers.get(key, {})))

    def ledger(self, key: str) -> Mapping[str, LedgerEntry]:
        return dict(self.ledgers.get(key, {}))

    def claim(
        self,
        key: str,
        state: TicketState,
        *,
        now: float,
        same_event: Sequence[str] = (),
        needs_close: bool = False,
        closed_elsewhere: bool = False,
    ) -> Claimed:
        recorded = self.states.get(key)
        if recorded is None:
            wins = not needs_close or closed_elsewhere
        elif recorded.occurred_at_ms == state.occurred_at_ms and recorded.event_key in (
            state.event_key,
            *same_event,
        ):
            wins = True
        elif needs_close:
            wins = recorded.occurred_at_ms < state.occurred_at_ms and recorded.closed
        else:
            wins = recorded.occurred_at_ms < state.occurred_at_ms and (
                recorded.applied or recorded.lease_until < now
            )
        if wins:
            self.states[key] = state
            return Claimed(written=True, ledger=self.ledger(key))
        return Claimed(written=False, recorded=self.read(key))

    def settle(
        self,
        key: str,
        event_key: str,
        *,
        applied: bool,
        ledger: tuple[str, LedgerEntry] | None = None,
        now: float = 0.0,
    ) -> None:
        self.settled.append((key, event_key, applied))
        recorded = self.states.get(key)
        if recorded is not None and recorded.event_key == event_key:
            self.states[key] = TicketState(
                recorded.occurred_at_ms, recorded.action, event_key, applied, 0.0
            )
        if ledger is not None:
            self.record(key, *ledger, now=now)

    def record(self, key: str, name: str, entry: LedgerEntry, *, now: float) -> None:
        self.ledgers.setdefault(key, {})[name] = entry


@dataclass
class Sent:
    body: str
    attributes: dict[str, str]
    group_id: str | None
    dedup_id: str | None


@dataclass
class FakeQueue:
    """A queue: what was sent to it, and which receipts had their redelivery delayed."""

    is_fifo: bool = False
    failing: bool = False
    sent: list[Sent] = field(default_factory=list)
    delayed: dict[str, int] = field(default_factory=dict)

    def send(
        self,
        body: str,
        *,
        attributes: Mapping[str, str] | None = None,
        group_id: str | None = None,
        dedup_id: str | None = None,
    ) -> str:
        if self.failing:
            raise UpstreamUnavailable("the fake queue is down", code="queue_unavailable")
        self.sent.append(Sent(body, dict(attributes or {}), group_id, dedup_id))
        return f"m-{len(self.sent)}"

    def delay_redelivery(self, receipt_handle: str, seconds: int) -> None:
        self.delayed[receipt_handle] = seconds


class FakeGuard:
    """At most once per key; ``busy`` keys are being run by another delivery."""

    def __init__(self, *busy: str) -> None:
        self.done: dict[str, dict[str, Any]] = {}
        self.busy = set(busy)

    def once(
        self, key: str, action: Callable[[], dict[str, Any]], *, previous: Sequence[str] = ()
    ) -> dict[str, Any]:
        if self.busy.intersection((key, *previous)):
            raise InFlight("this event is already being processed")
        for seen in (key, *previous):
            if seen in self.done:
                first = self.done[seen]
                return {
                    **first,
                    "status": Outcome.DUPLICATE.value,
                    "first_status": first["status"],
                }
        result = action()  # an exception records nothing: a later delivery tries again
        self.done[key] = result
        return result


def expirer(
    deepcall: FakeDeepCall,
    *,
    secrets: FakeSecrets | None = None,
    mapping: FakeMaskingMap | None = None,
    guard: FakeGuard | None = None,
    config: Settings | None = None,
    states: FakeTicketStates | None = None,
) -> MaskingExpirer:
    """A :class:`MaskingExpirer` over fakes, retrying at once (no sleeping)."""
    return MaskingExpirer(
        config or settings(),
        secrets or FakeSecrets(),
        deepcall,
        mapping=mapping,
        idempotency=guard,
        retry=RetryPolicy(sleep=lambda _: None),
        states=states,
    )
