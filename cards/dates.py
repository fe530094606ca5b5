"""What people type for a deadline or a meeting time, read in the group's zone.

Chinese forms (3月15日前, 2024年3月15日 18:00, 明天下午3点, 下周五, 3天后, 月底)
and numeric/English ones (2026-03-15 18:00, 3/15, tomorrow, next friday, in 3
days, Mar 15 6pm). A date without a time means ``end_of_day`` of that day in the
group's zone; the result is always an aware UTC instant. Anything unreadable
raises ``WhenParseError``, which carries the message for the user in both
languages. The parser is pure: "now" is passed in.

Reading goes in three steps: fold the text (full-width digits, deadline words
such as 截止/前/by), take a time of day off its end or start, then read what is
left as a calendar day with the first rule in ``DAY_RULES`` that matches all of
it. Deliberate choices:

- a bare number ("5", "15") is refused: it could be a day, an hour or a count;
  "15号" and "5点" say which;
- "3点" is 03:00 — only 下午/晚上/pm move an hour past noon; "晚上12点" is refused
  (which midnight?) and so is an hour that does not fit its part (上午15点, 13pm);
- weekday names always look forward ("周五" is the next Friday on or after today);
  "本周五"/"上周五"/"下周五" name a calendar week, weeks starting on Monday;
- month names are read from a small table rather than dateutil, whose fill-in
  from a default date turns "March" into 1 March and "5" into the 5th;
- a year is four digits between 1970 and 2199.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from enum import StrEnum
from unicodedata import normalize
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta


class Prefer(StrEnum):
    FUTURE = "future"  # deadlines: 3月15日 already past this year means next year
    NEAREST = "nearest"  # meeting times: whichever year puts the date nearest today


@dataclass(frozen=True)
class ParsedWhen:
    at: datetime  # aware, tzinfo=UTC
    has_time: bool  # False when only a date was given: `at` is then that day's end_of_day in the group's zone


class WhenParseError(ValueError):
    def __init__(self, text: str) -> None:
        super().__init__(f"cannot read the date {text!r}")
        self.text = text

    def message(self, lang: str = "zh-CN") -> str:
        if lang == "en":
            return (f'Cannot read the date "{self.text}" — write e.g. 2026-03-15, 2026-03-15 18:00, tomorrow, '
                    "next Friday or in 3 days.")  # fmt: skip
        return f"无法识别的日期“{self.text}”，请写成 3月15日、2026-03-15 18:00、明天、下周五 或 3天后。"


# ---------------------------------------------------------------- vocabulary

MAX_LENGTH = 60
YEARS = range(1970, 2200)
CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
NUMBER = r"(?:\d{1,2}|[零〇一二两三四五六七八九十]{1,3})"
CN_NUMERAL = re.compile(r"(?:(?P<tens>[二三四五六七八九])?(?P<ten>十))?(?P<ones>[零〇一二两三四五六七八九])?")
YEAR = r"(?P<year>\d{4})"

RELATIVE_DAYS = {"前天": -2, "昨天": -1, "昨日": -1, "今天": 0, "今日": 0, "今早": 0, "今晚": 0, "明天": 1, "明日": 1,
                 "明早": 1, "明晚": 1, "后天": 2, "大后天": 3, "yesterday": -1, "today": 0, "tonight": 0, "tomorrow": 1}  # fmt: skip
WEEK_SHIFTS = {"本": 0, "这": 0, "这个": 0, "上": -1, "上个": -1, "上上": -2, "上上个": -2, "下": 1, "下个": 1, "下下": 2,
               "下下个": 2, "this": 0, "last": -1, "next": 1}  # fmt: skip
MONTH_SHIFTS = {"本": 0, "这": 0, "这个": 0, "上": -1, "上个": -1, "下": 1, "下个": 1}
CN_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6,
               "1": 0, "2": 1, "3": 2, "4": 3, "5": 4, "6": 5, "7": 6}  # fmt: skip
EN_WEEKDAYS = {"monday": 0, "mon": 0, "tuesday": 1, "tues": 1, "tue": 1, "wednesday": 2, "wed": 2, "thursday": 3,
               "thurs": 3, "thur": 3, "thu": 3, "friday": 4, "fri": 4, "saturday": 5, "sat": 5, "sunday": 6, "sun": 6}  # fmt: skip
EN_MONTHS = {"january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4, "apr": 4, "may": 5,
             "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8, "september": 9, "sept": 9, "sep": 9,
             "october": 10, "oct": 10, "november": 11, "nov": 11, "december": 12, "dec": 12}  # fmt: skip
WEEKDAYS = CN_WEEKDAYS | EN_WEEKDAYS
UNIT_DAYS = {"天": 1, "日": 1, "周": 7, "星期": 7, "礼拜": 7, "day": 1, "week": 7}  # anything else counts months


class DayPart(StrEnum):
    """What a word before or after the hour does to it (下午3点 → 15:00)."""

    MORNING = "morning"  # 上午15点 is refused
    NOON = "noon"  # 中午1点 → 13:00, 中午11点 → 11:00
    AFTERNOON = "afternoon"  # 下午3点 → 15:00, 下午12点 → 12:00
    NIGHT = "night"  # 晚上8点 → 20:00, 晚上12点 is refused
    AM = "am"  # 1–12 only; 12am → 00:00
    PM = "pm"  # 1–12 only; 12pm → 12:00


DAY_PART_WORDS = {
    DayPart.MORNING: ("凌晨", "早上", "早晨", "早", "上午", "今早", "明早"),
    DayPart.NOON: ("中午",),
    DayPart.AFTERNOON: ("下午", "傍晚"),
    DayPart.NIGHT: ("晚上", "夜里", "晚", "今晚", "明晚"),
    DayPart.AM: ("am", "a.m."),
    DayPart.PM: ("pm", "p.m."),
}
DAY_PARTS = {word: part for part, words in DAY_PART_WORDS.items() for word in words}


def _alternatives(words: Iterable[str]) -> str:
    """A regex alternation, longest word first so that 大后天 wins over 后天."""
    return "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True))


CN_WEEK_SHIFT = _alternatives(word for word in WEEK_SHIFTS if not word.isascii())
CN_PART = rf"(?P<part>{_alternatives(w for w in DAY_PARTS if not w.isascii())})?\s*"
EN_PART = rf"\s*(?P<suffix>{_alternatives(w for w in DAY_PARTS if w.isascii())})"
CLOCK_FORMS = (
    rf"{CN_PART}(?P<hour>{NUMBER})\s*[点點时時]钟?\s*(?:(?P<half>半)|整|(?P<minute>{NUMBER})\s*分?)?",  # 下午3点半
    rf"{CN_PART}(?P<hour>\d{{1,2}}):(?P<minute>\d{{2}})(?::(?P<second>\d{{2}}))?(?:{EN_PART})?",  # 18:00, 6:30 pm
    rf"(?P<hour>\d{{1,2}}){EN_PART}",  # 3pm
)
CLOCKS = [(re.compile(rf"(?:{form})\Z"), re.compile(rf"\A(?:{form})\s*")) for form in CLOCK_FORMS]

EXPLICIT_INSTANT = re.compile(
    r"(?P<date>\d{4}-\d{1,2}-\d{1,2})[t ]\s*(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.\d{1,6})?)?"
    r"\s*(?P<offset>z|[+-]\d{2}:?\d{2})"
)
# A platform's date picker may send "2026-11-27 +0800": the day is what was picked, read in the group's zone
PICKER_DATE = re.compile(r"(?P<date>\d{4}-\d{1,2}-\d{1,2})\s*[+-]\d{2}:?\d{2}")
DEADLINE_PREFIX = re.compile(r"\A(?:截止到|截止|截至|到|于|在|(?:due|by|before|until|on)\b)\s*")
DEADLINE_SUFFIX = re.compile(r"\s*(?:之前|以前|前|截止|为止)\Z")
SEAM = re.compile(r"\A[\s,]*(?:(?:at|on)\s+)?(?P<day>.*?)(?:\s+at)?[\s,]*\Z", re.DOTALL)  # tomorrow at 3pm, 3pm, friday


# ---------------------------------------------------------------- the entry point


def parse_when(
    text: str, *, now: datetime, zone: ZoneInfo, end_of_day: time = time(23, 59), prefer: Prefer = Prefer.FUTURE
) -> ParsedWhen:
    """Read ``text`` in ``zone`` as seen at ``now``; raises WhenParseError for anything it cannot read."""
    if now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    try:
        folded = _fold(text)
        instant = _explicit_instant(folded)
        if instant is not None:
            return ParsedWhen(instant.astimezone(UTC), has_time=True)
        today = now.astimezone(zone).date()
        clock, rest = _take_clock(folded)
        day = _read_day(rest, today, prefer) if rest else None
        if day is None and clock is None:
            raise ValueError("nothing to read")
        local = datetime.combine(day or today, clock or end_of_day, tzinfo=zone)
        return ParsedWhen(local.astimezone(UTC), has_time=clock is not None)
    except (ValueError, OverflowError):
        raise WhenParseError(text) from None


def _fold(text: str) -> str:
    """One spelling for many: NFKC turns ３月１５日 and 18：00 into ASCII digits and colons and the
    full-width space into a space; lower case; single spaces; the deadline words around the date dropped."""
    if len(text) > 2 * MAX_LENGTH:  # before NFKC, which can make a string many times longer
        raise ValueError("too long")
    folded = " ".join(normalize("NFKC", text).lower().split())
    if len(folded) > MAX_LENGTH:
        raise ValueError("too long")
    folded = DEADLINE_SUFFIX.sub("", DEADLINE_PREFIX.sub("", folded))
    picked = PICKER_DATE.fullmatch(folded)
    if picked is not None:
        folded = picked["date"]
    return re.sub(r"(?<=\d)t(?=\d)", " ", folded)  # 2026-03-15t18:00


def _explicit_instant(text: str) -> datetime | None:
    """2026-03-15T18:00+08:00 names its own offset, which wins over the group's zone."""
    match = EXPLICIT_INSTANT.fullmatch(text)
    if match is None:
        return None
    year, month, day = (int(part) for part in match["date"].split("-"))
    sign, digits = match["offset"][0], match["offset"][1:].replace(":", "")
    if sign != "z" and int(digits[2:]) > 59:
        raise ValueError("no such offset")
    offset = timedelta() if sign == "z" else timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    zone = timezone(-offset if sign == "-" else offset)
    clock = (int(match["hour"]), int(match["minute"]), int(match["second"] or 0))
    return datetime(_year(year), month, day, *clock, tzinfo=zone)


