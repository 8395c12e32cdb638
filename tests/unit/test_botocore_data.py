"""The tests' shared botocore loader (tests/support/botocore_data.py): one per data path."""

from __future__ import annotations

from pathlib import Path

import boto3
import botocore.session
import pytest

from tests.support.botocore_data import shared_loader


def test_every_session_reads_botocore_data_through_one_loader() -> None:
    first, second = botocore.session.Session(), boto3.session.Session()

    loader = first.get_component("data_loader")
    assert second._session.get_component("data_loader") is loader
    assert len(loader.search_paths) == len(set(loader.search_paths))  # boto3's folder once
    assert loader.load_data("endpoints") is loader.load_data("endpoints")  # parsed once


def test_another_data_path_has_its_own_loader(tmp_path: Path) -> None:
    assert shared_loader(str(tmp_path)) is not shared_loader(None)
    assert str(tmp_path) in shared_loader(str(tmp_path)).search_paths


def test_a_client_of_a_shared_loader_still_works(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS", "AWS_USE_FIPS_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    sqs = boto3.session.Session(
        region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b"
    ).client("sqs")
    assert sqs.meta.service_model.service_name == "sqs"
    assert sqs.meta.endpoint_url == "https://sqs.us-east-1.amazonaws.com"
