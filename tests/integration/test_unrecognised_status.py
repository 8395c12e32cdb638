"""A status a source knows neither as a close nor as an open state is answered for what it is:
ignored, naming the setting that would make it one, and counted (``UnrecognisedStatus`` by
source). It is never a reopen. Known closes still expire and known open states still reopen.

Each source through the real webhook handler, signed as its sender signs, against the moto
server and the DeepCall stand-in (issue 21, "Ignored tells the truth")."""

from __future__ import annotations

import json
from typing import Any

import pytest

from masking_unset.app import reset_app
from masking_unset_tools.local.deepcall_standin import DeepCallStandIn
from masking_unset_tools.local.stack import LocalStack
from tests.integration.helpers import response_json
from tests.integration.test_sources import (
    SOAP,
    ack,
    hubspot_change,
    invoke,
    signed,
    zendesk_status,
)
from tests.support.logs import captured_logs

SETTING_HINT = "add it to {closed}, or to {open} if it is open"


def unrecognised_counted(out: str) -> list[str]:
    """The ``source`` of every ``UnrecognisedStatus`` metric in the EMF lines of ``out``."""
    sources = []
    for line in out.splitlines():
        if '"_aws"' not in line:
            continue
        document = json.loads(line)
        names = [
            metric["Name"]
            for directive in document["_aws"]["CloudWatchMetrics"]
            for metric in directive["Metrics"]
        ]
        if "UnrecognisedStatus" in names:
            assert document["UnrecognisedStatus"] in (1, 1.0, [1.0])
            sources.append(document["source"])
    return sources


