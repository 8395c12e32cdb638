"""The DeepCall boundary: credentials, the unset request and DeepCall's reply."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, StrictStr

from masking_unset.models.redact import redact_number

UNSET_PATH = "/api/v2/Masking/unset"  # POST {DEEPCALL_BASE_URL}{UNSET_PATH}
EXPIRE_NOW_MINUTES = -1  # a negative expiry_duration expires the masking immediately


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
