"""What people type for deadlines and meeting times, read in the group's zone.

Unless a test says otherwise the group sits in Shanghai (UTC+8, no daylight saving), it is
Tuesday 2026-11-24 09:00 there, and a date without a time means 23:59 of that day. Expected
values are written as the group's wall time — "2027-03-15" for a date alone, "2027-03-15 18:00"
with a time — and compared as exact UTC instants.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from cards.dates import ParsedWhen, Prefer, WhenParseError, parse_when

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=SHANGHAI)  # a Tuesday
YEAR_END = datetime(2026, 12, 30, 9, 0, tzinfo=SHANGHAI)  # a Wednesday
MONTH_END = datetime(2026, 1, 31, 9, 0, tzinfo=SHANGHAI)  # a Saturday, the month before a short February
SUNDAY = datetime(2026, 11, 29, 9, 0, tzinfo=SHANGHAI)


def expected(wall: str, zone: ZoneInfo = SHANGHAI, end_of_day: time = time(23, 59)) -> ParsedWhen:
    """'2027-03-15' → that day at end_of_day in ``zone``, date only; '2027-03-15 18:00' → with a time."""
    has_time = " " in wall
    local = datetime.fromisoformat(wall if has_time else f"{wall} {end_of_day}").replace(tzinfo=zone)
    return ParsedWhen(local.astimezone(UTC), has_time)


def read(text: str, *, now: datetime = NOW, zone: ZoneInfo = SHANGHAI, prefer: Prefer = Prefer.FUTURE) -> ParsedWhen:
    parsed = parse_when(text, now=now, zone=zone, prefer=prefer)
    assert parsed.at.tzinfo is UTC
    return parsed


# ---------------------------------------------------------------- the forms people type


@pytest.mark.parametrize(("text", "wall"), [
    ("3月15日", "2027-03-15"), ("3月15号", "2027-03-15"), ("3月15", "2027-03-15"), ("十二月十五日", "2026-12-15"),
    ("3月15日18:00", "2027-03-15 18:00"), ("3月15日 18:00", "2027-03-15 18:00"),
    ("3月15日下午3点", "2027-03-15 15:00"), ("3月15日下午3点半", "2027-03-15 15:30"),
    ("2024年3月15日", "2024-03-15"), ("2024年3月15日 18:00", "2024-03-15 18:00"),
    ("今天", "2026-11-24"), ("明天", "2026-11-25"), ("后天", "2026-11-26"), ("大后天", "2026-11-27"),
    ("昨天", "2026-11-23"), ("前天", "2026-11-22"), ("今晚", "2026-11-24"),
    ("明天下午3点", "2026-11-25 15:00"), ("明天上午10点", "2026-11-25 10:00"), ("今晚8点", "2026-11-24 20:00"),
    ("明晚8点", "2026-11-25 20:00"), ("明早8点", "2026-11-25 08:00"), ("晚上8点", "2026-11-24 20:00"),
    ("3天后", "2026-11-27"), ("三天后", "2026-11-27"), ("两天后", "2026-11-26"), ("十天后", "2026-12-04"),
    ("3天内", "2026-11-27"), ("2周后", "2026-12-08"), ("两周后", "2026-12-08"), ("1个月后", "2026-12-24"),
    ("下个月15号", "2026-12-15"), ("下月15日", "2026-12-15"), ("本月30号", "2026-11-30"),
    ("15号", "2026-12-15"), ("十五号", "2026-12-15"), ("二十号", "2026-12-20"), ("30号", "2026-11-30"), ("三十一号", "2026-12-31"),
    ("月底", "2026-11-30"), ("下个月底", "2026-12-31"),
])  # fmt: skip
def test_chinese_dates(text: str, wall: str) -> None:
    assert read(text) == expected(wall)


@pytest.mark.parametrize(("text", "wall"), [
    ("周五", "2026-11-27"), ("星期五", "2026-11-27"), ("礼拜五", "2026-11-27"), ("周日", "2026-11-29"),
    ("星期天", "2026-11-29"), ("周二", "2026-11-24"), ("周一", "2026-11-30"),
    ("本周五", "2026-11-27"), ("这周五", "2026-11-27"), ("本周一", "2026-11-23"),
    ("下周五", "2026-12-04"), ("下星期五", "2026-12-04"), ("下个礼拜一", "2026-11-30"), ("下下周一", "2026-12-07"),
    ("上周五", "2026-11-20"), ("下周五下午3点", "2026-12-04 15:00"),
])  # fmt: skip
def test_weekdays_look_forward_and_weeks_start_on_monday(text: str, wall: str) -> None:
    """Tuesday: a bare 周一 is next Monday, 本周一 is yesterday."""
    assert read(text) == expected(wall)


@pytest.mark.parametrize(("text", "wall"), [
    ("18:00", "2026-11-24 18:00"), ("18：00", "2026-11-24 18:00"), ("18:00:30", "2026-11-24 18:00:30"),
    ("18点", "2026-11-24 18:00"), ("18点30分", "2026-11-24 18:30"), ("3点十五分", "2026-11-24 03:15"),
    ("3点", "2026-11-24 03:00"), ("零点", "2026-11-24 00:00"), ("十点整", "2026-11-24 10:00"),
    ("下午6点", "2026-11-24 18:00"), ("下午六点", "2026-11-24 18:00"), ("下午3:30", "2026-11-24 15:30"),
    ("上午10点", "2026-11-24 10:00"), ("中午12点", "2026-11-24 12:00"), ("中午1点", "2026-11-24 13:00"),
    ("晚上8点半", "2026-11-24 20:30"), ("3pm", "2026-11-24 15:00"), ("6:30 pm", "2026-11-24 18:30"),
    ("6:30 p.m.", "2026-11-24 18:30"), ("12am", "2026-11-24 00:00"), ("12pm", "2026-11-24 12:00"),
    ("11 AM", "2026-11-24 11:00"),
])  # fmt: skip
def test_a_time_alone_is_today(text: str, wall: str) -> None:
    assert read(text) == expected(wall)


@pytest.mark.parametrize(("text", "wall"), [
    ("2024-03-15", "2024-03-15"), ("2024/3/15", "2024-03-15"), ("2024.3.15", "2024-03-15"), ("3/15", "2027-03-15"),
    ("2024-03-15 18:00", "2024-03-15 18:00"), ("2024-03-15T18:00", "2024-03-15 18:00"),
    ("2024/03/15 18:00", "2024-03-15 18:00"), ("2024-03-15 6pm", "2024-03-15 18:00"),
    ("today", "2026-11-24"), ("Tomorrow", "2026-11-25"), ("tonight", "2026-11-24"), ("yesterday", "2026-11-23"),
    ("friday", "2026-11-27"), ("Fri", "2026-11-27"), ("this friday", "2026-11-27"), ("next friday", "2026-12-04"),
    ("next Monday", "2026-11-30"), ("last friday", "2026-11-20"),
    ("in 3 days", "2026-11-27"), ("in 2 weeks", "2026-12-08"), ("in a week", "2026-12-01"), ("in 1 month", "2026-12-24"),
    ("Mar 15", "2027-03-15"), ("Mar. 15, 2027", "2027-03-15"), ("March 15 6pm", "2027-03-15 18:00"),
    ("15 March 2024", "2024-03-15"), ("15th of March", "2027-03-15"), ("Sept 1", "2027-09-01"),
    ("tomorrow at 3pm", "2026-11-25 15:00"), ("6pm tomorrow", "2026-11-25 18:00"), ("3pm on friday", "2026-11-27 15:00"),
])  # fmt: skip
def test_numeric_and_english_dates(text: str, wall: str) -> None:
    assert read(text) == expected(wall)


@pytest.mark.parametrize(("text", "wall"), [
    ("3月15日前", "2027-03-15"), ("3月15日之前", "2027-03-15"), ("12月15日以前", "2026-12-15"),
    ("3月15日截止", "2027-03-15"), ("截止3月15日", "2027-03-15"), ("截至明天", "2026-11-25"),
    ("3月15日为止", "2027-03-15"), ("周五前", "2026-11-27"), ("明天18:00前", "2026-11-25 18:00"),
    ("by friday", "2026-11-27"), ("before Mar 15", "2027-03-15"), ("due tomorrow 6pm", "2026-11-25 18:00"),
])  # fmt: skip
def test_deadline_words_around_the_date_are_dropped(text: str, wall: str) -> None:
    assert read(text) == expected(wall)


@pytest.mark.parametrize(("text", "wall"), [
    ("３月１５日", "2027-03-15"), ("２０２６年３月１５日　１８：００", "2026-03-15 18:00"), ("  明天  ", "2026-11-25"),
    ("\u3000明天\u3000", "2026-11-25"), ("明天\t18:00\n", "2026-11-25 18:00"), ("明天  下午  3 点", "2026-11-25 15:00"),
    ("NEXT  FRIDAY", "2026-12-04"),
])  # fmt: skip
def test_full_width_characters_and_stray_spaces_are_tolerated(text: str, wall: str) -> None:
    assert read(text) == expected(wall)


def test_the_result_is_an_exact_utc_instant() -> None:
    assert read("3月15日") == ParsedWhen(datetime(2027, 3, 15, 15, 59, tzinfo=UTC), has_time=False)
    assert read("明天下午3点") == ParsedWhen(datetime(2026, 11, 25, 7, 0, tzinfo=UTC), has_time=True)


# ---------------------------------------------------------------- explicit offsets


@pytest.mark.parametrize(("text", "instant"), [
    ("2024-03-15T18:00+08:00", datetime(2024, 3, 15, 10, 0, tzinfo=UTC)),
    ("2024-03-15T18:00+00:00", datetime(2024, 3, 15, 18, 0, tzinfo=UTC)),
    ("2024-03-15T18:00Z", datetime(2024, 3, 15, 18, 0, tzinfo=UTC)),
    ("2024-03-15T18:00:30.5-05:00", datetime(2024, 3, 15, 23, 0, 30, tzinfo=UTC)),
    ("2024-03-15 18:00 +0800", datetime(2024, 3, 15, 10, 0, tzinfo=UTC)),
])  # fmt: skip
def test_a_given_offset_wins_over_the_group_zone(text: str, instant: datetime) -> None:
    assert read(text, zone=BERLIN) == ParsedWhen(instant, has_time=True)


def test_a_date_pickers_offset_does_not_move_the_picked_day() -> None:
    """Feishu's date picker sends "2026-11-27 +0800": the group (in Berlin) picked the 27th."""
    assert read("2026-11-27 +0800", zone=BERLIN) == expected("2026-11-27", BERLIN)