# ---------------------------------------------------------------- time of day


def _take_clock(text: str) -> tuple[time | None, str]:
    """Take a time of day off the end (明天下午3点) or the start (6pm tomorrow); returns it and what is left.

    今晚/明早 name a day as well as a part of it, so they stay in what is left."""
    for at_end, at_start in CLOCKS:
        match = at_end.search(text) or at_start.match(text)
        if match is None:
            continue
        found = match.groupdict()
        word = found.get("suffix") or found.get("part")
        minute = 30 if found.get("half") else _number(found["minute"]) if found.get("minute") else 0
        clock = _clock(_number(found["hour"]), minute, int(found.get("second") or 0), DAY_PARTS.get(word or ""))
        kept_day = found["part"] if found.get("part") in RELATIVE_DAYS else ""
        rest = text[: match.start()] + kept_day + text[match.end() :]
        return clock, SEAM.sub(r"\g<day>", rest, count=1)
    return None, text


def _clock(hour: int, minute: int, second: int, part: DayPart | None) -> time:
    if part in (DayPart.AM, DayPart.PM):
        if not 1 <= hour <= 12:
            raise ValueError("not a 12-hour time")
        hour = hour % 12 + (12 if part is DayPart.PM else 0)
    elif part is DayPart.MORNING and hour > 12:
        raise ValueError("not a morning hour")
    elif part is DayPart.NIGHT and hour == 12:
        raise ValueError("晚上12点: which midnight?")
    elif part in (DayPart.NOON, DayPart.AFTERNOON, DayPart.NIGHT) and hour == 0:
        raise ValueError("下午0点")
    elif (part is DayPart.NOON and hour <= 5) or (part in (DayPart.AFTERNOON, DayPart.NIGHT) and hour < 12):
        hour += 12
    return time(hour, minute, second)  # ValueError for 25:00 or 18:60


