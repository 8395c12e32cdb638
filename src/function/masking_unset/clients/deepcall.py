"""DeepCall's HTTP API."""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from time import time
from typing import Protocol

import requests
from pydantic import ValidationError
from requests.adapters import HTTPAdapter

from masking_unset.models.deepcall import (
    EXPIRE_NOW_MINUTES,
    UNSET_PATH,
    DeepCallCredentials,
    DeepCallReply,
    UnsetTarget,
    unset_body,
)
from masking_unset.models.errors import MaskingUnsetError, UpstreamRejected, UpstreamUnavailable
from masking_unset.models.json_input import load_json
from masking_unset.models.redact import scrub

_MAX_MESSAGE = 200
MAX_RETRY_AFTER_SECONDS = 3600.0  # a longer wait asked for is waited no longer than this
_MAX_HTTP_DATE = 64  # "Sun, 06 Nov 1994 08:49:37 GMT" is 29
# How long a 429 without a usable Retry-After pauses the pacer.
DEFAULT_PAUSE_SECONDS = 1.0


class RequestPacer(Protocol):
    """Paces requests (see :class:`masking_unset.logic.ratelimit.TokenBucket`)."""

    def acquire(self) -> bool:
        """Wait for a slot; False, without waiting, when none comes soon enough."""
        ...

    def wait_time(self) -> float:
        """Seconds until a slot would be free."""
        ...

    def pause(self, seconds: float) -> None:
        """No slot for ``seconds`` (DeepCall asked to slow down); shared pacers pause the fleet."""
        ...


def build_session(pool_size: int = 10) -> requests.Session:
    """A keep-alive session whose connection pool matches the expected concurrency."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers.update({"Accept": "application/json", "User-Agent": "masking-unset"})
    return session


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date), at most
    :data:`MAX_RETRY_AFTER_SECONDS`; None when there is no such header or it says nothing."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # ASCII only: "²".isdigit() too, float() refuses it
        digits = value.lstrip("0")
        if len(digits) > 9:  # beyond any cap; float() of 400 digits would be inf
            return MAX_RETRY_AFTER_SECONDS
        return min(float(digits or "0"), MAX_RETRY_AFTER_SECONDS)
    if len(value) > _MAX_HTTP_DATE:
        return None
    try:
        moment = parsedate_to_datetime(value)
        seconds = moment.timestamp() - (time() if now is None else now)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)  # a date is never NaN


class DeepCallClient:
    """Calls ``POST {base}/api/v2/Masking/unset``; one instance (and session) per container."""

    def __init__(
        self,
        base_url: str,
        *,
        session: requests.Session,
        connect_timeout: float = 3.05,
        read_timeout: float = 5.0,
        pacer: RequestPacer | None = None,
    ) -> None:
        self._url = base_url.rstrip("/") + UNSET_PATH
        self._session = session
        self._timeout = (connect_timeout, read_timeout)
        self._pacer = pacer

    def unset(
        self,
        credentials: DeepCallCredentials,
        target: UnsetTarget,
        expiry_duration: int = EXPIRE_NOW_MINUTES,
    ) -> DeepCallReply:
        """Expire ``target`` now (``expiry_duration`` negative), or set its expiry that many
        minutes from now.

        Returns DeepCall's success reply. Raises :class:`UpstreamRejected` when DeepCall answers
        with an error body (its ``code`` kept), :class:`UpstreamUnavailable` when no usable
        answer came back (connection failure, timeout, 429/5xx, a body that is not JSON) or when
        the ``DEEPCALL_MAX_RPS`` pacer has no slot soon enough (code ``rate_limited``, nothing
        sent; its ``retry_after`` says when one frees up).
        """
        if self._pacer is not None and not self._pacer.acquire():
            raise UpstreamUnavailable(
                "DeepCall request rate limit reached (DEEPCALL_MAX_RPS)",
                code="rate_limited",
                retry_after=self._pacer.wait_time(),
            )
        try:
            response = self._session.post(
                self._url,
                json=unset_body(credentials, target, expiry_duration),
                timeout=self._timeout,
                allow_redirects=False,  # the body carries credentials: never resend it elsewhere
            )
        except requests.Timeout:
            raise UpstreamUnavailable(
                "DeepCall did not answer in time", code="upstream_timeout"
            ) from None
        except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError):
            # The request may well have been carried out; only the answer was lost.
            raise UpstreamUnavailable(
                "DeepCall's answer was cut off", code="upstream_bad_response"
            ) from None
        except requests.RequestException as exc:
            # The exception text can echo the URL but never the body; keep only its type.
            raise UpstreamUnavailable(
                f"could not reach DeepCall ({type(exc).__name__})", code="upstream_unreachable"
            ) from None
        self._slow_down_if_asked(response)
        return self._interpret(response, credentials)

    def _slow_down_if_asked(self, response: requests.Response) -> None:
        """A 429 (or a 503 with ``Retry-After``) pauses the pacer for the time asked (1 s when
        not said), so every container sharing it waits, not just this request."""
        if self._pacer is None or response.status_code not in (429, 503):
            return
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if response.status_code == 429 or retry_after is not None:
            self._pacer.pause(DEFAULT_PAUSE_SECONDS if retry_after is None else retry_after)

    def close(self) -> None:
        """Drop the pooled connections; the session stays usable and reconnects when next used."""
        self._session.close()

    @staticmethod
    def _interpret(response: requests.Response, credentials: DeepCallCredentials) -> DeepCallReply:
        status = response.status_code
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        try:
            document = load_json(response.content, what="DeepCall's answer")
            reply = DeepCallReply.model_validate(document)
        except (MaskingUnsetError, ValidationError):
            # A proxy's HTML page or a cut-off body: the request may not have been seen at all.
            raise UpstreamUnavailable(
                f"DeepCall answered HTTP {status} without a JSON body",
                http_status=status,
                retry_after=retry_after,
                code="upstream_bad_response",
            ) from None
        if status == 200 and reply.succeeded:
            return reply
        # DeepCall's text is untrusted: it may echo the credentials or the numbers we sent.
        sent = credentials.auth_fields().values()
        message = scrub(reply.message or "", secrets=sent, limit=_MAX_MESSAGE)
        if reply.status == "error" or reply.code is not None:
            raise UpstreamRejected(
                f"DeepCall refused the unset (code {reply.code}): {message}".rstrip(": "),
                deepcall_code=reply.code,
                http_status=status,
                retry_after=retry_after,
                upstream_message=message,
            )
        if status == 429 or status >= 500:
            raise UpstreamUnavailable(
                f"DeepCall answered HTTP {status}", http_status=status, retry_after=retry_after
            )
        raise UpstreamRejected(
            f"DeepCall answered HTTP {status} without success",
            http_status=status,
            upstream_message=message,
        )
