"""``sign``: the headers of a correctly signed webhook request, and a curl line that sends it.

Every source signs for itself (:meth:`~masking_unset.sources.base.WebhookSource.sign`, in the
registry :data:`masking_unset.sources.SOURCES`); this module adds the content type the source
declares and prints the result. A value that *is* the secret (a shared token) is never printed:
the curl line reads it from the secret file at run time instead.
"""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from masking_unset.sources import SOURCES
from masking_unset.sources.base import WebhookSource
from masking_unset_tools.ops.console import Out
from masking_unset_tools.ops.errors import UsageError

DEFAULT_BASE_URL = "http://127.0.0.1:8080"


@dataclass(frozen=True)
class SignInput:
    """What a signer needs: the raw body exactly as it will be sent, and where it goes."""

    source: str
    secret: str = field(repr=False)
    body: bytes
    url: str
    method: str = "POST"
    now: float = field(default_factory=time.time)


@dataclass(frozen=True)
class SignedRequest:
    """The request to send. ``secret_headers`` name headers whose value is the secret itself;
    ``secret_query`` names a query parameter that is (already added to ``url``)."""

    method: str
    url: str = field(repr=False)
    headers: dict[str, str] = field(repr=False)
    secret_headers: frozenset[str] = frozenset()
    secret_query: str | None = None
    base_url: str = ""  # ``url`` without the secret query parameter


def read_secret(path: Path, source: str) -> str:
    """The signing secret in ``path``: the bare secret, or the ``WEBHOOK_SECRETS_ID`` JSON document
    (``{"generic": ["whsec_..."]}``), whose first secret for ``source`` is used."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot be read ({type(exc).__name__})") from None
    if text.startswith("{"):
        try:
            document = json.loads(text)
        except ValueError:
            raise UsageError(f"{path}: starts with {{ but is not JSON") from None
        entry = document.get(source) if isinstance(document, dict) else None
        if isinstance(entry, list):
            entry = entry[0] if entry else None
        if not isinstance(entry, str) or not entry:
            raise UsageError(f"{path}: has no secret for the source {source!r}")
        return entry
    if not text:
        raise UsageError(f"{path}: is empty")
    return text


def read_body(path: Path) -> bytes:
    """The body file's bytes, exactly as curl's ``--data-binary @FILE`` will send them."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot be read ({type(exc).__name__})") from None


def default_url(source: str) -> str:
    """Where ``masking-unset serve`` listens by default."""
    return f"{DEFAULT_BASE_URL}/webhooks/{source}"


def signer_for(source: str, *, url_given: bool) -> WebhookSource:
    """The registered ``source``; :class:`UsageError` for an unknown source, or a missing
    ``--url`` where the signature covers it."""
    found = SOURCES.get(source)
    if found is None:
        known = ", ".join(sorted(SOURCES))
        raise UsageError(f"cannot sign for the source {source!r} (known: {known})")
    if found.doc.signs_url and not url_given:
        raise UsageError(f"{source} signs the URL it calls: pass --url")
    return found


def sign(request: SignInput) -> SignedRequest:
    """Sign ``request`` as its source's sender would; :class:`UsageError` for an unknown source,
    a URL that is not http(s) or a secret the source cannot sign with."""
    source = signer_for(request.source, url_given=True)
    parts = urlsplit(request.url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise UsageError("--url must be an http:// or https:// URL")
    try:
        signed = source.sign(
            method=request.method,
            url=request.url,
            body=request.body,
            secret=request.secret,
            now=request.now,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    content_type = source.doc.request_content_type
    headers = {"content-type": content_type}
    if content_type.startswith("text/xml"):
        headers["SOAPAction"] = '""'  # SOAP 1.1 requests name their action, here none
    headers.update(signed.headers)
    url = request.url
    if signed.query:
        url += ("&" if parts.query else "?") + urlencode(signed.query)
    return SignedRequest(
        request.method,
        url,
        headers,
        secret_headers=frozenset(name for name in signed.headers if name in signed.secret_names),
        secret_query=next((name for name in signed.query if name in signed.secret_names), None),
        base_url=request.url,
    )


def carries_secret(signed: SignedRequest) -> bool:
    """Whether the request carries the secret itself (a token), not just a signature."""
    return bool(signed.secret_headers or signed.secret_query)


def shown_url(signed: SignedRequest) -> str:
    """The URL for display: a secret query parameter shown as ``<secret>``."""
    if not signed.secret_query:
        return signed.url
    separator = "&" if urlsplit(signed.base_url).query else "?"
    return f"{signed.base_url}{separator}{signed.secret_query}=<secret>"


def curl_line(
    signed: SignedRequest,
    body_file: str,
    secret_file: str | None,
    secret_command: str | None = None,
) -> str:
    """A shell command that sends the signed request; a secret value is read when it runs, from
    its file or by ``secret_command`` (the demo secret's)."""
    if carries_secret(signed) and secret_file is None and secret_command is None:
        raise UsageError(
            "this source's token is the secret itself and is never printed: "
            "pass --secret-file (the curl line reads it from there)"
        )
    read_secret_cmd = f"$({secret_command or 'cat ' + shlex.quote(secret_file or '')})"
    url = shlex.quote(signed.url)
    if signed.secret_query:
        separator = "&" if urlsplit(signed.base_url).query else "?"
        url = shlex.quote(f"{signed.base_url}{separator}{signed.secret_query}=")
        url += f'"{read_secret_cmd}"'
    words = ["curl", "-sS", "-i", "-X", signed.method, url]
    for name, value in signed.headers.items():
        words.append("-H")
        if name in signed.secret_headers:
            words.append(f'"{name}: {read_secret_cmd}"')
        else:
            words.append(shlex.quote(f"{name}: {value}"))
    words += ["--data-binary", shlex.quote(f"@{body_file}")]
    return " ".join(words)


def print_signed(
    signed: SignedRequest,
    out: Out,
    *,
    body_file: str,
    secret_file: str | None,
    secret_command: str | None = None,
) -> None:
    """The request line, the headers (a secret value hidden), and the curl line."""
    # First: it refuses before anything prints.
    curl = curl_line(signed, body_file, secret_file, secret_command)
    hidden = "<secret from the secret file>" if secret_command is None else "<demo secret>"
    out(f"{signed.method} {shown_url(signed)}")
    for name, value in signed.headers.items():
        shown = hidden if name in signed.secret_headers else value
        out(f"{name}: {shown}")
    out("")
    out(curl)