# ---------------------------------------------------------------- which year, which month, which week


@pytest.mark.parametrize(("text", "future", "nearest"), [
    ("1月3日", "2027-01-03", "2027-01-03"),
    ("12月20日", "2027-12-20", "2026-12-20"),
    ("12月30日", "2026-12-30", "2026-12-30"),
    ("12/20 10:00", "2027-12-20 10:00", "2026-12-20 10:00"),
    ("15号", "2027-01-15", "2026-12-15"),
    ("28号", "2027-01-28", "2026-12-28"),
])  # fmt: skip
def test_at_the_year_end_deadlines_roll_over_and_meetings_stay_near(text: str, future: str, nearest: str) -> None:
    assert read(text, now=YEAR_END) == expected(future)
    assert read(text, now=YEAR_END, prefer=Prefer.NEAREST) == expected(nearest)


@pytest.mark.parametrize(("text", "wall"), [
    ("3天后", "2027-01-02"), ("下周五", "2027-01-08"), ("下个月15号", "2027-01-15"), ("月底", "2026-12-31"),
    ("明天", "2026-12-31"), ("后天", "2027-01-01"),
])  # fmt: skip
def test_relative_days_cross_into_the_new_year(text: str, wall: str) -> None:
    assert read(text, now=YEAR_END) == expected(wall)


