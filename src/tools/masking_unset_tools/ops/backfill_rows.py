"""The rows of a backfill file (docs/backfill.md): CSV with a header row, or JSON Lines, one close
per row, each checked with the functions' own models and turned into the queue message the
queue function reads.

Nothing here talks to AWS: a dry run is this module alone. A row's problem is a reason with the
row's line number, naming fields and rules, never a value of the row beyond a number's last four
digits.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import time
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from masking_unset.config import Settings
from masking_unset.logic.expiry import plan, refuse_future, resolve_numbers
from masking_unset.logic.phone import parse_number
from masking_unset.models.accounts import ACCOUNT_NAME_RULE, DEFAULT_ACCOUNT, is_account_name
from masking_unset.models.deepcall import NUMBER_FIELDS
from masking_unset.models.errors import (
    ConfigurationError,
    FutureEvent,
    InvalidEvent,
    InvalidExpiry,
    MaskingUnsetError,
    UnknownAccount,
    UnusableTarget,
)
from masking_unset.models.events import Action, CloseEvent
from masking_unset.models.json_input import load_json
from masking_unset.models.queue import MAX_MESSAGE_BYTES, is_sqs_id
from masking_unset.models.redact import scrub, shown_value
from masking_unset_tools.ops.errors import UsageError
from masking_unset_tools.ops.mapping import QUEUE_SOURCE, source_names

# The fields a row may have; any other column or key is ignored (and named once in the summary).
FIELDS: Final = (
    "ticket_id",
    "event_id",
    "mask",
    "m1",
    "m2",
    "source",
    "account",
    "expire_at",
    "expire_after_minutes",
    "occurred_at",
    "action",
)
DEFAULT_SOURCE: Final = QUEUE_SOURCE  # what a queue message without ``source`` is keyed under
MAX_ROW_BYTES: Final = 64 * 1024  # far above any close; a longer line is no export row
EVENT_ID_PREFIX: Final = "backfill-"
# The settings a row's check reads; DeepCall's own (base URL, secret) are not needed to queue.
CHECK_SETTINGS: Final = (
    "PHONE_DEFAULT_REGION",
    "DEEPCALL_NUMBER_FORMAT",
    "OCCURRED_AT_MAX_SKEW_SECONDS",
    # The named accounts, when the environment has them: a row's account is then checked
    # against them; without them only its form is (the functions check the name).
    "DEEPCALL_ACCOUNTS",
    "DEEPCALL_ALLOW_HTTP",  # a local stand-in's http:// base URL in DEEPCALL_ACCOUNTS
)
_PLACEHOLDERS: Final = {
    "DEEPCALL_BASE_URL": "https://deepcall.invalid",
    "DEEPCALL_SECRET_ID": "(not read by the backfill)",
}
_SHOWN_NAMES: Final = 10


class FileFormat(StrEnum):
    """How the file is written."""

    CSV = "csv"
    JSONL = "jsonl"


_EXTENSIONS: Final = {
    ".csv": FileFormat.CSV,
    ".jsonl": FileFormat.JSONL,
    ".ndjson": FileFormat.JSONL,
}


def file_format(path: Path, given: str | None) -> FileFormat:
    """``--format``, else the format the file's extension names (.csv, .jsonl, .ndjson)."""
    if given:
        return FileFormat(given)
    found = _EXTENSIONS.get(path.suffix.lower())
    if found is None:
        raise UsageError(
            f"{path}: cannot tell the format from the name: give --format csv or --format jsonl "
            "(or name the file .csv, .jsonl or .ndjson)"
        )
    return found


def check_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """The functions' settings a row's check reads (:data:`CHECK_SETTINGS`), from the
    environment as the functions read them; the rest are not needed to queue a close."""
    env = os.environ if environ is None else environ
    given = {name: env[name] for name in CHECK_SETTINGS if name in env}
    try:
        return Settings.from_env({**_PLACEHOLDERS, **given})
    except ConfigurationError as exc:  # names the variable, never its value
        raise UsageError(exc.message) from None


def source_option(text: str) -> str:
    """``--source``: a webhook source or ``queue``, the name mapping items are keyed under."""
    name = text.strip().lower()
    if name not in source_names():
        raise UsageError(
            f"--source: unknown source {shown_value(text)!r}: "
            f"give one of {', '.join(source_names())}"
        )
    return name


# --- reading ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RawRow:
    """One row as read: the lines it spans and its fields, or why it could not be read."""

    line: int
    end_line: int
    fields: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None


def _column(name: str) -> str:
    """A header cell as a field name: case, surrounding blanks, inner blanks and hyphens do not
    matter (``Ticket ID`` is ``ticket_id``)."""
    return re.sub(r"[\s-]+", "_", name.strip().lower())


