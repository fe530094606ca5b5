"""The clock, zones and the workday calendar (Chinese holidays with make-up workdays, overrides)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from storage.directory import calendar_for_group, ensure_group, set_calendar_override
from storage.timekeeping import (
    CalendarOverrides,
    ManualClock,
    WorkdayCalendar,
    as_utc,
    format_local,
    local_to_utc,
    local_today,
    zone,
)

CN = WorkdayCalendar("CN")


def test_national_day_2026_is_off_and_its_make_up_days_are_worked() -> None:
    golden_week = [date(2026, 10, d) for d in range(1, 8)]
    assert [CN.is_workday(d) for d in golden_week] == [False] * 7
    assert CN.is_workday(date(2026, 9, 20)), "Sunday 20 Sept is a make-up workday"
    assert CN.is_workday(date(2026, 10, 10)), "Saturday 10 Oct is a make-up workday"
    assert not CN.is_workday(date(2026, 10, 11)), "an ordinary Sunday"
    assert CN.is_workday(date(2026, 9, 30)) and CN.is_workday(date(2026, 10, 8))


def test_workday_arithmetic_across_national_day() -> None:
    assert CN.next_workday(date(2026, 9, 30)) == date(2026, 10, 8)
    assert CN.add_workdays(date(2026, 9, 30), 2) == date(2026, 10, 9)
    assert CN.add_workdays(date(2026, 10, 9), 1) == date(2026, 10, 10), "the make-up Saturday counts"
    assert CN.add_workdays(date(2026, 10, 8), -1) == date(2026, 9, 30)
    assert CN.previous_workday(date(2026, 10, 4)) == date(2026, 9, 30)
    # 28, 29, 30 Sept; 1-7 Oct off; 8, 9 Oct and the make-up Saturday 10 Oct; Sunday 11 Oct off
    assert CN.workdays_between(date(2026, 9, 28), date(2026, 10, 12)) == 6
    assert CN.next_workday(date(2026, 10, 8), include=True) == date(2026, 10, 8)


def test_workspace_overrides_win_over_the_statutory_calendar() -> None:
    calendar = WorkdayCalendar(
        "CN",
        CalendarOverrides(
            extra_holidays=frozenset({date(2026, 11, 27)}), extra_workdays=frozenset({date(2026, 10, 2)})
        ),
    )
    assert not calendar.is_workday(date(2026, 11, 27)) and calendar.holiday_name(date(2026, 11, 27)) == "extra holiday"
    assert calendar.is_workday(date(2026, 10, 2))
    assert calendar.next_workday(date(2026, 11, 26)) == date(2026, 11, 30)


def test_a_groups_calendar_reads_its_workspace_overrides(session: Session, clock: ManualClock) -> None:
    group = ensure_group(session=session, platform="sandbox", chat_id="g", workspace="acme", now=clock.now())
    set_calendar_override(session=session, workspace="acme", day=date(2026, 11, 27), is_workday=False, note="团建")
    set_calendar_override(session=session, workspace="other", day=date(2026, 11, 26), is_workday=False)
    calendar = calendar_for_group(session, group)
    assert not calendar.is_workday(date(2026, 11, 27)) and calendar.is_workday(date(2026, 11, 26))


def test_another_country_has_its_own_calendar() -> None:
    germany = WorkdayCalendar("DE")
    assert not germany.is_workday(date(2026, 10, 3)) and germany.is_workday(date(2026, 10, 1))
    with pytest.raises(ValueError, match="no holiday calendar"):
        WorkdayCalendar("XX")


def test_a_group_in_berlin_sees_its_own_wall_clock_across_dst() -> None:
    berlin = zone("Europe/Berlin")
    before, after = (
        local_to_utc(date(2026, 3, 27), time(17, 30), berlin),
        local_to_utc(date(2026, 3, 30), time(17, 30), berlin),
    )
    assert before == datetime(2026, 3, 27, 16, 30, tzinfo=UTC) and after == datetime(2026, 3, 30, 15, 30, tzinfo=UTC)
    skipped = local_to_utc(date(2026, 3, 29), time(2, 30), berlin)  # does not exist locally
    assert skipped == datetime(2026, 3, 29, 1, 30, tzinfo=UTC) and format_local(skipped, berlin) == "2026-03-29 03:30"


def test_the_same_instant_is_a_different_day_in_different_zones() -> None:
    instant = datetime(2026, 11, 24, 20, 0, tzinfo=UTC)
    assert local_today(instant, ZoneInfo("Asia/Shanghai")) == date(2026, 11, 25)
    assert local_today(instant, ZoneInfo("America/Los_Angeles")) == date(2026, 11, 24)
    assert format_local(instant, ZoneInfo("Asia/Shanghai")) == "2026-11-25 04:00"


def test_the_manual_clock_moves_only_when_told() -> None:
    clock = ManualClock(datetime(2026, 11, 24, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai")))
    assert clock.now() == datetime(2026, 11, 24, 1, 0, tzinfo=UTC) and clock.now().tzinfo is UTC
    clock.advance(timedelta(hours=2))
    assert clock.now() == datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="naive"):
        as_utc(datetime(2026, 1, 1))


def test_an_unknown_zone_is_a_readable_error() -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        zone("Mars/Olympus")
