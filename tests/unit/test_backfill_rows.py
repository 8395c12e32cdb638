"""The rows of a backfill file: read from CSV or JSON Lines, checked with the functions' own
models, each problem a reason with its line number and never a whole number."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from masking_unset.logic.batch import parse_record
from masking_unset_tools.ops.backfill_rows import (
    FIELDS,
    FileFormat,
    InvalidRow,
    QueuedClose,
    Repeat,
    RowChecker,
    RowReader,
    check_settings,
    derived_event_id,
    file_format,
    read_checked,
    source_option,
)
from masking_unset_tools.ops.errors import UsageError
from tests.fuzz.strategies import NUMBERS, numbers

CHECKER = RowChecker(check_settings({}))
HEADER = ["ticket_id", "mask", "m1", "m2", "source", "account", "expire_at"]


def write_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(f"{json.dumps(row)}\n" for row in rows), encoding="utf-8")
    return path


def checked(path: Path, checker: RowChecker = CHECKER) -> list[QueuedClose | Repeat | InvalidRow]:
    return list(read_checked(path, file_format(path, None), checker))


def reasons(results: list[QueuedClose | Repeat | InvalidRow]) -> dict[int, str]:
    return {r.line: r.reason for r in results if isinstance(r, InvalidRow)}


def digit_runs(text: str) -> list[str]:
    """Each run of digits in ``text`` that separators (as in a written number) hold together."""
    return ["".join(ch for ch in run if ch.isdigit()) for run in re.findall(r"\d[\d\s().-]*", text)]


def assert_no_number(reason: str) -> None:
    """No sentinel number (every number the strategies write is one of them) is in ``reason``
    beyond its last four digits: no five digits of one in a row."""
    runs = digit_runs(reason)
    for number in NUMBERS:
        windows = {number[i : i + 5] for i in range(len(number) - 4)}
        assert not any(window in run for window in windows for run in runs), reason


# --- what a valid row becomes


def test_a_valid_row_becomes_the_message_the_queue_function_reads(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "closed.csv",
        [
            ["T-1", "+91 80 4000 0001", "", "", "", "", ""],
            ["T-2", "", "98765 00002", "91234 00002", "zendesk", "brand-b", ""],
        ],
    )
    first, second = checked(path)
    assert isinstance(first, QueuedClose)
    assert isinstance(second, QueuedClose)
    assert (first.line, second.line) == (2, 3)
    assert json.loads(first.body) == {
        "event_id": derived_event_id("queue", "T-1", None),
        "ticket_id": "T-1",
        "source": "queue",
        "mask": "+918040000001",  # international: any region the function has reads it alike
    }
    assert json.loads(second.body) == {
        "event_id": derived_event_id("zendesk", "T-2", "brand-b"),
        "ticket_id": "T-2",
        "source": "zendesk",
        "m1": "+919876500002",
        "m2": "+919123400002",
        "account": "brand-b",
    }
    # The queue function reads it as the same close.
    event = parse_record(second.body)
    assert (event.ticket_id, event.source, event.event_id) == ("T-2", "zendesk", second.event_id)


def test_event_ids_are_the_same_on_every_run_and_hold_no_number() -> None:
    one = derived_event_id("zendesk", "5160", None)
    assert one == derived_event_id("zendesk", "5160", "default")  # absent is the default account
    assert one != derived_event_id("hubspot", "5160", None)
    assert one != derived_event_id("zendesk", "5160", "brand-b")
    assert re.fullmatch(r"backfill-[0-9a-f]{40}", one)


def test_a_row_without_numbers_is_a_mapped_ticket_keyed_by_its_source(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "closed.jsonl",
        [{"ticket_id": 3141592}, {"ticket_id": "T-9", "source": "HubSpot"}],
    )
    checker = RowChecker(check_settings({}), default_source="zendesk")
    first, second = checked(path, checker)
    assert isinstance(first, QueuedClose)
    assert isinstance(second, QueuedClose)
    assert first.mapped
    assert second.mapped
    assert json.loads(first.body)["ticket_id"] == "3141592"  # an id sent as a number is text
    assert json.loads(first.body)["source"] == "zendesk"
    assert json.loads(second.body)["source"] == "hubspot"  # as the webhook route lower-cases it


def test_the_rows_own_event_id_and_times_are_kept(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "closed.ndjson",
        [
            {
                "ticket_id": "T-1",
                "event_id": "crm-close-1",
                "mask": "8040000001",
                "occurred_at": "2026-01-05T10:00:00+05:30",
                "expire_after_minutes": 30,
            },
            {"ticket_id": "T-2", "mask": "8040000002", "expire_at": "2026-12-07T18:00:00+05:30"},
        ],
    )
    first, second = checked(path)
    assert isinstance(first, QueuedClose)
    assert isinstance(second, QueuedClose)
    body = json.loads(first.body)
    assert body["event_id"] == "crm-close-1"
    assert body["occurred_at"] == "2026-01-05T10:00:00+05:30"
    assert body["expire_after_minutes"] == 30
    # Passed through as written: the functions' model checks it.
    assert json.loads(second.body)["expire_at"] == "2026-12-07T18:00:00+05:30"


def test_csv_headers_are_matched_loosely_and_other_columns_ignored(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "export.csv",
        [["42", "8040000042", "Printer on fire", "30"]],
        header=[" Ticket ID", "Mask", "Subject", "expire-after-minutes"],
    )
    reader = RowReader(path, FileFormat.CSV)
    [row] = list(reader.rows())
    assert row.fields == {"ticket_id": "42", "mask": "8040000042", "expire_after_minutes": 30}
    assert reader.shown_ignored() == "subject"


# --- invalid rows, each with its line


def test_each_invalid_row_is_reported_with_its_line_and_reason(tmp_path: Path) -> None:
    path = tmp_path / "closed.csv"
    path.write_text(
        "ticket_id,mask,m1,m2,source,account,expire_at,expire_after_minutes,occurred_at,action\n"
        "T-1,12,,,,,,,,\n"  # 2
        ",8040000003,,,,,,,,\n"  # 3
        "T-4,,9876500004,9876500004,,,,,,\n"  # 4
        "T-5,8040000005,,,zendeskk,,,,,\n"  # 5
        "T-6,8040000006,,,,Brand_B,,,,\n"  # 6
        "T-7,8040000007,,,,,2026-12-07T18:00:00+05:30,30,,\n"  # 7
        "T-8,8040000008,,,,,,,,reopen\n"  # 8
        '"T-9\nsecond line",8040000009,,,,,,,yesterday,\n'  # 9-10
        "T-11,8040000011,,,,,,,,,,\n"  # 11: more cells than the header
        "T-12,+1 8040000012,,,,,,,,\n"  # 12
        f"T-13,8040000013,,,,,,,{(datetime.now(UTC) + timedelta(days=1)).isoformat()},\n"
        "T-14,8040000014,,,,,,forever,,\n"  # 14
    )
    found = reasons(checked(path))
    assert found == {
        2: "invalid_number: mask (***12) is not a possible phone number",
        3: "no_ticket_id: ticket_id: every row needs the ticket's id",
        4: "same_numbers: m1 and m2 are the same number",
        5: found[5],
        6: found[6],
        7: "expire_at_with_minutes: send expire_at or expire_after_minutes, not both",
        8: "not_a_close: action: the backfill sends closes only",
        9: found[9],
        11: "malformed_row: 12 cells, more than the header's 10",
        12: found[12],
        13: found[13],
        14: found[14],
    }
    assert found[5].startswith("unknown_source: source: must be one of ")
    assert found[6].startswith("invalid_account: account: must be lower-case letters")
    assert found[9].startswith("invalid_event: occurred_at: ")
    assert found[12].startswith("foreign_number: mask (***0012) is not a IN number")
    assert found[13].startswith("future_occurred_at: occurred_at lies more than 300 s")
    assert found[14].startswith("invalid_event: expire_after_minutes: ")


def test_json_lines_that_are_no_close_are_reported_with_their_line(tmp_path: Path) -> None:
    path = tmp_path / "closed.jsonl"
    path.write_bytes(
        b'{"ticket_id": "T-1", "mask": "8040000001"}\n'
        b"\n"  # a blank line: skipped, still counted
        b"not json\n"  # 3
        b'["T-4"]\n'  # 4
        b'{"ticket_id": ["T-5"], "mask": "8040000005"}\n'  # 5
        b'{"ticket_id": "T-6", "mask": "\xff"}\n'  # 6
        b'{"ticket_id": "T-7", "mask": 8040000007}\n'  # 7: a number, not text
        b'{"ticket_id": "T-8", "account": 8}\n'  # 8
        b'{"ticket_id": "T-9", "expire_at": {"at": 1}}\n'  # 9
    )
    results = checked(path)
    assert isinstance(results[0], QueuedClose)
    found = reasons(results)
    assert found == {
        3: "malformed_body: the line is not valid JSON",
        4: "malformed_row: not a JSON object",
        5: "invalid_event: ticket_id: Input should be a valid string",
        6: "malformed_body: the line is not valid UTF-8",
        7: "invalid_event: mask: Input should be a valid string",
        8: found[8],
        9: found[9],
    }
    assert found[8].startswith("invalid_account: ")
    assert found[9].startswith("invalid_event: expire_at: Input should be a valid string")


def test_the_same_row_again_is_a_repeat_and_the_same_close_changed_is_invalid(
    tmp_path: Path,
) -> None:
    path = write_csv(
        tmp_path / "closed.csv",
        [
            ["T-1", "8040000001", "", "", "", "", ""],  # 2
            ["T-1", "+91 80400 00001", "", "", "", "", ""],  # 3: the same number, written so
            ["T-1", "8040000099", "", "", "", "", ""],  # 4: another masking, the same event id
            ["T-1", "8040000001", "", "", "", "brand-b", ""],  # 5: another account's ticket
        ],
    )
    results = checked(path)
    assert isinstance(results[0], QueuedClose)
    assert results[1] == Repeat(3, 3, 2)
    assert isinstance(results[2], InvalidRow)
    assert results[2].reason.startswith("conflicting_repeat: the same close ")
    assert "as line 2" in results[2].reason
    assert isinstance(results[3], QueuedClose)


def test_a_reason_that_quoted_a_number_of_the_row_would_show_its_last_four_digits() -> None:
    from masking_unset_tools.ops.backfill_rows import _guarded

    row = {"mask": "+91 98765 43210", "m1": "\uff19\uff18\uff17\uff16\uff15 00001"}
    assert _guarded("mask 98765-43210 is bad", row) == "mask ***3210 is bad"
    assert _guarded("m1 is 9876500001", row) == "m1 is ***0001"  # fullwidth digits in the row
    kept = "expire_after_minutes: Input should be less than or equal to 43200"
    assert _guarded(kept, row) == kept  # a rule's own number is no number of the row


# --- the file itself


def test_a_file_that_cannot_be_read_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot tell the format from the name"):
        file_format(tmp_path / "closed.txt", None)
    assert file_format(tmp_path / "closed.txt", "jsonl") is FileFormat.JSONL
    with pytest.raises(UsageError, match=r"missing\.csv: no such file"):
        checked(tmp_path / "missing.csv")
    (tmp_path / "empty.csv").write_text("\n\n")
    with pytest.raises(UsageError, match="empty: a CSV file needs a header row"):
        checked(tmp_path / "empty.csv")
    # A file without a header: its first row would name the columns. The message never shows it.
    (tmp_path / "data.csv").write_text("T-1,+91 80 4000 1234\n")
    with pytest.raises(UsageError, match="the header row has no ticket_id column") as refused:
        checked(tmp_path / "data.csv")
    assert "4000" not in refused.value.message
    (tmp_path / "twice.csv").write_text("ticket_id,mask,Mask\n")
    with pytest.raises(UsageError, match="names mask twice"):
        checked(tmp_path / "twice.csv")


def test_an_empty_json_lines_file_has_no_rows(tmp_path: Path) -> None:
    (tmp_path / "none.jsonl").write_text("")
    assert checked(tmp_path / "none.jsonl") == []


def test_ignored_columns_are_shown_without_their_numbers(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "x.csv", [], header=["ticket_id", "+91 80 4000 1234"])
    reader = RowReader(path, FileFormat.CSV)
    list(reader.rows())
    assert reader.shown_ignored() == "***1234"


def test_the_settings_a_check_reads_name_their_variable() -> None:
    assert check_settings({}).phone_default_region == "IN"  # DeepCall's own are not needed
    assert check_settings({"PHONE_DEFAULT_REGION": "us"}).phone_default_region == "US"
    with pytest.raises(UsageError, match="PHONE_DEFAULT_REGION: must be a two-letter region"):
        check_settings({"PHONE_DEFAULT_REGION": "India"})
    with pytest.raises(UsageError, match="DEEPCALL_NUMBER_FORMAT: must be one of"):
        check_settings({"DEEPCALL_NUMBER_FORMAT": "words"})


def test_the_source_option_is_a_source_mapping_items_are_keyed_under() -> None:
    assert source_option(" Zendesk ") == "zendesk"
    assert source_option("queue") == "queue"
    with pytest.raises(UsageError, match="--source: unknown source 'crm'"):
        source_option("crm")


# --- hostile files: never a crash, every problem on a line of the file, never a number

cells = st.one_of(numbers.map(str), st.text(max_size=20), st.sampled_from(["", "T-1", "zendesk"]))


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    header=st.lists(st.sampled_from([*FIELDS, "subject", ""]), max_size=8),
    rows=st.lists(st.lists(cells, max_size=9), max_size=8),
)
def test_any_csv_file_is_read_without_a_crash(
    tmp_path: Path, header: list[str], rows: list[list[str]]
) -> None:
    text = io.StringIO(newline="")
    csv.writer(text).writerows([["ticket_id", *header], *rows])
    path = tmp_path / "any.csv"
    path.write_text(text.getvalue(), encoding="utf-8", newline="")
    lines = len(re.findall(r"\r\n|\r|\n", text.getvalue())) + 1  # as csv counts them
    try:
        results = checked(path)
    except UsageError as exc:
        refusal = exc.message
    else:
        refusal = ""
    if refusal:
        assert "twice" in refusal  # a header naming a field twice
        return
    for result in results:
        assert 1 < result.line <= result.end_line <= lines
        if isinstance(result, InvalidRow):
            assert_no_number(result.reason)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=400))
def test_any_bytes_as_csv_are_read_without_a_crash(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "any.csv"
    path.write_bytes(b"ticket_id,mask,m1,m2\n" + raw)
    try:
        results = checked(path)
    except UsageError as exc:
        refusal = exc.message
    else:
        refusal = ""
    if refusal:
        assert "line" in refusal  # only a row csv cannot get past ends the file early
        return
    # csv ends a line at \r\n, \n or a lone \r.
    lines = len(re.findall(rb"\r\n|\r|\n", raw)) + 2
    assert all(1 < result.line <= lines for result in results)


documents = st.fixed_dictionaries(
    {},
    optional={
        "ticket_id": st.one_of(st.text(max_size=10), st.integers(), st.none()),
        "mask": numbers,
        "m1": numbers,
        "m2": numbers,
        "source": st.sampled_from(["zendesk", "queue", "nope", 7]),
        "account": st.sampled_from(["default", "brand-b", "Brand", "", 1]),
        "expire_at": st.one_of(st.text(max_size=30), st.integers()),
        "expire_after_minutes": st.one_of(st.integers(-5, 50_000), st.text(max_size=4)),
        "occurred_at": st.one_of(st.text(max_size=30), st.integers()),
        "action": st.sampled_from(["close", "reopen", 1]),
        "event_id": st.one_of(st.text(max_size=10), st.none()),
    },
)
lines = st.one_of(
    documents.map(json.dumps),
    st.text(max_size=60),
    st.sampled_from(["[]", "null", '"x"', "{", '{"ticket_id": NaN}', "[" * 100]),
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(lines, max_size=12))
def test_any_json_lines_are_read_without_a_crash_and_every_reason_is_safe(
    tmp_path: Path, rows: list[str]
) -> None:
    path = tmp_path / "any.jsonl"
    path.write_text("\n".join(rows), encoding="utf-8", errors="surrogatepass")
    # The file's lines as the reader splits them (only \n ends a JSON line).
    physical = path.read_bytes().split(b"\n")
    for result in checked(path):
        assert 1 <= result.line <= len(physical)
        assert physical[result.line - 1].strip()  # a row is never a blank line
        if isinstance(result, InvalidRow):
            assert_no_number(result.reason)
        if isinstance(result, QueuedClose):
            parse_record(result.body)  # the queue function reads every message it is sent


def test_the_example_file_is_the_one_the_demo_sends() -> None:
    from masking_unset_tools.local.backfill_scene import ROWS

    example = Path(__file__).resolve().parents[2] / "events" / "backfill.csv"
    assert example.read_text(encoding="utf-8") == ROWS  # docs/backfill.md runs the example


def test_expiry_times_and_accounts_are_checked_as_the_functions_check_them(
    tmp_path: Path,
) -> None:
    accounts = json.dumps({"brand-b": {"base_url": "https://b.example", "secret_id": "s"}})
    checker = RowChecker(check_settings({"DEEPCALL_ACCOUNTS": accounts}))
    rows = [
        {"ticket_id": "1", "mask": "+91 80 4000 1001", "expire_at": "2026-12-07T18:00:00"},
        {"ticket_id": "2", "mask": "+91 80 4000 1002", "expire_at": "tomorrow"},
        {"ticket_id": "3", "mask": "+91 80 4000 1003", "expire_at": "2999-01-01T00:00:00Z"},
        {
            "ticket_id": "4",
            "mask": "+91 80 4000 1004",
            "expire_at": "2026-12-07T18:00:00Z",
            "expire_after_minutes": 5,
        },
        {"ticket_id": "5", "mask": "+91 80 4000 1005", "account": "brand-z"},
        {"ticket_id": "6", "mask": "+91 80 4000 1006", "account": "brand-b"},
        {"ticket_id": "7", "mask": "+91 80 4000 1007", "expire_at": "2026-01-01T00:00:00+05:30"},
    ]
    results = checked(write_jsonl(tmp_path / "rows.jsonl", rows), checker)
    found = reasons(results)
    codes = {line: reason.split(":", 1)[0] for line, reason in found.items()}
    assert codes == {
        1: "expire_at_without_offset",
        2: "invalid_expire_at",
        3: "expire_at_too_far",
        4: "expire_at_with_minutes",
        5: "unknown_account",
    }
    queued = [result for result in results if isinstance(result, QueuedClose)]
    bodies = [json.loads(close.body) for close in queued]
    assert [body.get("account") for body in bodies] == ["brand-b", None]
    assert bodies[1]["expire_at"] == "2026-01-01T00:00:00+05:30"  # past: expired now, not refused
    for reason in found.values():
        assert_no_number(reason)


def test_local_accounts_are_read_as_the_functions_read_them() -> None:
    local = json.dumps({"brand-b": {"base_url": "http://127.0.0.1:9", "secret_id": "s"}})
    with pytest.raises(UsageError, match=r"DEEPCALL_ACCOUNTS \(brand-b: base_url\)"):
        check_settings({"DEEPCALL_ACCOUNTS": local})
    allowed = check_settings({"DEEPCALL_ACCOUNTS": local, "DEEPCALL_ALLOW_HTTP": "true"})
    assert allowed.account_names == ("default", "brand-b")
