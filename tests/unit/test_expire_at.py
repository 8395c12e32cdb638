"""Absolute expiry times: an event's ``expire_at`` and ``EXPIRY_GRACE_UNTIL`` (models/expire_at.py),
the call planned from them (logic/expiry.py) and what makes two deliveries the same close."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from masking_unset.config import Settings
from masking_unset.handlers.responses import status_of
from masking_unset.logic.expiry import plan
from masking_unset.logic.fields import event_document
from masking_unset.logic.idempotency import repeat_keys
from masking_unset.models.deepcall import DeepCallCredentials, DeepCallReply, UnsetTarget
from masking_unset.models.errors import ConfigurationError, InvalidExpiry, UpstreamUnavailable
from masking_unset.models.events import CloseEvent, Outcome
from masking_unset.models.expire_at import (
    MAX_AHEAD,
    DailyExpiry,
    checked_expire_at,
    minutes_until,
    parse_daily_expiry,
    parse_expire_at,
)
from masking_unset.models.hashing import parse_hash_keys
from masking_unset.models.tickets import digests, ticket_key
from tests.unit.fakes import ENV, HASH_KEY, FakeDeepCall, FakeTicketStates, expirer, settings

NOW = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)  # 11:30 in Asia/Kolkata
IST = timezone(timedelta(hours=5, minutes=30))
KEYS = parse_hash_keys({"key": HASH_KEY})
TARGET = UnsetTarget(mask="8040001234")
PHONE = "+91 98765 43210"

# Any moment a sender could write, in any fixed offset from UTC (-23:59 to +23:59).
offsets = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))
moments = st.datetimes(
    min_value=datetime(1971, 1, 2), max_value=datetime(9998, 12, 30), timezones=offsets
)
nows = st.datetimes(min_value=datetime(1971, 1, 2), max_value=datetime(9998, 12, 30)).map(
    lambda naive: naive.replace(tzinfo=UTC).timestamp()
)


def event(**fields: object) -> CloseEvent:
    base: dict[str, object] = {"ticket_id": "T-1", "mask": "+91 80 4000 1234", "source": "generic"}
    return CloseEvent.model_validate({**base, **fields})


def code_of(text: str, now: float = NOW.timestamp()) -> str:
    with pytest.raises(InvalidExpiry) as caught:
        checked_expire_at(text, now)
    return caught.value.code


# --- parsing ---------------------------------------------------------------------------------


@given(moment=moments)
def test_any_aware_time_written_in_iso_8601_is_read_as_the_same_instant(moment: datetime) -> None:
    for text in (moment.isoformat(), moment.isoformat(timespec="seconds"), f" {moment} "):
        parsed = parse_expire_at(text)
        assert parsed.utcoffset() is not None
        assert parsed == moment.replace(microsecond=parsed.microsecond)


@given(moment=moments, now=nows)
def test_the_minutes_sent_are_the_whole_minutes_left_rounded_up(
    moment: datetime, now: float
) -> None:
    remaining = moment - datetime.fromtimestamp(now, UTC)
    minutes = minutes_until(parse_expire_at(moment.isoformat()), now)
    if remaining <= timedelta(0):
        assert minutes is None  # the moment has come: expired now
    else:
        assert minutes is not None
        assert minutes >= 1
        # Never before the moment asked, and less than a minute after it.
        assert timedelta(minutes=minutes - 1) < remaining <= timedelta(minutes=minutes)


@given(moment=moments, now=nows)
def test_a_moment_is_refused_exactly_when_it_lies_more_than_a_year_ahead(
    moment: datetime, now: float
) -> None:
    too_far = moment - datetime.fromtimestamp(now, UTC) > MAX_AHEAD
    if too_far:
        assert code_of(moment.isoformat(), now) == "expire_at_too_far"
    else:
        assert checked_expire_at(moment.isoformat(), now) == moment


@given(naive=st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)))
def test_a_time_without_an_offset_is_refused_with_its_own_code(naive: datetime) -> None:
    assert code_of(naive.isoformat()) == "expire_at_without_offset"
    assert code_of(naive.date().isoformat()) == "expire_at_without_offset"


@pytest.mark.parametrize(
    "text",
    ["", " ", "tomorrow", "18:00", "2026-13-01T00:00:00Z", "2026-12-07T25:00:00+05:30",
     "2026-12-07T18:00:00+05:30 IST", "1765110600", PHONE, "2026-12-07T18:00:00" + "0" * 80],
)  # fmt: skip
def test_an_unreadable_time_is_refused_with_its_own_code(text: str) -> None:
    assert code_of(text) == "invalid_expire_at"


def message_of(text: str) -> str:
    with pytest.raises(InvalidExpiry) as caught:
        checked_expire_at(text, NOW.timestamp())
    return caught.value.message


# One fixed message per code: nothing of the value sent can be in it.
MESSAGES = {
    "invalid_expire_at": message_of("soon"),
    "expire_at_without_offset": message_of("2026-12-07T18:00:00"),
    "expire_at_too_far": message_of("2099-12-07T18:00:00Z"),
}


@given(text=st.text(max_size=80))
def test_any_text_is_a_moment_or_refused_with_one_of_the_codes_never_echoed(text: str) -> None:
    error: InvalidExpiry | None = None
    try:
        checked_expire_at(text, NOW.timestamp())
    except InvalidExpiry as exc:
        error = exc
    if error is not None:
        assert error.message == MESSAGES[error.code]
        assert status_of(error) == 422


def test_the_message_never_shows_the_value_sent() -> None:
    with pytest.raises(InvalidExpiry) as caught:
        parse_expire_at(PHONE)
    assert "98765" not in caught.value.message
    assert "43210" not in caught.value.message


def test_a_non_text_expire_at_is_a_wrong_type_of_the_canonical_event() -> None:
    from masking_unset.models.errors import InvalidEvent

    with pytest.raises(InvalidEvent, match="expire_at"):
        CloseEvent.from_document({"mask": "x", "expire_at": 1765110600}, source="generic")


# --- the call planned ------------------------------------------------------------------------


def test_a_future_expire_at_schedules_the_minutes_left_rounded_up() -> None:
    wanted = plan(event(expire_at="2026-12-07T18:00:20+05:30"), settings(), NOW.timestamp())
    assert wanted is not None
    # 18:00:20 in Kolkata is 12:30:20 UTC: 6 h 30 min 20 s after 06:00 UTC.
    assert (wanted.duration, wanted.minutes, wanted.done) == (391, 391, Outcome.SCHEDULED)


@pytest.mark.parametrize("ago", [timedelta(0), timedelta(seconds=1), timedelta(days=400)])
def test_an_expire_at_that_has_come_expires_now(ago: timedelta) -> None:
    text = (NOW - ago).astimezone(IST).isoformat()
    wanted = plan(event(expire_at=text), settings(), NOW.timestamp())
    assert wanted is not None
    assert (wanted.duration, wanted.minutes, wanted.done) == (-1, None, Outcome.UNSET)


def test_a_moment_less_than_a_minute_ahead_is_one_minute() -> None:
    text = (NOW + timedelta(microseconds=1)).isoformat()
    wanted = plan(event(expire_at=text), settings(), NOW.timestamp())
    assert wanted is not None
    assert (wanted.duration, wanted.done) == (1, Outcome.SCHEDULED)


def test_a_year_ahead_is_sent_and_a_day_more_is_refused() -> None:
    ahead = plan(event(expire_at=(NOW + MAX_AHEAD).isoformat()), settings(), NOW.timestamp())
    assert ahead is not None
    assert ahead.duration == 366 * 24 * 60
    beyond = (NOW + MAX_AHEAD + timedelta(seconds=1)).isoformat()
    with pytest.raises(InvalidExpiry) as caught:
        plan(event(expire_at=beyond), settings(), NOW.timestamp())
    assert caught.value.code == "expire_at_too_far"


def test_expire_at_with_expire_after_minutes_is_refused_with_its_own_code() -> None:
    both = event(expire_at=(NOW + timedelta(hours=1)).isoformat(), expire_after_minutes=5)
    with pytest.raises(InvalidExpiry) as caught:
        plan(both, settings(), NOW.timestamp())
    assert caught.value.code == "expire_at_with_minutes"
    assert status_of(caught.value) == 422


def test_expire_at_wins_over_the_grace_settings() -> None:
    text = (NOW + timedelta(minutes=10)).isoformat()
    for config in (settings(EXPIRY_GRACE_MINUTES="60"), settings(EXPIRY_GRACE_UNTIL="23:00 UTC")):
        wanted = plan(event(expire_at=text), config, NOW.timestamp())
        assert wanted is not None
        assert wanted.duration == 10


def test_a_reopen_ignores_expire_at_as_it_ignores_expire_after_minutes() -> None:
    config = settings(REOPEN_EXTEND_MINUTES="30")
    wanted = plan(event(action="reopen", expire_at="garbage"), config, NOW.timestamp())
    assert wanted is not None
    assert (wanted.duration, wanted.done) == (30, Outcome.EXTENDED)


class ClockedDeepCall(FakeDeepCall):
    """Moves the expirer's clock on by ``step`` seconds as each call arrives (a slow DeepCall)."""

    def __init__(self, clock: list[float], step: float, *answers: Any) -> None:
        super().__init__(*answers)
        self.clock, self.step = clock, step

    def unset(
        self,
        credentials: DeepCallCredentials,
        target: UnsetTarget,
        expiry_duration: int = -1,
        *,
        time_limit: float | None = None,
    ) -> DeepCallReply:
        self.clock[0] += self.step
        return super().unset(credentials, target, expiry_duration, time_limit=time_limit)