def _has_bad_bytes(text: str) -> bool:
    # Bytes that are not UTF-8, read with surrogateescape.
    return any("\udc80" <= ch <= "\udcff" for ch in text)


@dataclass
class RowReader:
    """Reads a file's rows, and what it ignored (columns or keys not in :data:`FIELDS`)."""

    path: Path
    fmt: FileFormat
    ignored: set[str] = field(default_factory=set)

    def rows(self) -> Iterator[RawRow]:
        """Every row of the file, in order; an unreadable row is a :class:`RawRow` with a
        problem. :class:`UsageError` when the file itself cannot be read (or a CSV file has no
        usable header)."""
        try:
            if self.fmt is FileFormat.CSV:
                yield from self._csv_rows()
            else:
                yield from self._jsonl_rows()
        except FileNotFoundError:
            raise UsageError(f"{self.path}: no such file") from None
        except IsADirectoryError:
            raise UsageError(f"{self.path}: is a folder, not a file") from None
        except OSError as exc:
            raise UsageError(f"{self.path}: cannot be read ({type(exc).__name__})") from None

    def shown_ignored(self) -> str:
        """The ignored names, safe to print (a header may be a row of data, numbers and all)."""
        names = sorted(shown_value(name) or "(blank)" for name in self.ignored)
        more = len(names) - _SHOWN_NAMES
        return ", ".join(names[:_SHOWN_NAMES]) + (f" and {more} more" if more > 0 else "")

    def _csv_rows(self) -> Iterator[RawRow]:
        with self.path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as file:
            reader = csv.reader(file, strict=True)  # a quote out of place is no row, not a guess
            header = self._header(reader)
            while True:
                start = reader.line_num + 1
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                except csv.Error:
                    if reader.line_num < start:  # nothing consumed: it would fail again
                        raise UsageError(
                            f"{self.path}: line {start}: not readable as CSV; nothing after it "
                            "can be read"
                        ) from None
                    yield RawRow(start, reader.line_num, problem="malformed_row: not a CSV row")
                    continue
                if not any(cell.strip() for cell in cells):
                    continue  # a blank line
                yield self._csv_row(start, reader.line_num, header, cells)

    def _header(self, reader: Any) -> list[str]:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                break
        else:
            raise UsageError(
                f"{self.path}: empty: a CSV file needs a header row (docs/backfill.md)"
            )
        if any(_has_bad_bytes(cell) for cell in cells):
            raise UsageError(f"{self.path}: the header row is not UTF-8 text")
        names = [_column(cell) for cell in cells]
        if "ticket_id" not in names:
            raise UsageError(
                f"{self.path}: the header row has no ticket_id column: the first row names the "
                "columns (ticket_id, mask or m1/m2, ...: docs/backfill.md)"
            )
        doubled = sorted({name for name in names if names.count(name) > 1 and name in FIELDS})
        if doubled:
            raise UsageError(f"{self.path}: the header row names {', '.join(doubled)} twice")
        self.ignored.update(name for name in names if name not in FIELDS)
        return names

    @staticmethod
    def _csv_row(start: int, end: int, header: list[str], cells: list[str]) -> RawRow:
        if len(cells) > len(header):
            return RawRow(
                start,
                end,
                problem=f"malformed_row: {len(cells)} cells, more than the header's {len(header)}",
            )
        if any(_has_bad_bytes(cell) for cell in cells):
            return RawRow(start, end, problem="malformed_row: the row is not UTF-8 text")
        values: dict[str, Any] = {}
        for name, cell in zip(header, cells, strict=False):
            text = cell.strip()
            if name in FIELDS and text:
                values[name] = text
        minutes = values.get("expire_after_minutes")
        if isinstance(minutes, str) and re.fullmatch(r"[+-]?[0-9]{1,9}", minutes):
            values["expire_after_minutes"] = int(minutes)  # a CSV cell is text; JSON's is a number
        return RawRow(start, end, values)

    def _jsonl_rows(self) -> Iterator[RawRow]:
        with self.path.open("rb") as file:
            for number, raw in enumerate(file, start=1):
                if not raw.strip():
                    continue
                if len(raw) > MAX_ROW_BYTES:
                    yield RawRow(
                        number,
                        number,
                        problem=f"malformed_row: the line is over {MAX_ROW_BYTES // 1024} KiB",
                    )
                    continue
                try:
                    document = load_json(raw, what="the line")
                except MaskingUnsetError as exc:
                    yield RawRow(number, number, problem=f"{exc.code}: {exc.message}")
                    continue
                if not isinstance(document, dict):
                    yield RawRow(number, number, problem="malformed_row: not a JSON object")
                    continue
                self.ignored.update(key for key in document if key not in FIELDS)
                values = {key: value for key, value in document.items() if key in FIELDS}
                yield RawRow(number, number, values)


