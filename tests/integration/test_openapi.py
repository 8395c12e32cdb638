"""The OpenAPI document against the running API: schemathesis generates requests from
``docs/openapi.json``'s source (the models), ``masking-unset serve`` answers them on the local
stand-ins, and every answer must be documented and match its schema."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from masking_unset.app import reset_app
from masking_unset.sources import SOURCES
from masking_unset_tools.local.aws_endpoint import LocalAwsEndpoint
from masking_unset_tools.local.deepcall_standin import Fault
from masking_unset_tools.local.stack import DEMO_SOURCE_SECRETS, DEMO_SSID, environment, provision
from masking_unset_tools.ops.openapi import build_document
from masking_unset_tools.ops.serve import Serving, running_server
from masking_unset_tools.ops.sign import SignInput
from masking_unset_tools.ops.sign import sign as sign_request
from tests.support.deepcall import ScriptedDeepCall

SCHEMA = schemathesis.openapi.from_dict(build_document())
OPERATION = SCHEMA["/webhooks/{source}"]["POST"]
CHECKS = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
DOCUMENTED_5XX = {502, 503}
# Numbers that parse, so signed cases get past validation and reach DeepCall.
NUMBERS = ["+91 80 4000 1234", "98765 43210", "+91 91234 56780"]


@pytest.fixture(scope="module")
def served(aws: LocalAwsEndpoint) -> Iterator[Serving]:
    """``serve`` on its own stand-ins, as ``serving`` sets them up; DeepCall fails now and then,
    without retries."""
    faults = [Fault.error(1000, "Invalid parameters"), Fault.html(502), Fault.error(1505, "-")]
    with ScriptedDeepCall(credentials={"ssid": DEMO_SSID}) as deepcall, running_server() as server:
        deepcall.set_fault_rate(0.3, faults, seed=7)
        stack = provision(aws, deepcall)
        env = {**stack.env(), "PUBLIC_BASE_URL": server.url, "DEEPCALL_MAX_ATTEMPTS": "1"}
        with environment(env):
            reset_app()
            yield Serving(server, stack)
    reset_app()


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False  # loopback only
        yield session


def prepare(case: Case, base_url: str, sign: bool, number: str) -> requests.PreparedRequest:
    """The request schemathesis generated; signed with the demo secret of its source (when
    ``sign``) over the exact bytes that will be sent."""
    if sign and isinstance(case.body, dict):
        case.body = {**case.body, "mask": number}
    kwargs: dict[str, Any] = case.as_transport_kwargs(base_url=base_url)
    kwargs.pop("timeout", None)
    prepared = requests.Request(
        method=kwargs.pop("method"),
        url=kwargs.pop("url"),
        headers=kwargs.pop("headers", None),
        params=kwargs.pop("params", None),
        json=kwargs.pop("json", None),
        data=kwargs.pop("data", None),
        cookies=kwargs.pop("cookies", None),
    ).prepare()
    source = str((case.path_parameters or {}).get("source", ""))
    if sign and source in SOURCES:
        body = prepared.body or b""
        raw = body.encode() if isinstance(body, str) else bytes(body)
        secret = DEMO_SOURCE_SECRETS[source][0]
        signed = sign_request(SignInput(source, secret, raw, str(prepared.url)))
        prepared.url = signed.url
        prepared.headers.update(signed.headers)
    return prepared


def test_the_document_is_valid_openapi_3_1() -> None:
    from openapi_spec_validator import validate

    document = build_document()
    validate(document)
    operation = document["paths"]["/webhooks/{source}"]["post"]
    assert operation["parameters"][0]["schema"]["enum"] == list(SOURCES)
    assert set(operation["responses"]) == {
        "200",
        "202",
        "400",
        "401",
        "404",
        "405",
        "409",
        "413",
        "422",
        "502",
        "503",
        "500",
    }
    assert operation["responses"]["503"]["headers"]["Retry-After"]["required"] is True
    assert "source" not in document["components"]["schemas"]["CloseEvent"]["properties"]
    json.dumps(document)  # serialisable as committed


def test_every_credential_of_every_source_is_a_parameter() -> None:
    operation = build_document()["paths"]["/webhooks/{source}"]["post"]
    parameters = {(p["in"], p["name"].lower()) for p in operation["parameters"]}
    for source in SOURCES.values():
        for credential in source.doc.credentials:
            if credential.name.lower() == "authorization":
                continue  # OpenAPI ignores an Authorization header parameter
            assert (credential.location, credential.name.lower()) in parameters, credential
    xml = (
        {"text/xml"} if any("xml" in s.doc.answer_content_type for s in SOURCES.values()) else set()
    )
    assert set(operation["responses"]["200"]["content"]) == {"application/json", *xml}


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_answer_is_documented(
    served: Serving, http: requests.Session, mode: GenerationMode
) -> None:
    statuses: Counter[int] = Counter()

    @settings(
        max_examples=40,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        case=OPERATION.as_strategy(generation_mode=mode),
        sign=st.booleans(),
        number=st.sampled_from(NUMBERS),
    )
    def exchange(case: Case, sign: bool, number: str) -> None:
        response = http.send(prepare(case, served.url, sign, number), timeout=30)
        statuses[response.status_code] += 1
        assert response.status_code < 500 or response.status_code in DOCUMENTED_5XX, (
            response.status_code,
            response.text,
        )
        case.validate_response(response, checks=CHECKS)

    exchange()

    assert sum(statuses.values()) >= 20
    assert statuses[401] > 0  # unsigned or mis-signed requests are refused
    if mode is GenerationMode.POSITIVE:
        assert statuses[200] + statuses[202] > 0, statuses  # some reached DeepCall