def test_the_minutes_are_counted_at_each_call_not_when_the_event_was_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [NOW.timestamp()]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    # Each call takes 3 minutes; the first fails and is retried.
    deepcall = ClockedDeepCall(clock, 180.0, UpstreamUnavailable("down", http_status=503))
    states = FakeTicketStates()
    close = event(expire_at=(NOW + timedelta(minutes=20)).isoformat(), occurred_at=NOW)
    result = expirer(deepcall, states=states).expire(close)
    assert deepcall.durations == [20, 17]  # 20 minutes left, then 3 minutes later 17
    assert (result.status, result.expires_in_minutes) == (Outcome.SCHEDULED, 17)
    # Answered and recorded from the minutes actually sent, counted from the confirmation (6
    # minutes after the event was read: the latest DeepCall can have counted from).
    assert result.expires_at == "2026-12-07T06:23:00Z"
    [entry] = states.ledgers[ticket_key("generic", "T-1", None)].values()
    assert (entry.at_ms, entry.until_ms) == (
        int(clock[0] * 1000),
        int(clock[0] * 1000) + 17 * 60_000,
    )


def test_a_moment_that_passes_while_deepcall_is_retried_expires_now(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [NOW.timestamp()]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    deepcall = ClockedDeepCall(clock, 90.0, UpstreamUnavailable("down", http_status=503))
    result = expirer(deepcall).expire(event(expire_at=(NOW + timedelta(minutes=1)).isoformat()))
    assert deepcall.durations == [1, -1]  # a minute left at the first call, none at the second
    assert (result.status, result.expires_in_minutes, result.expires_at) == (
        Outcome.UNSET,
        None,
        None,
    )


def test_a_grace_period_answers_when_it_ends_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "time", NOW.timestamp)
    result = expirer(FakeDeepCall(), config=settings(EXPIRY_GRACE_MINUTES="15")).expire(event())
    assert (result.expires_in_minutes, result.expires_at) == (15, "2026-12-07T06:15:00Z")
    assert result.body()["expires_at"] == "2026-12-07T06:15:00Z"
    unset = expirer(FakeDeepCall()).expire(event())
    assert "expires_at" not in unset.body()


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("2026-12-07T18:00:00", "expire_at_without_offset"),
        ("soon", "invalid_expire_at"),
        ("2099-01-01T00:00:00Z", "expire_at_too_far"),
    ],
)
def test_an_unusable_expire_at_calls_nothing(text: str, code: str) -> None:
    deepcall, states = FakeDeepCall(), FakeTicketStates()
    closed = datetime.now(UTC) - timedelta(minutes=1)
    with pytest.raises(InvalidExpiry) as caught:
        expirer(deepcall, states=states).expire(event(expire_at=text, occurred_at=closed))
    assert caught.value.code == code
    assert (deepcall.calls, states.states, states.ledgers) == ([], {}, {})