def configure(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reset_app()


# -- Zendesk ----------------------------------------------------------------------------------


def test_zendesk_unrecognised_status_is_ignored_naming_the_setting(
    stack: LocalStack, deepcall: DeepCallStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a German account whose trigger sends the localised label of Solved
    body = {"ticket_id": "2101", "status": "Gelöst", "mask": "+91 80 4000 2101"}
    capsys.readouterr()
    # When the close arrives before ZENDESK_CLOSED_STATUSES lists the label
    response = invoke(signed("zendesk", body))
    # Then it is ignored for what it is, counted, and nothing is called
    assert response["statusCode"] == 200
    answer = response_json(response)
    assert answer["status"] == "ignored"
    assert answer["reason"] == "status 'Gelöst' is not a close: " + SETTING_HINT.format(
        closed="ZENDESK_CLOSED_STATUSES", open="ZENDESK_OPEN_STATUSES"
    )
    assert "REOPEN_EXTEND_MINUTES" not in answer["reason"]
    assert unrecognised_counted(capsys.readouterr().out) == ["zendesk"]
    assert deepcall.unset_calls == []


def test_zendesk_known_close_expires_and_known_open_reopens(
    stack: LocalStack,
    deepcall: DeepCallStandIn,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given the label listed, reopens on, and a grace period that keeps the masking alive
    configure(
        monkeypatch,
        ZENDESK_CLOSED_STATUSES="Gelöst",
        EXPIRY_GRACE_MINUTES="30",
        REOPEN_EXTEND_MINUTES="60",
    )
    stack.put_mapping("zendesk#2102", {"mask": "+91 80 4000 2102"})
    capsys.readouterr()
    closed = invoke(signed("zendesk", {"ticket_id": "2102", "status": "gelöst"}))
    assert response_json(closed)["status"] == "scheduled"
    # When the ticket leaves SOLVED for a status Zendesk does not have, then for OPEN
    odd = invoke(signed("zendesk", zendesk_status(2102, "SOLVED", "ARCHIVED", 5)))
    reopened = invoke(signed("zendesk", zendesk_status(2102, "SOLVED", "OPEN", 10)))
    # Then the unknown one is no reopen; the open one is, proven by the payload
    assert response_json(odd)["status"] == "ignored"
    assert response_json(odd)["reason"].startswith("status 'ARCHIVED' is not a close")
    assert (response_json(reopened)["status"], response_json(reopened)["expires_in_minutes"]) == (
        "extended",
        60,
    )
    assert unrecognised_counted(capsys.readouterr().out) == ["zendesk"]
    assert [call.json["expiry_duration"] for call in deepcall.unset_calls if call.json] == [30, 60]


# -- Freshdesk --------------------------------------------------------------------------------


def freshdesk(status: str, ticket: int, **more: str) -> dict[str, Any]:
    body = {"ticket_id": str(ticket), "ticket_status": status, **more}
    return signed("freshdesk", {"freshdesk_webhook": body})


def test_freshdesk_unrecognised_status_is_ignored_naming_the_setting(
    stack: LocalStack, deepcall: DeepCallStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    response = invoke(freshdesk("Erledigt", 2201, mask="+91 80 4000 2201"))
    assert response["statusCode"] == 200
    answer = response_json(response)
    assert (answer["status"], answer["reason"]) == (
        "ignored",
        "status 'Erledigt' is not a close: "
        + SETTING_HINT.format(closed="FRESHDESK_CLOSED_STATUSES", open="FRESHDESK_OPEN_STATUSES"),
    )
    assert unrecognised_counted(capsys.readouterr().out) == ["freshdesk"]
    assert deepcall.unset_calls == []


def test_freshdesk_known_close_expires_and_known_open_reopens(
    stack: LocalStack,
    deepcall: DeepCallStandIn,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure(monkeypatch, EXPIRY_GRACE_MINUTES="30", REOPEN_EXTEND_MINUTES="60")
    capsys.readouterr()
    # A close by status id, a reopen to Open (id 2), and a reopen to a custom status id
    closed = invoke(freshdesk("4", 2202, mask="+91 80 4000 2202"))
    reopened = invoke(
        freshdesk("2", 2202, mask="+91 80 4000 2202", previous_status="Resolved", action="reopen")
    )
    custom = invoke(freshdesk("6", 2203, mask="+91 80 4000 2203", previous_status="Resolved"))
    assert response_json(closed)["status"] == "scheduled"
    assert (response_json(reopened)["status"], response_json(reopened)["expires_in_minutes"]) == (
        "extended",
        60,
    )
    assert response_json(custom)["status"] == "ignored"
    assert response_json(custom)["reason"].startswith("status '6' is not a close")
    assert unrecognised_counted(capsys.readouterr().out) == ["freshdesk"]
    assert [call.json["expiry_duration"] for call in deepcall.unset_calls if call.json] == [30, 60]


# -- HubSpot ----------------------------------------------------------------------------------


def test_hubspot_stage_missing_from_both_lists_is_ignored_naming_the_setting(
    stack: LocalStack, deepcall: DeepCallStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a masking recorded for a ticket, and the closing stage of a second pipeline that
    # HUBSPOT_CLOSED_STAGES (4) forgot
    stack.put_mapping("hubspot#2301", {"mask": "+91 80 4000 2301"})
    capsys.readouterr()
    response = invoke(signed("hubspot", [hubspot_change(2301, "77")]))
    assert response["statusCode"] == 200
    answer = response_json(response)
    assert (answer["status"], answer["reason"]) == (
        "ignored",
        "stage '77' is not a close: "
        + SETTING_HINT.format(closed="HUBSPOT_CLOSED_STAGES", open="HUBSPOT_OPEN_STAGES"),
    )
    assert unrecognised_counted(capsys.readouterr().out) == ["hubspot"]
    assert deepcall.unset_calls == []
    assert stack.mapping_exists("hubspot#2301")


def test_hubspot_long_stage_id_is_shown_only_by_its_last_digits(
    stack: LocalStack, deepcall: DeepCallStandIn
) -> None:
    # A stage id is a long run of digits: it is shown as any number would be, never whole
    response = invoke(signed("hubspot", [hubspot_change(2304, "9876543210")]))
    reason = response_json(response)["reason"]
    assert reason.startswith("stage '***3210' is not a close")
    assert "9876543210" not in response["body"]


def test_hubspot_known_close_expires_and_known_open_reopens(
    stack: LocalStack,
    deepcall: DeepCallStandIn,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given reopens on, a grace period, and a second pipeline's open stage listed
    configure(
        monkeypatch,
        EXPIRY_GRACE_MINUTES="30",
        REOPEN_EXTEND_MINUTES="60",
        HUBSPOT_OPEN_STAGES="55",
    )
    stack.put_mapping("hubspot#2302", {"mask": "+91 80 4000 2302"})
    stack.put_mapping("hubspot#2303", {"mask": "+91 80 4000 2303"})
    capsys.readouterr()
    # When one ticket closes, then moves to an unknown stage, then to the listed open stage
    closed = invoke(signed("hubspot", [hubspot_change(2302, "4", event_id=1)]))
    unknown = invoke(signed("hubspot", [hubspot_change(2302, "77", event_id=2)]))
    reopened = invoke(signed("hubspot", [hubspot_change(2302, "55", event_id=3)]))
    # And another closes and moves to the default pipeline's "Waiting on us"
    invoke(signed("hubspot", [hubspot_change(2303, "4", event_id=4)]))
    default_open = invoke(signed("hubspot", [hubspot_change(2303, "3", event_id=5)]))
    # Then the unknown stage is no reopen; both open ones are (the ticket state table proves it)
    assert response_json(closed)["status"] == "scheduled"
    assert response_json(unknown)["status"] == "ignored"
    assert response_json(unknown)["reason"].startswith("stage '77' is not a close")
    assert response_json(reopened)["status"] == "extended"
    assert response_json(default_open)["status"] == "extended"
    assert unrecognised_counted(capsys.readouterr().out) == ["hubspot"]
    durations = [call.json["expiry_duration"] for call in deepcall.unset_calls if call.json]
    assert durations == [30, 60, 30, 60]


# -- Salesforce -------------------------------------------------------------------------------


def sf_case(n: int, *fields: tuple[str, str], notification: int = 0) -> str:
    values = "".join(f"<sf:{name}>{value}</sf:{name}>" for name, value in fields)
    return (
        f"<Notification><Id>04l000000002{notification}{n}AAA</Id>"
        '<sObject xsi:type="sf:Case" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
        f"<sf:Id>5000000000002{n}AAA</sf:Id>{values}"
        f"<sf:Mask__c>+91 80 4000 24{n}</sf:Mask__c></sObject></Notification>"
    )


def salesforce(*notifications: str) -> dict[str, Any]:
    xml = SOAP.format(notifications="".join(notifications))
    return signed("salesforce", xml, headers={"content-type": "text/xml; charset=utf-8"})


def test_salesforce_unrecognised_status_is_ignored_naming_the_setting(
    stack: LocalStack, deepcall: DeepCallStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an Outbound Message that sends Status without IsClosed
    capsys.readouterr()
    with captured_logs() as logs:
        response = invoke(salesforce(sf_case(1, ("Status", "Geschlossen"))))
    # Then Salesforce gets its Ack (a resend would not read better), nothing is called, and the
    # log says which setting to change
    assert response["statusCode"] == 200
    assert ack(response) == "true"
    [line] = [json.loads(x) for x in logs.getvalue().splitlines() if "event ignored" in x]
    assert line["reason"] == "status 'Geschlossen' is not a close: " + SETTING_HINT.format(
        closed="SALESFORCE_CLOSED_STATUSES", open="SALESFORCE_OPEN_STATUSES"
    )
    assert unrecognised_counted(capsys.readouterr().out) == ["salesforce"]
    assert deepcall.unset_calls == []


def test_salesforce_known_close_expires_and_known_open_reopens(
    stack: LocalStack,
    deepcall: DeepCallStandIn,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure(monkeypatch, EXPIRY_GRACE_MINUTES="30", REOPEN_EXTEND_MINUTES="60")
    capsys.readouterr()
    closed = invoke(salesforce(sf_case(2, ("Status", "Closed"))))
    reopened = invoke(
        salesforce(
            sf_case(2, ("Status", "Working"), ("Previous_Status__c", "Closed"), notification=1)
        )
    )
    # IsClosed decides on its own: a custom open status with it false is open
    flagged = invoke(
        salesforce(
            sf_case(3, ("Status", "Awaiting Parts"), ("IsClosed", "false")),
            sf_case(4, ("Status", "Awaiting Parts"), ("Previous_Status__c", "Closed")),
        )
    )
    assert (ack(closed), ack(reopened), ack(flagged)) == ("true", "true", "true")
    assert unrecognised_counted(capsys.readouterr().out) == ["salesforce"]
    durations = [call.json["expiry_duration"] for call in deepcall.unset_calls if call.json]
    # The close, then the reopen; the flagged case was status churn (nothing shows it closed)
    assert durations == [30, 60]


# -- generic ----------------------------------------------------------------------------------


def test_generic_unrecognised_action_is_refused_naming_the_field(
    stack: LocalStack, deepcall: DeepCallStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    # The canonical format is the sender's own and exact: refused, not ignored, and counted
    capsys.readouterr()
    body = {"ticket_id": "T-2501", "mask": "+91 80 4000 2501", "action": "Closed"}
    response = invoke(signed("generic", json.dumps(body)))
    assert response["statusCode"] == 400
    error = response_json(response)["error"]
    assert error["code"] == "invalid_event"
    assert error["message"] == 'action \'Closed\' is not a close: send "close" or "reopen"'
    assert unrecognised_counted(capsys.readouterr().out) == ["generic"]
    assert deepcall.unset_calls == []


def test_generic_known_close_expires_and_known_reopen_extends(
    stack: LocalStack,
    deepcall: DeepCallStandIn,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure(monkeypatch, EXPIRY_GRACE_MINUTES="30", REOPEN_EXTEND_MINUTES="60")
    capsys.readouterr()
    mask = "+91 80 4000 2502"
    closed = invoke(signed("generic", json.dumps({"ticket_id": "T-2502", "mask": mask})))
    reopen = {"ticket_id": "T-2502", "mask": mask, "action": "reopen", "previously_closed": True}
    reopened = invoke(signed("generic", json.dumps(reopen)))
    assert response_json(closed)["status"] == "scheduled"
    assert response_json(reopened)["status"] == "extended"
    assert unrecognised_counted(capsys.readouterr().out) == []