@pytest.mark.parametrize(("text", "wall"), [
    ("1个月后", "2026-02-28"), ("in 1 month", "2026-02-28"), ("月底", "2026-01-31"), ("下个月底", "2026-02-28"),
    ("31号", "2026-01-31"), ("30号", "2026-03-30"), ("1月31日", "2026-01-31"), ("1月30日", "2027-01-30"),
])  # fmt: skip
def test_at_the_month_end_short_months_are_respected(text: str, wall: str) -> None:
    """On 31 January: a month later is the last day of February, and 30号 skips February."""
    assert read(text, now=MONTH_END) == expected(wall)


@pytest.mark.parametrize(("text", "wall"), [
    ("下周五", "2026-12-04"), ("周五", "2026-12-04"), ("friday", "2026-12-04"), ("next friday", "2026-12-04"),
    ("本周五", "2026-11-27"), ("周日", "2026-11-29"), ("下周一", "2026-11-30"), ("下下周一", "2026-12-07"),
])  # fmt: skip
def test_on_a_sunday_next_week_starts_tomorrow(text: str, wall: str) -> None:
    """本周五 stays in the calendar week even when it has passed; a bare 周五 moves forward."""
    assert read(text, now=SUNDAY) == expected(wall)


@pytest.mark.parametrize(("text", "wall"), [
    ("11月20日 14:00", "2026-11-20 14:00"), ("3月15日", "2027-03-15"), ("6月1日", "2026-06-01"), ("2月29日", "2028-02-29"),
    ("15号", "2026-11-15"), ("周一", "2026-11-30"), ("2024年3月15日", "2024-03-15"),
])  # fmt: skip
def test_meeting_times_take_the_nearest_year(text: str, wall: str) -> None:
    """Weekday names look forward whatever the preference; 上周一 names a past one."""
    assert read(text, prefer=Prefer.NEAREST) == expected(wall)