# --- EXPIRY_GRACE_UNTIL ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("closed_at", "duration"),
    [
        (NOW, 390),  # 11:30 in Kolkata: until 18:00, 6 h 30 min later
        (datetime(2026, 12, 7, 12, 29, 30, tzinfo=UTC), 1),  # 17:59:30: one minute
        (datetime(2026, 12, 7, 12, 30, tzinfo=UTC), -1),  # 18:00: now
        (datetime(2026, 12, 7, 17, 0, tzinfo=UTC), -1),  # 22:30: now, not tomorrow at 18:00
    ],
)
def test_grace_until_a_time_of_day_expires_then_or_now_if_later(
    closed_at: datetime, duration: int
) -> None:
    config = settings(EXPIRY_GRACE_UNTIL="18:00 Asia/Kolkata")
    wanted = plan(event(occurred_at=closed_at), config, closed_at.timestamp())
    assert wanted is not None
    assert wanted.duration == duration


def test_grace_until_takes_the_day_of_the_close_not_of_a_late_delivery() -> None:
    config = settings(EXPIRY_GRACE_UNTIL="18:00 Asia/Kolkata")
    late = (NOW + timedelta(days=1)).timestamp()  # delivered the next morning
    wanted = plan(event(occurred_at=NOW), config, late)
    assert wanted is not None
    assert wanted.duration == -1
    # Without occurred_at, the day it is handled.
    wanted = plan(event(), config, late)
    assert wanted is not None
    assert wanted.duration == 390


