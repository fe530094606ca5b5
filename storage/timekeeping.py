"""All of Closeloop's time in one place: the clock, time zones and the workday calendar.

Rules the rest of the code relies on:
- every instant is an aware ``datetime`` in UTC (the database stores UTC);
- a group's local time exists only for display and for "what is due today";
- ``datetime.now()`` is called here and nowhere else (``SystemClock``), so tests
  move time by handing a ``ManualClock`` to whatever needs one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to (tests, the sandbox's time control)."""

    def __init__(self, start: datetime) -> None:
        self._now = as_utc(start)

    def now(self) -> datetime:
        return self._now

    def set(self, instant: datetime) -> None:
        self._now = as_utc(instant)

    def advance(self, delta: timedelta) -> None:
        self._now += delta


def as_utc(instant: datetime) -> datetime:
    """Convert an aware datetime to UTC; a naive one is a programming error."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"naive datetime {instant!r}: Closeloop only handles aware instants")
    return instant.astimezone(UTC)


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    """The ZoneInfo for an IANA name; ValueError with a readable message if unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as Asia/Shanghai)") from exc


def to_local(instant: datetime, tz: ZoneInfo) -> datetime:
    return as_utc(instant).astimezone(tz)


def local_to_utc(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of wall-clock ``at`` on ``day`` in ``tz``.

    A wall time skipped by a DST jump resolves forward (02:30 on the spring-forward
    day is 03:30); an ambiguous one takes the first occurrence (fold=0).
    """
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def local_today(instant: datetime, tz: ZoneInfo) -> date:
    return to_local(instant, tz).date()


def format_local(instant: datetime, tz: ZoneInfo, *, with_time: bool = True) -> str:
    """How an instant is shown in a group: ``2026-03-05 14:00`` in the group's zone."""
    local = to_local(instant, tz)
    return local.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")


@dataclass(frozen=True)
class CalendarOverrides:
    """A workspace's own extra holidays and extra workdays (company days off, make-up days)."""

    extra_holidays: frozenset[date] = field(default_factory=frozenset)
    extra_workdays: frozenset[date] = field(default_factory=frozenset)


@lru_cache(maxsize=64)
def _country_calendar(country: str) -> holidays.HolidayBase:
    try:
        return holidays.country_holidays(country)
    except NotImplementedError as exc:
        raise ValueError(f"no holiday calendar for country code {country!r}") from exc


class WorkdayCalendar:
    """Workdays of one country plus a workspace's overrides.

    Statutory holidays and make-up workdays (调休: the weekend days that are worked,
    such as Saturday 2026-10-10 after National Day) come from the ``holidays``
    package; overrides win over both.
    """

    def __init__(self, country: str = "CN", overrides: CalendarOverrides | None = None) -> None:
        self.country = country
        self._base = _country_calendar(country)
        self._overrides = overrides or CalendarOverrides()

    def is_workday(self, day: date) -> bool:
        if day in self._overrides.extra_workdays:
            return True
        if day in self._overrides.extra_holidays:
            return False
        return bool(self._base.is_working_day(day))

    def holiday_name(self, day: date) -> str | None:
        if day in self._overrides.extra_holidays:
            return "extra holiday"
        return self._base.get(day)

    def next_workday(self, day: date, *, include: bool = False) -> date:
        """The first workday after ``day`` (or ``day`` itself when ``include`` and it is one)."""
        candidate = day if include else day + timedelta(days=1)
        for _ in range(366):
            if self.is_workday(candidate):
                return candidate
            candidate += timedelta(days=1)
        raise ValueError(f"no workday within a year after {day}")

    def previous_workday(self, day: date, *, include: bool = False) -> date:
        candidate = day if include else day - timedelta(days=1)
        for _ in range(366):
            if self.is_workday(candidate):
                return candidate
            candidate -= timedelta(days=1)
        raise ValueError(f"no workday within a year before {day}")

    def add_workdays(self, day: date, count: int) -> date:
        """Move ``count`` workdays forward (negative: back) from ``day``."""
        step = self.next_workday if count >= 0 else self.previous_workday
        for _ in range(abs(count)):
            day = step(day)
        return day

    def workdays_between(self, start: date, end: date) -> int:
        """Workdays in the half-open range [start, end)."""
        if end <= start:
            return 0
        return sum(1 for offset in range((end - start).days) if self.is_workday(start + timedelta(days=offset)))

    def workdays(self, days: Iterable[date]) -> list[date]:
        return [d for d in days if self.is_workday(d)]


WORKDAY_START = time(9, 0)
WORKDAY_END = time(18, 0)


def add_working_hours(
    start: datetime, hours: float, *, calendar: WorkdayCalendar, tz: ZoneInfo,
    day_start: time = WORKDAY_START, day_end: time = WORKDAY_END,
) -> datetime:  # fmt: skip
    """The instant ``hours`` of working time after ``start``, counting only workdays' office hours.

    "Half a workday" after a record is submitted at 16:00 on a Friday before a
    holiday lands on the next workday's morning, not on the holiday.
    """
    remaining = timedelta(hours=hours)
    local = to_local(start, tz)
    day = local.date()
    cursor = local.time()
    for _ in range(400):
        if calendar.is_workday(day):
            opens = max(cursor, day_start)
            if opens < day_end:
                available = datetime.combine(day, day_end) - datetime.combine(day, opens)
                if remaining <= available:
                    return local_to_utc(day, (datetime.combine(day, opens) + remaining).time(), tz)
                remaining -= available
        day += timedelta(days=1)
        cursor = time(0, 0)
    raise ValueError("no working time within 400 days")