# ---------------------------------------------------------------- the calendar day

DayRule = Callable[[dict[str, str], date, Prefer], date]


def _relative_day(found: dict[str, str], today: date, prefer: Prefer) -> date:
    return today + timedelta(days=RELATIVE_DAYS[found["word"]])


def _after(found: dict[str, str], today: date, prefer: Prefer) -> date:
    """3天后 / in 2 weeks / 1个月后; a month later than 31 January is the last day of February."""
    amount = 1 if found["amount"] in ("a", "an") else _number(found["amount"])
    if found["unit"] in UNIT_DAYS:
        return today + timedelta(days=amount * UNIT_DAYS[found["unit"]])
    return today + relativedelta(months=amount)


def _weekday(found: dict[str, str], today: date, prefer: Prefer) -> date:
    weekday = WEEKDAYS[found["day"]]
    if found["shift"] is None:
        return today + timedelta(days=(weekday - today.weekday()) % 7)
    monday = today - timedelta(days=today.weekday())
    return monday + timedelta(weeks=WEEK_SHIFTS[found["shift"]], days=weekday)


def _month_end(found: dict[str, str], today: date, prefer: Prefer) -> date:
    first = today.replace(day=1) + relativedelta(months=MONTH_SHIFTS.get(found["shift"] or "", 0))
    return first.replace(day=calendar.monthrange(first.year, first.month)[1])