def test_the_events_own_grace_wins_over_grace_until() -> None:
    config = settings(EXPIRY_GRACE_UNTIL="18:00 Asia/Kolkata")
    wanted = plan(event(expire_after_minutes=5), config, NOW.timestamp())
    assert wanted is not None
    assert wanted.duration == 5


def test_grace_until_follows_the_zones_daylight_saving_time() -> None:
    daily = parse_daily_expiry("18:00 Europe/Berlin")
    assert isinstance(daily, DailyExpiry)
    summer = daily.on_day_of(datetime(2026, 7, 1, 10, 0, tzinfo=UTC))
    winter = daily.on_day_of(datetime(2026, 12, 1, 10, 0, tzinfo=UTC))
    assert summer.astimezone(UTC).hour == 16
    assert winter.astimezone(UTC).hour == 17


@given(
    closed=st.datetimes(min_value=datetime(1, 1, 1), timezones=offsets),
    zone=st.sampled_from(["Asia/Kolkata", "America/New_York", "Pacific/Kiritimati", "UTC"]),
)
@example(closed=datetime(1, 1, 1, tzinfo=UTC), zone="America/New_York")
def test_grace_until_finds_a_day_for_any_close_however_old(closed: datetime, zone: str) -> None:
    # Year 1 in a zone behind UTC has no local date: such a close expires now, never a 500.
    config = settings(EXPIRY_GRACE_UNTIL=f"18:00 {zone}")
    wanted = plan(event(occurred_at=closed), config, NOW.timestamp())
    assert wanted is not None
    assert wanted.duration == -1 or closed > NOW - timedelta(days=2)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("6pm", "EXPIRY_GRACE_UNTIL: must be a 24-hour time of day and a time zone"),
        ("18:00", "EXPIRY_GRACE_UNTIL: must be a 24-hour time of day and a time zone"),
        ("24:00 UTC", "EXPIRY_GRACE_UNTIL: must be a 24-hour time of day and a time zone"),
        ("18:00 ../../etc/passwd", "EXPIRY_GRACE_UNTIL: must be a 24-hour"),
        ("18:00 Asia/Kolkatta", "EXPIRY_GRACE_UNTIL: names no known time zone"),
        ("18:00 Asia", "EXPIRY_GRACE_UNTIL: names no known time zone"),
    ],
)
def test_a_bad_grace_until_is_a_configuration_error_naming_it(value: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        settings(EXPIRY_GRACE_UNTIL=value)
    assert message in caught.value.message
    assert "Kolkatta" not in caught.value.message  # the value itself is never echoed


@given(value=st.text(max_size=40))
def test_any_grace_until_value_is_a_setting_or_a_configuration_error(value: str) -> None:
    parsed: object = None
    try:
        parsed = Settings.from_env({**ENV, "EXPIRY_GRACE_UNTIL": value}).expiry_grace_until
    except ConfigurationError as exc:
        parsed = exc.message
    assert (
        parsed is None
        or isinstance(parsed, DailyExpiry)
        or str(parsed).startswith("invalid configuration: EXPIRY_GRACE_UNTIL: ")
    )


def test_grace_until_and_grace_minutes_together_are_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError) as caught:
        settings(EXPIRY_GRACE_UNTIL="18:00 Asia/Kolkata", EXPIRY_GRACE_MINUTES="30")
    assert "EXPIRY_GRACE_MINUTES and EXPIRY_GRACE_UNTIL" in caught.value.message
    assert settings(EXPIRY_GRACE_UNTIL="18:00 Asia/Kolkata", EXPIRY_GRACE_MINUTES="0")
    assert settings(EXPIRY_GRACE_UNTIL=" ").expiry_grace_until is None


