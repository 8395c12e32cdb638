"""Each event to the expirer of its DeepCall account (docs/deploying.md, "Several DeepCall
accounts"): its own base URL, credentials, circuit breaker and request rate."""

from __future__ import annotations

from collections.abc import Callable

from masking_unset.logic.expiry import MaskingExpirer
from masking_unset.models.accounts import ACCOUNTS_VARIABLE, DEFAULT_ACCOUNT
from masking_unset.models.budget import Deadline
from masking_unset.models.errors import UnknownAccount
from masking_unset.models.events import CloseEvent, UnsetResult


class AccountExpirers:
    """Expires each event through its account's :class:`MaskingExpirer`: the one named by the
    event's ``account`` (None: ``default``). A name that is not configured is refused with
    :class:`UnknownAccount`, never sent to another account."""

    def __init__(
        self,
        default: MaskingExpirer,
        expirer_for: Callable[[str], MaskingExpirer],
        names: tuple[str, ...],
    ) -> None:
        self._default = default
        self._expirer_for = expirer_for
        self._names = frozenset(names)

    def expirer(self, account: str | None) -> MaskingExpirer:
        """The expirer of ``account``; raises :class:`UnknownAccount`."""
        name = DEFAULT_ACCOUNT if account is None else account
        if name == DEFAULT_ACCOUNT:
            return self._default
        if name not in self._names:
            raise UnknownAccount(
                f"the event names an account that is not configured ({ACCOUNTS_VARIABLE}); "
                "check its account field"
            )
        return self._expirer_for(name)

    def expire(self, event: CloseEvent, deadline: Deadline | None = None) -> UnsetResult:
        """Expire ``event`` through its account's expirer (see :meth:`MaskingExpirer.expire`)."""
        return self.expirer(event.account).expire(event, deadline)

    def content_digest(self, text: str) -> str | None:
        """A keyed hash of ``text``: one hash key serves every account."""
        return self._default.content_digest(text)
