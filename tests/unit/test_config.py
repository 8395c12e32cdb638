"""Settings: validated once, errors name the variable and never echo values."""

from __future__ import annotations

import re

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


# -- issue 19: a base URL, timeouts, and errors that are not tied to one field ----------------

PROBLEM = re.compile(r"^[A-Z][A-Z0-9_]*(?: \+ [A-Z0-9_ .]+?)*(?: is not set)?: \S")


@pytest.mark.parametrize(
    "url",
    [
        "https://api.example.com#x",
        "https://api.example.com/#",
        "https://api.example.com?v=2",
        "https://api.example.com/v2;params",
        "https://operator:pa55word@api.example.com",
        "https://api.example.com:99999",
        "https://api.example.com:0",
        "https:///api",
        "https://api .example.com",
        "https://api.example.com:80:81",
        "https://[::1",
        "https://[::1]junk:443",
        "https://999.0.0.1",
        "https://api.example.com/a/../b",
    ],
)
def test_a_base_url_other_than_scheme_host_port_and_path_is_refused(url: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({**BASE, "DEEPCALL_BASE_URL": url})
    assert caught.value.message.startswith("invalid configuration: DEEPCALL_BASE_URL: ")
    assert "pa55word" not in caught.value.message


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        ("https://API.example.com:8443/v1/", "https://api.example.com:8443/v1"),
        ("https://[::1]:8443", "https://[::1]:8443"),
        ("  https://api.example.com/deep/call  ", "https://api.example.com/deep/call"),
    ],
)
def test_a_base_url_is_normalised(url: str, normalised: str) -> None:
    assert Settings.from_env({**BASE, "DEEPCALL_BASE_URL": url}).deepcall_base_url == normalised


@pytest.mark.parametrize(
    ("extra", "accepted"),
    [
        ({"DEEPCALL_TIMEOUT_SECONDS": "13.45"}, True),  # docs/performance.md's limit
        ({"DEEPCALL_TIMEOUT_SECONDS": "13.46"}, False),
        ({"DEEPCALL_CONNECT_TIMEOUT_SECONDS": "8", "DEEPCALL_TIMEOUT_SECONDS": "8.5"}, True),
        ({"DEEPCALL_CONNECT_TIMEOUT_SECONDS": "8", "DEEPCALL_TIMEOUT_SECONDS": "8.6"}, False),
        ({"DEEPCALL_TIMEOUT_SECONDS": "12.45", "DEEPCALL_MAX_RPS": "5"}, True),
        ({"DEEPCALL_TIMEOUT_SECONDS": "12.5", "DEEPCALL_MAX_RPS": "5"}, False),
    ],
)
def test_timeouts_must_leave_the_webhook_time_for_one_call(
    extra: dict[str, str], accepted: bool
) -> None:
    if accepted:
        Settings.from_env({**BASE, **extra})
        return
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({**BASE, **extra})
    message = caught.value.message
    assert "DEEPCALL_CONNECT_TIMEOUT_SECONDS + DEEPCALL_TIMEOUT_SECONDS" in message
    assert "at most 16.5 s" in message
    assert "25 s" in message
    assert ("DEEPCALL_MAX_RPS" in message) == ("DEEPCALL_MAX_RPS" in extra)


@pytest.mark.parametrize(
    "extra",
    [
        {"DEEPCALL_BASE_URL": "http://api.example.com"},  # a check of two fields
        {"IDEMPOTENCY_TABLE": "t"},  # HASH_KEY_SECRET_ID missing: a check of three
        {"DEEPCALL_TIMEOUT_SECONDS": "20"},
        {"DEEPCALL_TIMEOUT_SECONDS": "-1"},
    ],
)
def test_every_problem_starts_with_the_variables_it_is_about(extra: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({**BASE, **extra})
    problems = caught.value.message.removeprefix("invalid configuration: ").split("; ")
    for problem in problems:
        assert PROBLEM.match(problem), problem


def test_a_missing_variable_says_what_to_set_it_to_in_plain_words() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({})
    message = caught.value.message
    assert message.startswith(
        "invalid configuration: DEEPCALL_BASE_URL is not set: set it to DeepCall's API base URL"
    )
    assert "DEEPCALL_SECRET_ID is not set: set it to the name or ARN" in message
    assert "Field required" not in message


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("DEEPCALL_TIMEOUT_SECONDS", "soon", "DEEPCALL_TIMEOUT_SECONDS: must be a number"),
        ("DEEPCALL_MAX_ATTEMPTS", "0", "DEEPCALL_MAX_ATTEMPTS: must be at least 1"),
        ("DEEPCALL_MAX_ATTEMPTS", "11", "DEEPCALL_MAX_ATTEMPTS: must be at most 10"),
        ("QUEUE_MAX_RECEIVES", "1.5", "QUEUE_MAX_RECEIVES: must be a whole number"),
        ("DRY_RUN", "maybe", "DRY_RUN: must be true or false"),
        ("DEEPCALL_NUMBER_FORMAT", "words", "DEEPCALL_NUMBER_FORMAT: must be one of 'national'"),
    ],
)
def test_a_bad_value_is_described_in_plain_words_without_the_value(
    variable: str, value: str, words: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({**BASE, variable: value})
    message = caught.value.message
    assert words in message
    assert "Input should" not in message
    assert f"'{value}'" not in message