# --- checking -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueuedClose:
    """A valid row: the message the queue function is sent for it."""

    line: int
    end_line: int
    event_id: str
    body: str
    mapped: bool  # names no number: the function looks the ticket up in MASKING_MAP_TABLE
    group: str = ""  # on a FIFO queue: its MessageGroupId, one per ticket as the webhook's

    @property
    def dedup_id(self) -> str:
        """On a FIFO queue: its MessageDeduplicationId, the event id when SQS takes it."""
        if is_sqs_id(self.event_id):
            return self.event_id
        return EVENT_ID_PREFIX + hashlib.sha256(self.event_id.encode()).hexdigest()[:40]

    @property
    def size(self) -> int:
        """What the message counts towards SQS's 256 KiB."""
        return len(self.body.encode())


@dataclass(frozen=True, slots=True)
class InvalidRow:
    """A row that is not sent, and why."""

    line: int
    end_line: int
    reason: str


def derived_event_id(source: str, ticket_id: str, account: str | None) -> str:
    """The event id of a row that gives none: the same close of the same ticket (source,
    account) always has the same id, so a second run is a duplicate at the functions. Made of
    no number: ids are stored and logged."""
    parts = [source, ticket_id, account or DEFAULT_ACCOUNT, Action.CLOSE.value]
    digest = hashlib.sha256(json.dumps(parts, separators=(",", ":")).encode()).hexdigest()
    return f"{EVENT_ID_PREFIX}{digest[:40]}"


def _guarded(reason: str, fields: Mapping[str, Any]) -> str:
    """The reason as printed: should a model's message ever quote five digits in a row of one of
    the row's numbers, it is cut as any text from outside (runs of digits to their last four).
    The messages name fields and rules, never values: this is the second line of defence."""
    runs = [_digits(run) for run in _DIGIT_RUN.findall(reason)]
    for name in NUMBER_FIELDS:
        value = fields.get(name)
        digits = _digits(str(value)) if value is not None else ""
        windows = {digits[i : i + 5] for i in range(len(digits) - 4)}
        if any(window in run for window in windows for run in runs):
            return scrub(reason)
    return reason


_DIGIT_RUN = re.compile(r"\d[\d\s().-]*")  # digits and what may stand between those of a number


def _digits(text: str) -> str:
    # Any script's digits, as the number parser reads them.
    return "".join(str(unicodedata.decimal(ch)) for ch in text if unicodedata.category(ch) == "Nd")