# --- what makes two deliveries the same close --------------------------------------------------


def test_the_repeat_key_of_an_event_without_expire_at_is_unchanged() -> None:
    close = event()
    old = digests(
        KEYS, "repeat", "generic", "T-1", "mask=8040001234", "close", "None", "None"
    )  # the parts before expire_at existed
    assert repeat_keys(close, TARGET, KEYS) == old


def test_expire_at_is_part_of_the_repeat_key_as_one_instant() -> None:
    plain = repeat_keys(event(), TARGET, KEYS)
    utc = repeat_keys(event(expire_at="2026-12-07T12:30:00Z"), TARGET, KEYS)
    kolkata = repeat_keys(event(expire_at="2026-12-07T18:00:00+05:30"), TARGET, KEYS)
    later = repeat_keys(event(expire_at="2026-12-07T18:01:00+05:30"), TARGET, KEYS)
    assert utc == kolkata
    assert len({plain, utc, later}) == 3
    # With occurred_at, the instant of the close alone names it, as before.
    a = repeat_keys(event(occurred_at=NOW, expire_at="2026-12-07T12:30:00Z"), TARGET, KEYS)
    assert a == repeat_keys(event(occurred_at=NOW), TARGET, KEYS)


# --- read from a CRM payload -----------------------------------------------------------------


def test_a_crm_payloads_expire_at_is_kept_as_text_and_a_blank_one_is_absent() -> None:
    assert event_document({"expire_at": " 2026-12-07T18:00:00+05:30 "})["expire_at"] == (
        "2026-12-07T18:00:00+05:30"
    )
    assert "expire_at" not in event_document({"expire_at": "  "})
    assert event_document({"expire_at": 1765110600})["expire_at"] == "1765110600"


def test_expire_at_can_be_mapped_with_source_fields() -> None:
    config = settings(SOURCE_FIELDS_HUBSPOT='{"expire_at": "shiftEnd"}')
    assert config.source_fields_hubspot == {"expire_at": "shiftEnd"}
