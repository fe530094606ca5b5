"""A group's workday calendar: its country's statutory days plus its workspace's overrides."""

from __future__ import annotations

from sqlmodel import Session

from scheduler.timekeeping import CalendarOverrides, WorkdayCalendar
from storage.directory import calendar_overrides
from storage.models import Group


def calendar_for_group(session: Session, group: Group) -> WorkdayCalendar:
    rows = list(calendar_overrides(session=session, workspace=group.workspace))
    overrides = CalendarOverrides(
        extra_holidays=frozenset(row.day for row in rows if not row.is_workday),
        extra_workdays=frozenset(row.day for row in rows if row.is_workday),
    )
    return WorkdayCalendar(group.holiday_country, overrides)