def test_today_still_counts_as_the_future() -> None:
    assert read("11月24日") == expected("2026-11-24")
    assert read("11月23日") == expected("2027-11-23")
    assert read("2月29日") == expected("2028-02-29")


def test_today_is_the_day_in_the_group_zone_whatever_zone_now_is_in() -> None:
    late_utc_evening = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)  # already 04:00 on the 24th in Shanghai
    assert read("今天", now=late_utc_evening) == expected("2026-11-24")
    assert read("今天", now=late_utc_evening, zone=NEW_YORK) == expected("2026-11-23", NEW_YORK)


def test_a_date_alone_ends_at_the_groups_end_of_day() -> None:
    parsed = parse_when("明天", now=NOW, zone=SHANGHAI, end_of_day=time(18, 0))
    assert parsed == expected("2026-11-25", end_of_day=time(18, 0))


# ---------------------------------------------------------------- daylight saving


def test_berlin_across_the_spring_change() -> None:
    """Clocks go from 02:00 CET (UTC+1) to 03:00 CEST (UTC+2) on Sunday 29 March 2026."""
    friday = datetime(2026, 3, 27, 12, 0, tzinfo=BERLIN)
    assert read("明天 09:00", now=friday, zone=BERLIN).at == datetime(2026, 3, 28, 8, 0, tzinfo=UTC)
    assert read("后天 09:00", now=friday, zone=BERLIN).at == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)
    assert read("3月28日", now=friday, zone=BERLIN).at == datetime(2026, 3, 28, 22, 59, tzinfo=UTC)
    assert read("3月29日", now=friday, zone=BERLIN).at == datetime(2026, 3, 29, 21, 59, tzinfo=UTC)
    assert read("in 2 days", now=friday, zone=BERLIN).at == datetime(2026, 3, 29, 21, 59, tzinfo=UTC)
    # 02:30 does not exist that night; like the wall clock, it lands an hour later (03:30 CEST)
    assert read("2026-03-29 02:30", now=friday, zone=BERLIN).at == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


def test_new_york_across_the_autumn_change() -> None:
    """Clocks go from 02:00 EDT (UTC-4) back to 01:00 EST (UTC-5) on Sunday 1 November 2026."""
    saturday = datetime(2026, 10, 31, 12, 0, tzinfo=NEW_YORK)
    assert read("today 9am", now=saturday, zone=NEW_YORK).at == datetime(2026, 10, 31, 13, 0, tzinfo=UTC)
    assert read("tomorrow 9am", now=saturday, zone=NEW_YORK).at == datetime(2026, 11, 1, 14, 0, tzinfo=UTC)
    assert read("2026-11-02 09:00", zone=NEW_YORK).at == datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
    # 01:30 happens twice that night; the first one (EDT) is meant
    assert read("2026-11-01 01:30", zone=NEW_YORK).at == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)


# ---------------------------------------------------------------- what is refused

UNREADABLE = [
    "", "  ", "\u3000", "xyz", "5", "15", "2024", "下周", "本周", "周八", "下下下周八", "2月30日", "4月31日", "13月1日",
    "32号", "0号", "25:00", "24:00", "18:60", "晚上12点", "下午0点", "上午15点", "13pm", "0am", "at at 3pm", "尽快", "ASAP", "3天前", "前",
    "March", "Marchember 5", "next week", "in -3 days", "1/2/3", "15/3", "2026-02-30 10:00", "2026-13-01",
    "0001年1月1日", "9999-12-31", "2026-03-15T18:00+25:00", "2026-03-15T18:00+08:75", "昨天的后天", "明天明天",
    "3月15日 3月15日", "明天 后天", "a" * 500, "明" * 61, "\x00", "🙂",
]  # fmt: skip


@pytest.mark.parametrize("text", UNREADABLE)
def test_unreadable_input_is_refused(text: str) -> None:
    with pytest.raises(WhenParseError) as caught:
        parse_when(text, now=NOW, zone=SHANGHAI)
    assert caught.value.text == text


def test_the_refusal_tells_the_user_what_to_write_in_both_languages() -> None:
    error = WhenParseError("下周")
    assert error.message() == "无法识别的日期“下周”，请写成 3月15日、2026-03-15 18:00、明天、下周五 或 3天后。"
    assert error.message("zh-CN") == error.message()
    assert error.message("en") == (
        'Cannot read the date "下周" — write e.g. 2026-03-15, 2026-03-15 18:00, tomorrow, next Friday or in 3 days.'
    )


