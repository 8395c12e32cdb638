"""``masking-unset mapping put|get|delete`` against the moto server: the item it writes is the one
each source's close looks up, its output never shows a whole number, and bad input changes
nothing. Also: ``unresolved_target`` names the key that was looked up."""

from __future__ import annotations

import calendar
import json
import time
from typing import Any

import pytest

from masking_unset.handlers.queue import lambda_handler as queue_handler
from masking_unset.handlers.webhook import lambda_handler as webhook_handler
from masking_unset_tools.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main
from masking_unset_tools.local.lambda_context import LocalLambdaContext
from masking_unset_tools.local.stack import LocalStack
from tests.conftest import sqs_record
from tests.integration.helpers import gateway_event, response_json
from tests.integration.test_sources import hubspot_change, signed
from tests.support.deepcall import ScriptedDeepCall

RAW_DIGITS = ("8040003141", "80 4000 3141", "9876515160", "98765 15160", "9123415160")


def items(stack: LocalStack) -> list[dict[str, Any]]:
    return stack.aws.client("dynamodb").scan(TableName=stack.masking_map_table).get("Items", [])


def webhook(event: dict[str, Any]) -> dict[str, Any]:
    return webhook_handler(event, LocalLambdaContext())  # type: ignore[arg-type]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    for raw in RAW_DIGITS:
        assert raw not in captured.out + captured.err
    assert "Traceback" not in captured.out + captured.err
    return code, captured.out, captured.err


# --- put: the key each source looks up ------------------------------------------------------