def _day_of_month(found: dict[str, str], today: date, prefer: Prefer) -> date:
    """15号: this month's 15th, moved by the preference; 下个月15号 / 本月15号: that month's, as said."""
    day, first = _number(found["day"]), today.replace(day=1)
    if found["shift"] is not None:
        month = first + relativedelta(months=MONTH_SHIFTS[found["shift"]])
        return month.replace(day=day)
    months = (first + relativedelta(months=shift) for shift in (-1, 0, 1, 2))
    return _pick(((m.year, m.month, day) for m in months), today, prefer)


def _month_day(found: dict[str, str], today: date, prefer: Prefer) -> date:
    """3月15日, 2024年3月15日, 3/15, Mar 15, 15 March 2024. Without a year the preference picks one;
    the search runs eight years out so that 2月29日 finds the next leap year."""
    month = EN_MONTHS.get(found["month"]) or _number(found["month"])
    day = _number(found["day"])
    if found.get("year"):
        return date(_year(int(found["year"])), month, day)
    return _pick(((today.year + shift, month, day) for shift in range(-8, 9)), today, prefer)


DAY_RULE_FORMS: list[tuple[str, DayRule]] = [
    (rf"(?P<word>{_alternatives(RELATIVE_DAYS)})", _relative_day),
    (rf"(?P<shift>{_alternatives(MONTH_SHIFTS)})?月底", _month_end),
    (rf"(?P<amount>{NUMBER})\s*个?\s*(?P<unit>天|日|周|星期|礼拜|月)\s*(?:之后|以后|后|之内|以内|内)", _after),
    (r"in\s+(?P<amount>\d{1,3}|an?)\s+(?P<unit>day|week|month)s?", _after),
    (rf"(?P<shift>{CN_WEEK_SHIFT})?\s*(?:周|星期|礼拜)\s*(?P<day>[一二三四五六日天1-7])", _weekday),
    (rf"(?:(?P<shift>this|next|last)\s+)?(?P<day>{_alternatives(EN_WEEKDAYS)})", _weekday),
    (rf"(?:{YEAR}\s*年\s*)?(?P<month>{NUMBER})\s*月\s*(?P<day>{NUMBER})\s*[日号]?", _month_day),
    (rf"(?:(?P<shift>{_alternatives(MONTH_SHIFTS)})\s*月\s*)?(?P<day>{NUMBER})\s*[日号]", _day_of_month),
    (rf"{YEAR}\s*(?P<sep>[-/.])\s*(?P<month>\d{{1,2}})\s*(?P=sep)\s*(?P<day>\d{{1,2}})", _month_day),
    (r"(?P<month>\d{1,2})/(?P<day>\d{1,2})", _month_day),
    (rf"(?P<month>{_alternatives(EN_MONTHS)})\.?\s*(?P<day>\d{{1,2}})(?:st|nd|rd|th)?(?:\s*,?\s*{YEAR})?", _month_day),
    (rf"(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\s*(?:of\s+)?(?P<month>{_alternatives(EN_MONTHS)})\.?(?:\s*,?\s*{YEAR})?",
     _month_day),
]  # fmt: skip
DAY_RULES = [(re.compile(pattern), rule) for pattern, rule in DAY_RULE_FORMS]


