"""The DeepCall URL is built by the URL library from a base that is scheme, host, port and a
path prefix only (issue 19): whatever the base, the request goes to the unset path or nowhere."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from masking_unset.clients.deepcall import DeepCallClient, build_session
from masking_unset.models.deepcall import UNSET_PATH, normalise_base_url, unset_url
from masking_unset.models.errors import ConfigurationError
from tests.fuzz.strategies import base_urls


def test_the_unset_path_follows_the_path_prefix() -> None:
    assert unset_url("https://api.example.com") == "https://api.example.com/api/v2/Masking/unset"
    assert unset_url("https://api.example.com:8443/v1/") == (
        "https://api.example.com:8443/v1/api/v2/Masking/unset"
    )


@pytest.mark.parametrize(
    "base", ["https://api.example.com#x", "https://api.example.com/?v=2", "https://u:p@h.example"]
)
def test_the_client_refuses_a_base_that_would_move_the_path(base: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        DeepCallClient(base, session=build_session(1))
    assert caught.value.message.startswith("DEEPCALL_BASE_URL: ")


@given(base=st.one_of(base_urls(), st.text(max_size=60)))
def test_any_base_gives_the_unset_path_or_a_value_error(base: str) -> None:
    try:
        url = unset_url(base)
    except ValueError:
        return
    parts = urlsplit(url)
    assert (parts.query, parts.fragment, parts.username, parts.password) == ("", "", None, None)
    assert parts.hostname
    assert parts.path.endswith(UNSET_PATH)
    assert 0 < (parts.port or 443) <= 65535
    assert normalise_base_url(normalise_base_url(base)) == normalise_base_url(base)  # stable