def test_put_is_what_a_hubspot_close_resolves_and_expires(
    stack: LocalStack, deepcall: ScriptedDeepCall, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the masking recorded with the command (the source in any case, as the route takes it)
    code, out, _ = run(
        capsys, "mapping", "put", "--source", "HubSpot", "--ticket", "3141592",
        "--mask", "+91 80 4000 3141", "--expires-in", "30",
    )  # fmt: skip
    assert code == EXIT_OK
    assert out.startswith("wrote hubspot#3141592: mask=***3141 expires_at=")
    # When HubSpot reports the ticket closed, with no number in its event
    response = webhook(signed("hubspot", [hubspot_change(3141592)]))
    # Then the recorded masking is expired at DeepCall, and the item is gone
    assert response["statusCode"] == 200
    assert response_json(response)["status"] == "unset"
    assert list(deepcall.expired) == ["8040003141"]
    assert not stack.mapping_exists("hubspot#3141592")


def test_put_of_two_numbers_is_what_a_generic_close_without_numbers_resolves(
    stack: LocalStack, deepcall: ScriptedDeepCall, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, "mapping", "put", "--source", "generic", "--ticket", "T-42",
        "--m1", "98765 15160", "--m2", "+91 91234 15160",
    )  # fmt: skip
    assert code == EXIT_OK
    assert out.strip() == "wrote generic#T-42: m1=***5160 m2=***5160"
    # Stored with the country code: the item means the same whatever region reads it.
    [item] = items(stack)
    assert item["m1"] == {"S": "+919876515160"}
    assert item["m2"] == {"S": "+919123415160"}
    assert "expires_at" not in item

    response = webhook(gateway_event({"event_id": "e-42", "ticket_id": "T-42"}))

    assert response["statusCode"] == 200, response["body"]
    assert list(deepcall.expired) == ["9876515160|9123415160"]


def test_put_for_the_queue_is_what_a_queue_message_without_numbers_resolves(
    stack: LocalStack, deepcall: ScriptedDeepCall, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(
        capsys, "mapping", "put", "--source", "queue", "--ticket", "Q-7", "--mask", "080 4000 3141"
    )[0] == EXIT_OK  # fmt: skip
    response = queue_handler(
        {"Records": [sqs_record({"event_id": "q-7", "ticket_id": "Q-7"}, "m-1")]},
        LocalLambdaContext(),  # type: ignore[arg-type]
    )
    assert response["batchItemFailures"] == []
    assert list(deepcall.expired) == ["8040003141"]


def test_put_again_replaces_the_ticket_s_item_and_says_so(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["mapping", "put", "--source", "zendesk", "--ticket", "5160"]
    assert run(capsys, *args, "--mask", "+91 80 4000 3141")[0] == EXIT_OK
    year = time.gmtime().tm_year + 1
    seconds = calendar.timegm((year, 1, 1, 0, 0, 0))
    code, out, _ = run(capsys, *args, "--mask", "+91 80 4000 5160", "--expires-at", f"{year}-01-01")
    assert code == EXIT_OK
    assert out.splitlines() == [
        f"wrote zendesk#5160: mask=***5160 expires_at={year}-01-01T00:00:00Z ({seconds})",
        "  replaced zendesk#5160: mask=***3141",
    ]
    [item] = items(stack)
    assert item["mask"] == {"S": "+918040005160"}
    assert item["expires_at"] == {"N": str(seconds)}


# --- get and delete -------------------------------------------------------------------------


def test_get_shows_the_item_with_its_numbers_cut_to_four_digits(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    stack.put_mapping(
        "zendesk#5160", {"m1": "+91 98765 15160", "m2": "+91 91234 15160"}, 4070908800
    )
    code, out, _ = run(capsys, "mapping", "get", "--source", "zendesk", "--ticket", "5160")
    assert code == EXIT_OK
    assert out.splitlines() == [
        "mapping zendesk#5160",
        "  m1:         ***5160",
        "  m2:         ***5160",
        "  expires_at: 2099-01-01T00:00:00Z (4070908800)",
    ]
    code, out, _ = run(
        capsys, "mapping", "get", "--source", "zendesk", "--ticket", "5160", "--json"
    )
    assert code == EXIT_OK
    assert json.loads(out) == {
        "key": "zendesk#5160",
        "m1": "***5160",
        "m2": "***5160",
        "expires_at": 4070908800,
        "problems": [],
    }


def test_get_says_which_number_a_close_could_not_use(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    stack.put_mapping("hubspot#9", {"mask": "+91 80 4000 3141 ext. 2"})  # written by hand
    code, out, _ = run(capsys, "mapping", "get", "--source", "hubspot", "--ticket", "9")
    assert code == EXIT_OK
    assert "  mask:       ***1412" in out  # the last four digits, as the functions log it
    assert "problem:    mask may hold only digits" in out
    assert "fails invalid_number" in out


def test_get_of_a_ticket_without_item_exits_1_naming_the_key(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    stack.put_mapping("zendesk#404", {"mask": "+91 80 4000 3141"})  # another source's ticket
    code, _, err = run(capsys, "mapping", "get", "--source", "hubspot", "--ticket", "404")
    assert code == EXIT_FAILED
    assert err == f"error: no mapping for key 'hubspot#404' in {stack.masking_map_table}\n"


def test_delete_removes_the_item_and_a_second_delete_exits_1(
    stack: LocalStack, deepcall: ScriptedDeepCall, capsys: pytest.CaptureFixture[str]
) -> None:
    stack.put_mapping("hubspot#77", {"mask": "+91 80 4000 3141"})
    stack.put_mapping("hubspot#78", {"mask": "+91 80 4000 3141"})
    code, out, _ = run(capsys, "mapping", "delete", "--source", "hubspot", "--ticket", "77")
    assert (code, out) == (EXIT_OK, "deleted hubspot#77\n")
    assert not stack.mapping_exists("hubspot#77")
    assert stack.mapping_exists("hubspot#78")  # only the ticket named

    code, _, err = run(capsys, "mapping", "delete", "--source", "hubspot", "--ticket", "77")
    assert code == EXIT_FAILED
    assert err.startswith("error: no mapping for key 'hubspot#77'")
    # A close of the ticket now names the key it looked for.
    response = webhook(signed("hubspot", [hubspot_change(77)]))
    assert response_json(response)["error"]["code"] == "unresolved_target"
    assert deepcall.unset_calls == []


# --- bad input: exit 2, one clear line, nothing written -------------------------------------

PUT = ["mapping", "put", "--source", "hubspot", "--ticket", "1"]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (
            ["mapping", "put", "--source", "hubspotx", "--ticket", "1", "--mask", "8040003141"],
            "unknown source 'hubspotx': give one of generic, zendesk, freshdesk, hubspot, "
            "salesforce, queue",
        ),
        ([*PUT, "--mask", "+91 80 4000 31O1"], "--mask may hold only digits"),
        ([*PUT, "--mask", "12"], "--mask (***12) is not a possible phone number"),
        ([*PUT, "--m1", "+91 80 4000 3141"], "give --mask, or both --m1 and --m2"),
        ([*PUT], "give --mask, or both --m1 and --m2"),
        (
            [*PUT, "--mask", "+91 80 4000 3141", "--m1", "+91 98765 15160"],
            "give --mask, or --m1 and --m2, not both",
        ),
        (
            [*PUT, "--m1", "98765 15160", "--m2", "+91 98765 15160"],
            "--m1 and --m2 are the same number",
        ),
        (
            [*PUT, "--mask", "8040003141", "--expires-at", "2001-01-01"],
            "--expires-at is in the past",
        ),
        (
            [*PUT, "--mask", "8040003141", "--expires-at", "soon"],
            "--expires-at must be unix seconds",
        ),
        ([*PUT, "--mask", "8040003141", "--expires-in", "0"], "--expires-in must lie in 1..3650"),
        (
            ["mapping", "put", "--source", "zendesk", "--ticket", " 5160", "--mask", "8040003141"],
            "--ticket begins or ends with a blank",
        ),
        (
            ["mapping", "get", "--source", "zendesk", "--ticket", "51\x1b[2J60"],
            "--ticket holds control characters",
        ),
    ],
)
def test_bad_input_is_a_usage_error_that_writes_nothing(
    stack: LocalStack, capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == EXIT_USAGE
    assert out == ""
    assert err.startswith("error: ")
    assert says in err
    assert len(err.splitlines()) == 1
    assert items(stack) == []


def test_a_missing_argument_is_argparse_s_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "mapping", "get", "--source", "hubspot")
    assert code == EXIT_USAGE
    assert "--ticket" in err


def test_no_table_configured_names_the_variable(
    stack: LocalStack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MASKING_MAP_TABLE")
    code, _, err = run(capsys, *PUT, "--mask", "8040003141")
    assert code == EXIT_USAGE
    assert err.startswith("error: MASKING_MAP_TABLE is not set (or pass --table)")


def test_a_table_that_does_not_exist_is_a_configuration_error(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, *PUT, "--mask", "8040003141", "--table", "no-such-table")
    assert code == EXIT_USAGE
    assert err.startswith("error: PutItem: no table 'no-such-table' here: check MASKING_MAP_TABLE")
    # --table names another table than MASKING_MAP_TABLE: the stack's stays untouched.
    assert items(stack) == []


def test_an_unreachable_endpoint_is_a_failed_operation(
    stack: LocalStack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # discard: nothing listens
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    code, _, err = run(capsys, "mapping", "get", "--source", "hubspot", "--ticket", "1")
    assert code == EXIT_FAILED
    assert err == "error: GetItem failed: EndpointConnectionError\n"


# --- unresolved_target names the key it looked for -----------------------------------------


def test_unresolved_target_names_the_mapping_key_it_looked_up(
    stack: LocalStack, deepcall: ScriptedDeepCall
) -> None:
    response = webhook(signed("hubspot", [hubspot_change(404)]))
    error = response_json(response)["error"]
    assert error["code"] == "unresolved_target"
    assert error["message"] == (
        "no number in the event and no masking recorded under mapping key 'hubspot#404' "
        "(MASKING_MAP_TABLE)"
    )
    assert deepcall.unset_calls == []


def test_the_key_named_is_made_safe_to_show_and_cut_short(
    stack: LocalStack, deepcall: ScriptedDeepCall
) -> None:
    ticket = "T\x1b[31m-" + "9" * 240  # sender input: an escape sequence, and long
    response = webhook(gateway_event({"event_id": "e-1", "ticket_id": ticket}))
    assert response["statusCode"] == 422
    message = response_json(response)["error"]["message"]
    assert "\x1b" not in message
    assert "mapping key 'generic#T-999" in message
    assert "…' (MASKING_MAP_TABLE)" in message
    assert len(message) < 200
