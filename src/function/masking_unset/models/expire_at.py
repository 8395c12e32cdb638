"""Absolute expiry times: an event's ``expire_at`` and the ``EXPIRY_GRACE_UNTIL`` time of day,
and the whole minutes DeepCall is sent for them.

DeepCall's ``expiry_time`` has no documented format, so an absolute time is sent as what is
certain: ``expiry_duration``, the whole minutes from the moment of the call, rounded up (the
masking never expires before the time asked, and less than a minute after it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from masking_unset.models.errors import InvalidExpiry

# The furthest ahead an expiry may be asked for: a year, its leap day included.
MAX_AHEAD = timedelta(days=366)
_MINUTE = timedelta(minutes=1)
_MAX_TEXT = 64  # far longer than any ISO 8601 time
EXAMPLE = "2026-12-07T18:00:00+05:30"
# EXPIRY_GRACE_UNTIL: a 24-hour time of day and an IANA time zone name.
_DAILY = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])\s+([A-Za-z0-9_+\-]+(?:/[A-Za-z0-9_+\-]+)*)")


def parse_expire_at(text: str) -> datetime:
    """``expire_at`` as an aware datetime. Raises :class:`InvalidExpiry`
    (``invalid_expire_at``, ``expire_at_without_offset``) naming the field, never its value."""
    unreadable = InvalidExpiry(
        f"expire_at is not an ISO 8601 time (such as {EXAMPLE})", code="invalid_expire_at"
    )
    if len(text) > _MAX_TEXT:
        raise unreadable
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise unreadable from None
    if moment.utcoffset() is None:
        raise InvalidExpiry(
            "expire_at has no offset: add Z or the offset from UTC, such as "
            f"{EXAMPLE} (a time without one names no moment)",
            code="expire_at_without_offset",
        )
    return moment


def checked_expire_at(text: str, now: float) -> datetime:
    """:func:`parse_expire_at`, refused with ``expire_at_too_far`` when it lies more than a year
    (:data:`MAX_AHEAD`) after ``now`` (epoch seconds)."""
    moment = parse_expire_at(text)
    if moment - datetime.fromtimestamp(now, UTC) > MAX_AHEAD:
        raise InvalidExpiry(
            f"expire_at lies more than {MAX_AHEAD.days} days ahead: check the year",
            code="expire_at_too_far",
        )
    return moment


def instant_ms(text: str) -> str:
    """``expire_at`` as epoch milliseconds (one instant, however it is written), or the text
    itself when it is no time: what makes two deliveries ask for the same expiry."""
    try:
        return str(int(parse_expire_at(text).timestamp() * 1000))
    except InvalidExpiry:
        return text


def minutes_until(moment: datetime, now: float) -> int | None:
    """The whole minutes from ``now`` (epoch seconds) to ``moment``, rounded up; None when
    ``moment`` is not ahead of ``now`` (the masking is then expired at once)."""
    remaining = moment - datetime.fromtimestamp(now, UTC)
    if remaining <= timedelta(0):
        return None
    return -(-remaining // _MINUTE)


@dataclass(frozen=True, slots=True)
class DailyExpiry:
    """``EXPIRY_GRACE_UNTIL``: a close expires at this time of day in ``zone``, or at once when
    it is later than that on the day of the close."""

    at: time
    zone: str  # an IANA name, checked when parsed

    def on_day_of(self, moment: datetime) -> datetime:
        """This time of day on ``moment``'s local date in the zone (``moment`` itself for one
        at the edge of the calendar, whose day is long gone)."""
        from zoneinfo import ZoneInfo  # only a deployment that sets it needs the zone data

        zone = ZoneInfo(self.zone)
        try:
            local = moment.astimezone(zone)
        except OverflowError:  # 0001-01-01 in a zone behind UTC: no such local date
            return moment
        return datetime.combine(local.date(), self.at, tzinfo=zone)


def parse_daily_expiry(value: object) -> object:
    """Validate ``EXPIRY_GRACE_UNTIL``: ``HH:MM`` and an IANA time zone, such as
    ``18:00 Asia/Kolkata``; blank means unset. The errors never echo the value."""
    if value is None or isinstance(value, DailyExpiry):
        return value
    if not isinstance(value, str):
        raise ValueError("must be text such as 18:00 Asia/Kolkata")
    if not value.strip():
        return None
    match = _DAILY.fullmatch(value.strip())
    if match is None:
        raise ValueError(
            "must be a 24-hour time of day and a time zone, such as 18:00 Asia/Kolkata"
        )
    hour, minute, zone = match.groups()
    from zoneinfo import ZoneInfo

    try:
        ZoneInfo(zone)
    except (ValueError, KeyError, OSError):  # unknown name (a KeyError), a directory, a path
        raise ValueError(
            "names no known time zone: use an IANA name such as Asia/Kolkata or UTC"
        ) from None
    return DailyExpiry(time(int(hour), int(minute)), zone)