class RowChecker:
    """Checks rows as the functions would read their messages, and builds those messages."""

    def __init__(self, settings: Settings, default_source: str = DEFAULT_SOURCE) -> None:
        self._settings = settings
        self._default_source = default_source

    def check(self, row: RawRow) -> QueuedClose | InvalidRow:
        """The message for ``row``, or why it cannot be sent."""
        if row.problem is not None:
            return InvalidRow(row.line, row.end_line, row.problem)
        try:
            return self._checked(row)
        except _RowProblem as exc:
            reason = str(exc)
        except UnusableTarget as exc:
            reason = f"{exc.code}: {exc.message}"
        except InvalidEvent as exc:
            reason = f"{exc.code}: {exc.message.removeprefix('invalid event: ')}"
        except (FutureEvent, InvalidExpiry, UnknownAccount) as exc:
            reason = f"{exc.code}: {exc.message}"
        return InvalidRow(row.line, row.end_line, _guarded(reason, row.fields))

    def _checked(self, row: RawRow) -> QueuedClose:
        fields = dict(row.fields)
        action = fields.pop("action", Action.CLOSE.value)
        if action != Action.CLOSE.value:
            raise _RowProblem("not_a_close: action: the backfill sends closes only")
        if fields.get("ticket_id") in (None, ""):
            raise _RowProblem("no_ticket_id: ticket_id: every row needs the ticket's id")
        fields["source"] = self._source(fields.get("source"))
        account = fields.get("account")
        if account is not None and not is_account_name(account):
            raise _RowProblem(f"invalid_account: account: must be {ACCOUNT_NAME_RULE}")
        if account is not None and self._settings.deepcall_accounts:
            self._settings.for_account(account)  # UnknownAccount: not one of DEEPCALL_ACCOUNTS
        event = CloseEvent.from_document(fields, source=None)
        expire_at = event.expire_at
        plan(event, self._settings, now=time.time())  # the functions' expiry checks
        numbers: dict[str, str] = {}
        if event.has_numbers:
            resolve_numbers(event, self._settings)  # as the function will: format, same numbers
            region = self._settings.phone_default_region
            for name in NUMBER_FIELDS:
                if (raw := getattr(event, name)) is not None:
                    # International form: the function reads what was checked here, whatever
                    # its own PHONE_DEFAULT_REGION.
                    number = parse_number(raw, field=name, region=region)
                    numbers[name] = f"+{number.country_code}{number.national}"
        self._refuse_future(event)
        assert event.ticket_id is not None
        event_id = event.event_id or derived_event_id(event.source, event.ticket_id, account)
        body: dict[str, Any] = {"event_id": event_id, "ticket_id": event.ticket_id}
        body["source"] = event.source
        body.update(numbers)
        if event.occurred_at is not None:
            body["occurred_at"] = event.occurred_at.isoformat()
        if event.expire_after_minutes is not None:
            body["expire_after_minutes"] = event.expire_after_minutes
        if expire_at is not None:
            body["expire_at"] = expire_at
        if account is not None:
            body["account"] = account
        text = json.dumps(body, separators=(",", ":"))  # ASCII: every character SQS takes
        if len(text.encode()) > MAX_MESSAGE_BYTES:
            raise _RowProblem("message_too_large: the queue message would be over 256 KiB")
        ticket = event.ticket_id
        group = ticket if is_sqs_id(ticket) else derived_event_id(event.source, ticket, account)
        return QueuedClose(row.line, row.end_line, event_id, text, not numbers, group)

    def _source(self, given: object) -> str:
        if given is None:
            return self._default_source
        if isinstance(given, str) and given.strip().lower() in source_names():
            return given.strip().lower()
        raise _RowProblem(
            f"unknown_source: source: must be one of {', '.join(source_names())} (the name "
            "mapping items are keyed under)"
        )

    def _refuse_future(self, event: CloseEvent) -> None:
        # As the function refuses it: never recorded as the ticket's newest.
        refuse_future(event, self._settings, clock="this machine's clock")


class _RowProblem(Exception):
    """A row's problem found by the backfill itself: ``code: field: rule``."""


# --- repeats ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Repeat:
    """A row that is the same close as an earlier one: skipped."""

    line: int
    end_line: int
    first_line: int


class Repeats:
    """The event ids seen so far in the file: the same row again is a :class:`Repeat`; the same
    event id with another message is an :class:`InvalidRow` (it would be skipped as a duplicate
    at the functions, its numbers or expiry never applied)."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[int, bytes]] = {}

    def check(self, close: QueuedClose) -> QueuedClose | Repeat | InvalidRow:
        """``close``, or what it repeats."""
        fingerprint = hashlib.sha256(close.body.encode()).digest()[:16]  # never leaves memory
        first = self._seen.setdefault(close.event_id, (close.line, fingerprint))
        if first == (close.line, fingerprint):
            return close
        if first[1] == fingerprint:
            return Repeat(close.line, close.end_line, first[0])
        return InvalidRow(
            close.line,
            close.end_line,
            f"conflicting_repeat: the same close (event_id, or ticket_id, source and account) as "
            f"line {first[0]} with other numbers or times: give each close its own event_id, "
            "or keep one",
        )


def read_checked(
    path: Path, fmt: FileFormat, checker: RowChecker
) -> Iterator[QueuedClose | Repeat | InvalidRow]:
    """Every row of ``path``, checked, repeats found (for tests and the dry run's callers)."""
    repeats = Repeats()
    for raw in RowReader(path, fmt).rows():
        checked = checker.check(raw)
        yield repeats.check(checked) if isinstance(checked, QueuedClose) else checked


def count_lines(path: Path) -> tuple[str, int]:
    """The file's SHA-256 (hex) and its number of lines, in one read."""
    digest = hashlib.sha256()
    lines, last = 0, b"\n"
    try:
        with path.open("rb") as file:
            while chunk := file.read(1 << 20):
                digest.update(chunk)
                lines += chunk.count(b"\n")
                last = chunk[-1:]
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a folder, not a file") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot be read ({type(exc).__name__})") from None
    return digest.hexdigest(), lines + (last != b"\n")


__all__ = [
    "DEFAULT_SOURCE",
    "FIELDS",
    "FileFormat",
    "InvalidRow",
    "QueuedClose",
    "RawRow",
    "Repeat",
    "Repeats",
    "RowChecker",
    "RowReader",
    "check_settings",
    "count_lines",
    "derived_event_id",
    "file_format",
    "read_checked",
    "source_option",
]
