"""The DeepCall boundary: credentials, the unset request and DeepCall's reply."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, StrictStr

from masking_unset.models.redact import redact_number

UNSET_PATH = "/api/v2/Masking/unset"  # POST {DEEPCALL_BASE_URL}{UNSET_PATH}
EXPIRE_NOW_MINUTES = -1  # a negative expiry_duration expires the masking immediately
BASE_URL_SCHEMES = frozenset({"https", "http"})  # http only with DEEPCALL_ALLOW_HTTP (config.py)

# A DNS name's label (underscores tolerated, as resolvers do), and a path prefix of plain
# segments: no ";" parameters, no "?" or "#", nothing a request would move elsewhere.
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\Z")
_NETLOC = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::[0-9]*)?\Z")  # host[:port]
_SEGMENT = re.compile(r"(?:[A-Za-z0-9._~!$&'()*+,=:@-]|%[0-9A-Fa-f]{2})+\Z")
_MAX_HOST = 253


def _host(hostname: str, bracketed: bool) -> str:
    """The host as written in the URL (lower case, IPv6 in brackets); ValueError otherwise."""
    if bracketed:
        if "%" in hostname:  # a zone id names an interface of one machine, not DeepCall
            raise ValueError("has a broken IPv6 address")
        try:
            return f"[{ipaddress.IPv6Address(hostname).compressed}]"
        except ValueError:
            raise ValueError("has a broken IPv6 address") from None
    name = hostname.removesuffix(".")
    if len(name) > _MAX_HOST or not all(_LABEL.match(label) for label in name.split(".")):
        raise ValueError("has a host that is not a DNS name or an IP address")
    if name.replace(".", "").isdigit():  # all digits: only an IPv4 address can be meant
        try:
            ipaddress.IPv4Address(name)
        except ValueError:
            raise ValueError("has a broken IPv4 address") from None
    return name


def normalise_base_url(value: str) -> str:
    """``scheme://host[:port][/path prefix]``: lower-case scheme and host, no trailing slash.

    Raises ValueError for anything else (a query, a fragment, a user name or password,
    parameters, dot segments) and for a URL no request can reach (no host, a bad host, a port
    outside 1-65535). The message says what is wrong, never the value: a user part may hold a
    password.
    """
    text = value.strip()
    if not text.isascii() or not text.isprintable() or " " in text:
        raise ValueError(
            "must be plain ASCII without spaces or control characters (punycode for an "
            "international domain name)"
        )
    if "?" in text or "#" in text:
        raise ValueError("must not have a query (?) or a fragment (#)")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:  # a broken IPv6 literal, a port that is no number or out of range
        raise ValueError(
            "has a broken host or a port that is not a number from 1 to 65535"
        ) from None
    scheme = parts.scheme.lower()
    if scheme not in BASE_URL_SCHEMES:
        raise ValueError("must be an https:// URL")
    if "@" in parts.netloc:
        raise ValueError("must not hold a user name or password")
    if not parts.hostname:
        raise ValueError("has no host")
    if not _NETLOC.match(parts.netloc):  # urlsplit drops what follows "]" before a port
        raise ValueError("has a host that is not a DNS name or an IP address")
    if port == 0:
        raise ValueError("has a port that is not a number from 1 to 65535")
    host = _host(parts.hostname, parts.netloc.startswith("["))
    segments = parts.path.rstrip("/").split("/")[1:]
    for segment in segments:
        if segment in {"", ".", ".."} or not _SEGMENT.match(segment):
            raise ValueError(
                "may have a path prefix of plain segments only (no ;parameters, no empty, . "
                "or .. segments)"
            )
    netloc = host if port is None else f"{host}:{port}"
    return urlunsplit((scheme, netloc, "".join(f"/{s}" for s in segments), "", ""))


def unset_url(base_url: str) -> str:
    """The unset endpoint under ``base_url`` (:func:`normalise_base_url`; its ValueError)."""
    parts = urlsplit(normalise_base_url(base_url))
    return urlunsplit((parts.scheme, parts.netloc, parts.path + UNSET_PATH, "", ""))


def _code_number(value: object) -> object:
    # DeepCall's docs show numeric codes; tolerate "1014" as well, and drop anything else.
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        # ASCII digits only ("²".isdigit() is true), and few enough for int() to accept.
        text = value.strip()
        return int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else None
    return value if isinstance(value, int) else None


class SsidCredentials(BaseModel):
    """A DeepCall session id."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    ssid: SecretStr = Field(min_length=1)

    def auth_fields(self) -> dict[str, str]:
        """The authentication fields of the request body."""
        return {"ssid": self.ssid.get_secret_value()}


class TokenCredentials(BaseModel):
    """A DeepCall user id with its token (DeepCall forbids sending ``ssid`` with these)."""

    # Built on first use: most deployments authenticate with an ssid and never need it.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)
    userId: SecretStr = Field(min_length=1)
    token: SecretStr = Field(min_length=1)

    def auth_fields(self) -> dict[str, str]:
        """The authentication fields of the request body."""
        return {"userId": self.userId.get_secret_value(), "token": self.token.get_secret_value()}


DeepCallCredentials = SsidCredentials | TokenCredentials


class UnsetTarget(BaseModel):
    """The masking to expire, numbers already formatted for DeepCall."""

    model_config = ConfigDict(frozen=True)
    mask: str | None = None
    m1: str | None = None
    m2: str | None = None

    def fields(self) -> dict[str, str]:
        """Only the numbers that are present."""
        return self.model_dump(exclude_none=True)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={redact_number(v)}" for k, v in self.fields().items())
        return f"UnsetTarget({shown})"

    __str__ = __repr__


# The numbers a masking is named by, in the order DeepCall lists them.
NUMBER_FIELDS: tuple[str, ...] = tuple(UnsetTarget.model_fields)


def unset_body(
    credentials: DeepCallCredentials,
    target: UnsetTarget,
    expiry_duration: int = EXPIRE_NOW_MINUTES,
) -> dict[str, object]:
    """The JSON body of the unset request: a negative ``expiry_duration`` expires ``target`` now,
    a positive one sets its expiry that many minutes from now."""
    return {**credentials.auth_fields(), **target.fields(), "expiry_duration": expiry_duration}


class DeepCallReply(BaseModel):
    """DeepCall's JSON answer: ``{"status": "success"|"error", "message": ..., "code": ...}``."""

    model_config = ConfigDict(extra="ignore")
    status: StrictStr | None = None
    message: StrictStr | None = None
    code: Annotated[int | None, BeforeValidator(_code_number)] = None

    @property
    def succeeded(self) -> bool:
        """DeepCall's own word for success."""
        return self.status == "success"