def test_a_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="aware") as caught:
        parse_when("明天", now=datetime(2026, 11, 24, 9, 0), zone=SHANGHAI)
    assert not isinstance(caught.value, WhenParseError)


# ---------------------------------------------------------------- never anything but a result or WhenParseError

JUNK = [
    "\n", "\t\t", "\u200b", "\u202e明天", "明天\u0301", "ﷺ" * 50, "１" * 100, "99999999999月1日", "in 99999999 days",
    "in 999 months", "99个月后", "9999年12月31日 23:59", "1970年1月1日", "2199-12-31 23:59", "2026-03-15T99:99+99:99",
    "2026-00-00", "2026--03-15", "3月", "月", "号", "点", ":", "::", "12:", ":30", "pm", "am am", "下午", "晚上晚上8点",
    "今晚今晚8点", "十十号", "一二号", "两十号", "零零点", "十十十点", "三十二号", "九十九天后", "周周五", "下下下下周一",
    "本月底底", "next next friday", "in a a days", "mar mar 15", "15 15 march", "at", "on", "by", "at at 3pm",
    "3pm at", "6pm,,, tomorrow", "2026-11-27 +0800 +0800", "3/15/2026", "2026/3/15/1", "1e9", "NaN", "None", "null",
    "-1", "0", "00:00", "23:59:59", "23:59:60", "𝟑月𝟏𝟓日", "③月⑮日", "٣/١٥", "३ मार्च", "\udcff", "'; DROP TABLE records; --",
]  # fmt: skip


def assert_a_result_or_a_refusal(text: str, *, now: datetime = NOW, zone: ZoneInfo = SHANGHAI) -> None:
    for prefer in Prefer:
        try:
            parsed = parse_when(text, now=now, zone=zone, prefer=prefer)
        except WhenParseError as error:
            assert error.message() and error.message("en")
        else:
            assert parsed.at.tzinfo is UTC and isinstance(parsed.has_time, bool)


@pytest.mark.parametrize("text", JUNK)
def test_junk_never_raises_anything_else(text: str) -> None:
    assert_a_result_or_a_refusal(text)


def test_many_random_strings_never_raise_anything_else() -> None:
    """Strings put together from pieces of real input, so that many of them get far into the parser."""
    pieces = [
        "3", "15", "31", "2026", "0", "99", "年", "月", "日", "号", "点", "半", "分", ":", "：", "/", "-", ".", "T", "+08:00",
        "Z", " ", "　", "下", "下下", "本", "上", "周", "星期", "礼拜", "五", "天", "后", "内", "前", "个", "十", "两", "三",
        "今晚", "明天", "大后天", "下午", "中午", "晚上", "上午", "am", "pm", "in", "a", "days", "weeks", "month", "next",
        "friday", "mar", "march", "th", "of", ",", "at", "by", "截止", "月底", "３", "🙂", "\x00", "é",
    ]  # fmt: skip
    rng = random.Random(20261124)
    zones = [SHANGHAI, BERLIN, NEW_YORK, ZoneInfo("Pacific/Kiritimati"), ZoneInfo("Etc/GMT+12")]
    for _ in range(4000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 6)))
        assert_a_result_or_a_refusal(text, zone=rng.choice(zones))


def test_every_month_and_day_either_lands_within_a_year_or_is_refused() -> None:
    """Under FUTURE the day is never before today nor more than a year ahead; under NEAREST it is
    at most half a year away. 2月29日 is the exception: it waits for a leap year."""
    today = NOW.date()
    for month in range(0, 14):
        for day in range(0, 33):
            text = f"{month}月{day}日"
            try:
                real = date(2028, month, day)  # a leap year: every day that ever exists
            except ValueError:
                with pytest.raises(WhenParseError):
                    parse_when(text, now=NOW, zone=SHANGHAI)
                continue
            future = read(text).at.astimezone(SHANGHAI).date()
            nearest = read(text, prefer=Prefer.NEAREST).at.astimezone(SHANGHAI).date()
            assert (future.month, future.day) == (nearest.month, nearest.day) == (real.month, real.day)
            if (month, day) != (2, 29):
                assert today <= future < today + timedelta(days=366)
                assert abs((nearest - today).days) <= 183


def test_surrounding_space_never_changes_the_result() -> None:
    rng = random.Random(7)
    for text in ["3月15日", "明天下午3点", "下周五", "2024-03-15T18:00", "in 3 days", "6:30 pm", "15号", "月底"]:
        padding = "".join(rng.choice([" ", "\u3000", "\t"]) for _ in range(3))
        assert read(padding + text + padding) == read(text)
