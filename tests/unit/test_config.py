"""Settings: validated once, errors name the variable and never echo values."""

from __future__ import annotations

import pytest

from masking_unset.config import NumberFormat, Settings
from masking_unset.models.errors import ConfigurationError

BASE = {"DEEPCALL_BASE_URL": "https://api.example.com/", "DEEPCALL_SECRET_ID": "arn:secret"}


def test_defaults() -> None:
    settings = Settings.from_env(BASE)
    assert settings.deepcall_base_url == "https://api.example.com"
    assert settings.deepcall_number_format is NumberFormat.NATIONAL
    assert settings.phone_default_region == "IN"
    assert settings.dry_run is False


@pytest.mark.parametrize(
    ("extra", "variable"),
    [
        ({"DEEPCALL_BASE_URL": "http://api.example.com"}, "DEEPCALL_BASE_URL"),
        ({"DEEPCALL_BASE_URL": "ftp://x"}, "DEEPCALL_BASE_URL"),
        ({"DEEPCALL_NUMBER_FORMAT": "e.164"}, "DEEPCALL_NUMBER_FORMAT"),
        ({"DEEPCALL_TIMEOUT_SECONDS": "-1"}, "DEEPCALL_TIMEOUT_SECONDS"),
        ({"PHONE_DEFAULT_REGION": "XX"}, "PHONE_DEFAULT_REGION"),
        ({"DRY_RUN": "maybe"}, "DRY_RUN"),
    ],
)
def test_bad_values_name_their_variable(extra: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({**BASE, **extra})
    assert variable in caught.value.message


def test_missing_required_variables_are_named() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({})
    assert "DEEPCALL_BASE_URL" in caught.value.message
    assert "DEEPCALL_SECRET_ID" in caught.value.message


def test_error_does_not_echo_the_value() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({**BASE, "DEEPCALL_TIMEOUT_SECONDS": "s3cr3t-value"})
    assert "s3cr3t-value" not in caught.value.message


def test_http_only_when_explicitly_allowed() -> None:
    local = {**BASE, "DEEPCALL_BASE_URL": "http://127.0.0.1:9999", "DEEPCALL_ALLOW_HTTP": "true"}
    assert Settings.from_env(local).deepcall_base_url == "http://127.0.0.1:9999"


def test_lists_and_blanks() -> None:
    settings = Settings.from_env(
        {**BASE, "HUBSPOT_CLOSED_STAGES": " 4, 5 ,", "QUEUE_URL": "", "PHONE_DEFAULT_REGION": "us"}
    )
    assert settings.hubspot_closed_stages == ("4", "5")
    assert settings.queue_url is None
    assert settings.phone_default_region == "US"
