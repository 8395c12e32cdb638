"""Small in-memory fakes of the ports in masking_unset.logic.ports: no sockets, no AWS, no clock.

Each records what it was asked, so a test can check what the logic did, and can be scripted to
fail, so a test can check what the logic makes of a failure. The integration tests cover the
real clients against the local servers; these only stand in for them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from masking_unset.config import Settings
from masking_unset.logic.expiry import MaskingExpirer
from masking_unset.logic.retry import RetryPolicy
from masking_unset.models.deepcall import DeepCallCredentials, DeepCallReply, UnsetTarget
from masking_unset.models.errors import InFlight, UpstreamUnavailable
from masking_unset.models.events import Outcome

SSID = "fake-ssid-value-for-tests"
ENV = {
    "DEEPCALL_BASE_URL": "https://api.example.com",
    "DEEPCALL_SECRET_ID": "deepcall",
    "WEBHOOK_SECRETS_ID": "webhooks",
}


def settings(**env: str) -> Settings:
    """Settings from :data:`ENV` and ``env``."""
    return Settings.from_env({**ENV, **env})


class FakeSecrets:
    """Secrets by id; ``documents`` may be replaced between reads (a rotation)."""

    def __init__(self, documents: Mapping[str, dict[str, Any]] | None = None) -> None:
        self.documents = dict(documents or {"deepcall": {"ssid": SSID}})
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

    def unset(self, credentials: DeepCallCredentials, target: UnsetTarget) -> DeepCallReply:
        self.calls.append((credentials, target))
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

    def once(self, key: str, action: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        if key in self.busy:
            raise InFlight("this event is already being processed")
        if key in self.done:
            first = self.done[key]
            return {**first, "status": Outcome.DUPLICATE.value, "first_status": first["status"]}
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
) -> MaskingExpirer:
    """A :class:`MaskingExpirer` over fakes, retrying at once (no sleeping)."""
    return MaskingExpirer(
        config or settings(),
        secrets or FakeSecrets(),
        deepcall,
        mapping=mapping,
        idempotency=guard,
        retry=RetryPolicy(sleep=lambda _: None),
    )
