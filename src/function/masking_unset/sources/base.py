"""What every webhook source provides: the one interface the runtime and the tooling read.

A source is one module declaring how its sender authenticates (:meth:`WebhookSource.authenticate`,
:meth:`WebhookSource.sign`), what it sends (:meth:`WebhookSource.parse`), how it is documented
(:attr:`WebhookSource.doc`), and which settings are its own (:attr:`WebhookSource.settings_fields`).
Everything else - the route, the signing commands, the demo secrets, the OpenAPI document - is
derived from the registry in :mod:`masking_unset.sources`.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from masking_unset.config import Settings
from masking_unset.models.errors import PayloadTooLarge
from masking_unset.models.events import SourceItem
from masking_unset.models.http import WebhookRequest

MAX_EVENTS_PER_DELIVERY = 100
JSON = "application/json"


@dataclass(frozen=True, slots=True)
class SignedParts:
    """What a sender adds to a request to authenticate it: headers and query parameters.

    ``secret_names`` are the headers or query parameters whose value *is* the secret (a shared
    token), which a tool must never print.
    """

    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    secret_names: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Credential:
    """A header or query parameter a source authenticates with, for the API description."""

    name: str
    description: str
    location: Literal["header", "query"] = "header"
    required: bool = True  # for this source; other sources do without it
    pattern: str | None = None  # the value's form, when it has a fixed one
    signature: bool = False  # a signature over the request (a wrong one is refused)
    secret: bool = False  # the value is the secret itself


@dataclass(frozen=True, slots=True)
class SourceDoc:
    """How a source is described in the OpenAPI document and in the tooling."""

    summary: str
    credentials: tuple[Credential, ...]
    request_content_type: str = JSON
    answer_content_type: str = JSON  # of the success answer
    signs_url: bool = False  # the signature covers the URL the sender calls


class WebhookSource(ABC):
    """A sender of "ticket closed" webhooks: its authentication, payload shape and answer."""

    name: str
    doc: SourceDoc
    # Fields of :class:`Settings` that belong to this source (their aliases are the environment
    # variables); every other setting is the service's own.
    settings_fields: tuple[str, ...] = ()
    # HubSpot and Salesforce send at most 100 events per request; more is not one of theirs.
    max_events: int = MAX_EVENTS_PER_DELIVERY
    # Shorter shared secrets can be guessed; a scheme with its own rule overrides secret_problem.
    min_secret_length: int = 16

    def check_event_count(self, count: int) -> None:
        """Raise :class:`PayloadTooLarge` (``too_many_events``, 413) when a delivery carries more
        events than :attr:`max_events`: checked before any event is read or acted on, so that
        the work, the answer and the logs of one request stay bounded."""
        if count > self.max_events:
            raise PayloadTooLarge(
                f"a delivery may carry at most {self.max_events} events", code="too_many_events"
            )

    def secret_problem(self, secret: str) -> str | None:
        """Why ``secret`` must not authenticate this source (empty, blank or too short for its
        scheme), or None when it may. The answer never contains the value."""
        if not secret.strip():
            return "is empty or blank"
        if len(secret.strip()) < self.min_secret_length:
            return f"is shorter than {self.min_secret_length} characters"
        return None

    def env_vars(self) -> tuple[str, ...]:
        """The environment variables of :attr:`settings_fields`."""
        fields = Settings.model_fields
        return tuple(fields[name].alias or name for name in self.settings_fields)

    def new_secret(self, seed: str) -> str:
        """A secret of this source's form derived from ``seed`` (the same seed, the same secret):
        for demos and tests, never for a deployment."""
        return hashlib.sha256(f"{self.name}:{seed}".encode()).hexdigest()

    @abstractmethod
    def sign(self, *, method: str, url: str, body: bytes, secret: str, now: float) -> SignedParts:
        """What the sender adds to ``method url`` with ``body`` at unix time ``now`` to pass
        :meth:`authenticate` with ``secret``. ``url`` is the full URL the sender calls. Raises
        ValueError for a secret this source cannot sign with."""

    def resign(
        self,
        *,
        method: str,
        url: str,
        body: bytes,
        secret: str,
        now: float,
        headers: Mapping[str, str],
    ) -> SignedParts:
        """:meth:`sign` for a stored delivery sent again, which carries ``headers``: a scheme whose
        signature covers the delivery's own id keeps it. By default a new delivery."""
        return self.sign(method=method, url=url, body=body, secret=secret, now=now)

    @abstractmethod
    def authenticate(
        self, request: WebhookRequest, secrets: Sequence[str], now: float, settings: Settings
    ) -> None:
        """Raise :class:`AuthenticationFailed` unless the request comes from the sender.

        ``secrets`` are the values configured for this source in ``WEBHOOK_SECRETS_ID``;
        ``settings`` the container's, for sources whose check depends on them.
        """

    @abstractmethod
    def parse(self, request: WebhookRequest, settings: Settings) -> Sequence[SourceItem]:
        """The events an authenticated request carries: a close to act on, or something else to
        ignore with its reason. Raises :class:`InvalidEvent` for a body it cannot read."""

    @property
    def answer_content_type(self) -> str:
        """The content type of the success answer (:attr:`SourceDoc.answer_content_type`)."""
        return self.doc.answer_content_type

    def acknowledgement(self, acknowledged: bool) -> str | None:
        """The body of the answer, for a sender that expects its own acknowledgement rather
        than JSON: ``acknowledged`` when every event is finished, not when one needs the sender
        to deliver again. None (the default): the JSON answers of the webhook API."""
        return None
