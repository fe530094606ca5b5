"""What people type for deadlines and meetings, read in the group's zone."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from cards.dates import Prefer, WhenParseError, parse_when

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=SHANGHAI)  # a Tuesday


def local(text: str, *, now: datetime = NOW, zone: ZoneInfo = SHANGHAI, prefer: Prefer = Prefer.FUTURE) -> str:
    parsed = parse_when(text, now=now, zone=zone, prefer=prefer)
    assert parsed.at.tzinfo is UTC
    return parsed.at.astimezone(zone).strftime("%Y-%m-%d %H:%M") + ("" if parsed.has_time else " (date)")


@pytest.mark.parametrize(("text", "expected"), [
    ("3月15日", "2027-03-15 23:59 (date)"), ("3月15号", "2027-03-15 23:59 (date)"), ("3月15日前", "2027-03-15 23:59 (date)"),
    ("12月15日之前", "2026-12-15 23:59 (date)"), ("3月15日18:00", "2027-03-15 18:00"), ("3月15日 下午3点半", "2027-03-15 15:30"),
    ("2024年3月15日", "2024-03-15 23:59 (date)"), ("2024年3月15日 18:00", "2024-03-15 18:00"),
    ("今天", "2026-11-24 23:59 (date)"), ("明天", "2026-11-25 23:59 (date)"), ("后天", "2026-11-26 23:59 (date)"),
    ("大后天", "2026-11-27 23:59 (date)"), ("明天下午3点", "2026-11-25 15:00"), ("明天上午10点", "2026-11-25 10:00"),
    ("今晚8点", "2026-11-24 20:00"), ("晚上8点半", "2026-11-24 20:30"), ("中午12点", "2026-11-24 12:00"),
    ("下午六点", "2026-11-24 18:00"), ("周五", "2026-11-27 23:59 (date)"), ("星期五", "2026-11-27 23:59 (date)"),
    ("本周一", "2026-11-23 23:59 (date)"), ("下周五", "2026-12-04 23:59 (date)"), ("下星期五", "2026-12-04 23:59 (date)"),
    ("下下周一", "2026-12-07 23:59 (date)"), ("3天后", "2026-11-27 23:59 (date)"), ("三天后", "2026-11-27 23:59 (date)"),
    ("两天后", "2026-11-26 23:59 (date)"), ("十天后", "2026-12-04 23:59 (date)"), ("2周后", "2026-12-08 23:59 (date)"),
    ("两周后", "2026-12-08 23:59 (date)"), ("1个月后", "2026-12-24 23:59 (date)"), ("下个月15号", "2026-12-15 23:59 (date)"),
    ("15号", "2026-12-15 23:59 (date)"), ("30号", "2026-11-30 23:59 (date)"), ("月底", "2026-11-30 23:59 (date)"),
    ("18:00", "2026-11-24 18:00"), ("18：00", "2026-11-24 18:00"), ("18点", "2026-11-24 18:00"),
    ("2026-03-15", "2026-03-15 23:59 (date)"), ("2026/3/15", "2026-03-15 23:59 (date)"), ("3/15", "2027-03-15 23:59 (date)"),
    ("2026-03-15 18:00", "2026-03-15 18:00"), ("2026-03-15T18:00", "2026-03-15 18:00"),
    ("2026-03-15T18:00+00:00", "2026-03-16 02:00"), ("2026-03-15 +0800", "2026-03-15 23:59 (date)"),
    ("2026-03-15 18:00 +0800", "2026-03-15 18:00"), ("today", "2026-11-24 23:59 (date)"),
    ("tomorrow", "2026-11-25 23:59 (date)"), ("next friday", "2026-12-04 23:59 (date)"), ("friday", "2026-11-27 23:59 (date)"),
    ("in 3 days", "2026-11-27 23:59 (date)"), ("in 2 weeks", "2026-12-08 23:59 (date)"), ("Mar 15", "2027-03-15 23:59 (date)"),
    ("March 15 6pm", "2027-03-15 18:00"), ("15 March 2024", "2024-03-15 23:59 (date)"), ("6:30 pm", "2026-11-24 18:30"),
    ("３月１５日", "2027-03-15 23:59 (date)"), ("  明天  ", "2026-11-25 23:59 (date)"),
])  # fmt: skip
def test_what_people_type(text: str, expected: str) -> None:
    assert local(text) == expected


def test_the_year_turns_for_deadlines_and_stays_nearest_for_meetings() -> None:
    year_end = datetime(2026, 12, 30, 9, 0, tzinfo=SHANGHAI)
    assert local("1月3日", now=year_end) == "2027-01-03 23:59 (date)"
    assert local("12月20日", now=year_end, prefer=Prefer.NEAREST) == "2026-12-20 23:59 (date)"
    assert local("11月20日 14:00", prefer=Prefer.NEAREST) == "2026-11-20 14:00"
    assert local("11月20日 14:00", prefer=Prefer.FUTURE) == "2027-11-20 14:00"
    sunday = datetime(2026, 11, 29, 9, 0, tzinfo=SHANGHAI)
    assert (
        local("下周五", now=sunday) == "2026-12-04 23:59 (date)"
        and local("周五", now=sunday) == "2026-12-04 23:59 (date)"
    )


def test_zones_and_daylight_saving() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    before = parse_when("2026-03-28 09:00", now=NOW, zone=berlin).at
    after = parse_when("2026-03-30 09:00", now=NOW, zone=berlin).at
    assert (before.hour, after.hour) == (8, 7), "CET is UTC+1, CEST UTC+2"
    new_york = parse_when("2026-11-02 09:00", now=NOW, zone=ZoneInfo("America/New_York")).at
    assert new_york == datetime(2026, 11, 2, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize("text", ["", "  ", "xyz", "5", "下周", "2月30日", "25:00", "13月1日", "尽快", "asap", "3天前后",
                                  "2026-02-30 10:00", "昨天的后天", "Marchember 5", "a" * 500, "\x00", "🙂"])  # fmt: skip
def test_unreadable_input_gets_a_message_in_both_languages(text: str) -> None:
    with pytest.raises(WhenParseError) as caught:
        parse_when(text, now=NOW, zone=SHANGHAI)
    assert "无法识别的日期" in caught.value.message() and "Cannot read the date" in caught.value.message("en")