def _read_day(text: str, today: date, prefer: Prefer) -> date:
    for pattern, rule in DAY_RULES:
        match = pattern.fullmatch(text)
        if match is not None:
            return rule(match.groupdict(), today, prefer)
    raise ValueError("no rule reads this day")


# ---------------------------------------------------------------- small helpers


def _pick(candidates: Iterable[tuple[int, int, int]], today: date, prefer: Prefer) -> date:
    """Of the (year, month, day) candidates that are real dates: under FUTURE the first on or after
    today, under NEAREST the one nearest today (a tie goes to the future one)."""
    dates = []
    for year, month, day in candidates:
        try:
            dates.append(date(year, month, day))
        except ValueError:
            continue
    if prefer is Prefer.FUTURE:
        dates = [d for d in dates if d >= today]
    if not dates:
        raise ValueError("no such date")
    return min(dates, key=lambda d: (abs((d - today).days), d < today))


def _number(text: str) -> int:
    """'15', '十五', '二十', '三十一', '两' → int (Chinese numerals up to 99)."""
    if text.isdigit():
        return int(text)
    match = CN_NUMERAL.fullmatch(text)
    if match is None or not (match["ten"] or match["ones"]):
        raise ValueError(f"not a number: {text!r}")
    tens = (CN_DIGITS[match["tens"]] if match["tens"] else 1) if match["ten"] else 0
    return tens * 10 + (CN_DIGITS[match["ones"]] if match["ones"] else 0)


def _year(year: int) -> int:
    if year not in YEARS:
        raise ValueError(f"year {year} is out of range")
    return year


def split_when(
    text: str, *, now: datetime, zone: ZoneInfo, prefer: Prefer = Prefer.FUTURE, most_words: int = 4
) -> tuple[ParsedWhen, str]:
    """A date at the start of ``text`` and what follows it: ``改期 R12-2 12月4日 18:00 等供应商到货``.

    The longest run of leading words (at most ``most_words``) that reads as a
    date wins, so ``2026-03-15 18:00 原因`` keeps its time; the rest, as typed, is
    returned (a reason, say). Raises ``WhenParseError`` when no leading words read as a date.
    """
    spans = [match.span() for match in re.finditer(r"\S+", text)]
    for count in range(min(most_words, len(spans)), 0, -1):
        head = text[spans[0][0] : spans[count - 1][1]]
        try:
            when = parse_when(head, now=now, zone=zone, prefer=prefer)
        except WhenParseError:
            continue
        rest = text[spans[count][0] :] if count < len(spans) else ""
        return when, rest.strip()
    raise WhenParseError(text[spans[0][0] : spans[0][1]] if spans else text)
