"""What people type for a deadline or a meeting time, read in the group's zone.

Chinese forms (3月15日前, 2024年3月15日 18:00, 明天下午3点, 下周五, 3天后, 月底)
and numeric/English ones (2026-03-15 18:00, 3/15, tomorrow, next friday, in 3
days, Mar 15 6pm). A date without a time means the end of that day. The result
is an aware UTC instant; anything unreadable raises ``WhenParseError`` with a
message in both languages.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from dateutil import parser as dateutil_parser
from dateutil.relativedelta import relativedelta


class Prefer(StrEnum):
    FUTURE = "future"  # deadlines: 3月15日 already past this year means next year
    NEAREST = "nearest"  # meeting times: whichever year puts the date nearest today


@dataclass(frozen=True)
class ParsedWhen:
    at: datetime
    has_time: bool


class WhenParseError(ValueError):
    def __init__(self, text: str) -> None:
        super().__init__(f"cannot read the date {text!r}")
        self.text = text

    def message(self, lang: str = "zh-CN") -> str:
        if lang == "en":
            return (f'Cannot read the date "{self.text}" — write e.g. 2026-03-15, 2026-03-15 18:00, tomorrow, '
                    "next Friday or in 3 days.")  # fmt: skip
        return f"无法识别的日期“{self.text}”，请写成 3月15日、2026-03-15 18:00、明天、下周五 或 3天后。"


DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "1": 0, "2": 1, "3": 2, "4": 3,
            "5": 4, "6": 5, "7": 6}  # fmt: skip
EN_WEEKDAYS = {
    name: i for i, name in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))
}
RELATIVE_DAYS = {"今天": 0, "今日": 0, "今晚": 0, "明天": 1, "明日": 1, "明晚": 1, "后天": 2, "大后天": 3,
                 "today": 0, "tonight": 0, "tomorrow": 1}  # fmt: skip
NUMBER = r"(\d{1,2}|[零〇一二两三四五六七八九十]{1,3})"


def cn_number(text: str) -> int:
    """'15', '十五', '二十', '三十一', '两' → int."""
    if text.isdigit():
        return int(text)
    if "十" in text:
        tens, _, ones = text.partition("十")
        return (DIGITS[tens] if tens else 1) * 10 + (DIGITS[ones] if ones else 0)
    return DIGITS[text]


def _clock(text: str) -> tuple[time | None, str]:
    """Take a time of day off the end of ``text``; returns (time or None, what is left)."""
    patterns = [
        rf"(?P<part>上午|早上|中午|下午|晚上|傍晚|今晚|明晚)?\s*(?P<h>{NUMBER})\s*[点时]\s*(?:(?P<half>半)|(?P<m>\d{{1,2}})\s*分?)?$",
        r"(?P<h>\d{1,2})\s*:\s*(?P<m>\d{2})\s*(?P<ampm>am|pm)?$",
        r"(?P<h>\d{1,2})\s*(?P<ampm>am|pm)$",
    ]
    for pattern in patterns:
        match = re.search(pattern, text, re.I)
        if not match:
            continue
        groups = match.groupdict()
        hour = cn_number(groups["h"])
        minute = 30 if groups.get("half") else int(groups.get("m") or 0)
        part, ampm = groups.get("part"), (groups.get("ampm") or "").lower()
        if (part in ("下午", "晚上", "傍晚", "今晚", "明晚") or ampm == "pm") and hour < 12:
            hour += 12
        if ampm == "am" and hour == 12:
            hour = 0
        if hour > 23 or minute > 59:
            raise ValueError("no such time")
        rest = text[: match.start()]
        if part in ("今晚", "明晚"):
            rest += part
        return time(hour, minute), rest.strip()
    return None, text


def _month_day(year: int | None, month: int, day: int, today: date, prefer: Prefer) -> date:
    if year is not None:
        return date(year, month, day)
    candidates = []
    for offset in (-1, 0, 1):
        try:
            candidates.append(date(today.year + offset, month, day))
        except ValueError:
            continue
    if not candidates:
        raise ValueError("no such date")
    if prefer is Prefer.FUTURE:
        return (
            next(d for d in sorted(candidates) if d >= today) if any(d >= today for d in candidates) else candidates[-1]
        )
    return min(candidates, key=lambda d: abs((d - today).days))


def _day(text: str, today: date, prefer: Prefer) -> date | None:
    """The calendar day in ``text`` (no time part), or None when ``text`` is empty."""
    text = re.sub(r"(之前|以前|前|截止|为止)$", "", text).strip()
    if not text:
        return None
    lower = text.lower()
    if lower in RELATIVE_DAYS or text in RELATIVE_DAYS:
        return today + timedelta(days=RELATIVE_DAYS.get(text, RELATIVE_DAYS.get(lower, 0)))
    if text in ("月底", "本月底"):
        return today.replace(day=calendar.monthrange(today.year, today.month)[1])
    match = re.fullmatch(rf"{NUMBER}\s*(天|日|周|星期|个月|月)(后|之后|以后)", text)
    if match:
        amount, unit = cn_number(match.group(1)), match.group(2)
        if unit in ("天", "日"):
            return today + timedelta(days=amount)
        if unit in ("周", "星期"):
            return today + timedelta(weeks=amount)
        return today + relativedelta(months=amount)
    match = re.fullmatch(r"in\s+(\d{1,3})\s+(day|days|week|weeks|month|months)", lower)
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        return today + (relativedelta(months=amount) if unit.startswith("month") else
                        timedelta(days=amount * (7 if unit.startswith("week") else 1)))  # fmt: skip
    match = re.fullmatch(r"(本|这|下下|下)?(?:周|星期|礼拜)([一二三四五六日天1-7])", text)
    if match:
        weekday = WEEKDAYS[match.group(2)]
        monday = today - timedelta(days=today.weekday())
        weeks = {"下": 1, "下下": 2}.get(match.group(1) or "", 0)
        if match.group(1) in ("下", "下下", "本", "这"):
            return monday + timedelta(weeks=weeks, days=weekday)
        return today + timedelta(days=(weekday - today.weekday()) % 7)
    match = re.fullmatch(r"(next\s+)?(monday|tuesday|wednesday|thursday|friday|saturday|sunday)", lower)
    if match:
        weekday = EN_WEEKDAYS[match.group(2)]
        if match.group(1):
            return today - timedelta(days=today.weekday()) + timedelta(weeks=1, days=weekday)
        return today + timedelta(days=(weekday - today.weekday()) % 7)
    match = re.fullmatch(rf"(?:(\d{{4}})\s*年\s*)?(?:{NUMBER}\s*月\s*)?{NUMBER}\s*[日号]", text)
    if match:
        year = int(match.group(1)) if match.group(1) else None
        day = cn_number(match.group(3))
        if match.group(2) is None:  # 15号: this month, or next under FUTURE when passed
            candidate = date(today.year, today.month, day)
            if prefer is Prefer.FUTURE and candidate < today:
                candidate = date(today.year, today.month, 1) + relativedelta(months=1, day=day)
                if candidate.day != day:
                    raise ValueError("no such date")
            return candidate
        return _month_day(year, cn_number(match.group(2)), day, today, prefer)
    match = re.fullmatch(rf"下个?月\s*{NUMBER}\s*[日号]", text)
    if match:
        first = date(today.year, today.month, 1) + relativedelta(months=1)
        return first.replace(day=cn_number(match.group(1)))
    match = re.fullmatch(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})", text)
    if match:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    match = re.fullmatch(r"(\d{1,2})/(\d{1,2})", text)
    if match:
        return _month_day(None, int(match.group(1)), int(match.group(2)), today, prefer)
    return _english(text, today, prefer)


def _english(text: str, today: date, prefer: Prefer) -> date | None:
    """'Mar 15', 'March 15 2027', '15 March 2024' — only with a month name, never a bare number."""
    if not re.search(r"[A-Za-z]{3,}", text) or re.search(r"[^\x00-\x7f]", text):
        raise ValueError("not a date")
    try:
        parsed = dateutil_parser.parse(text, default=datetime(1, 1, 1), fuzzy=False)  # noqa: DTZ001
    except (ValueError, OverflowError):
        raise ValueError("not a date") from None
    has_year = re.search(r"\b\d{4}\b", text) is not None
    return _month_day(parsed.year if has_year else None, parsed.month, parsed.day, today, prefer)


def parse_when(
    text: str, *, now: datetime, zone: ZoneInfo, end_of_day: time = time(23, 59), prefer: Prefer = Prefer.FUTURE
) -> ParsedWhen:
    original = text
    cleaned = unicodedata.normalize("NFKC", text or "").replace("\u3000", " ").strip()
    if not cleaned or len(cleaned) > 60:
        raise WhenParseError(original)
    # a date picker's value ("2026-11-27 +0800", Feishu): the date, read in the group's zone
    cleaned = re.sub(r"^(\d{4}-\d{1,2}-\d{1,2})\s+[+-]\d{2}:?\d{2}$", r"\1", cleaned)
    try:
        iso = _iso(cleaned, zone)
        if iso is not None:
            return iso
        today = now.astimezone(zone).date()
        clock, rest = _clock(cleaned)
        rest = re.sub(r"\s*(at)$", "", rest, flags=re.I).strip().rstrip(",")
        day = _day(rest, today, prefer)
        if day is None and clock is None:
            raise ValueError("empty")
        local = datetime.combine(day or today, clock or end_of_day, tzinfo=zone)
        return ParsedWhen(local.astimezone(UTC), clock is not None)
    except (ValueError, KeyError, OverflowError):
        raise WhenParseError(original) from None


def _iso(text: str, zone: ZoneInfo) -> ParsedWhen | None:
    """2026-03-15 18:00, 2026-03-15T18:00, with an optional offset (honoured)."""
    match = re.fullmatch(
        r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})[ T]+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*(Z|[+-]\d{2}:?\d{2})?", text
    )
    if not match:
        return None
    year, month, day, hour, minute = (int(match.group(i)) for i in range(1, 6))
    offset = match.group(7)
    if offset:
        parsed = datetime.fromisoformat(
            f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}{offset.replace('Z', '+00:00')}"
        )
        return ParsedWhen(parsed.astimezone(UTC), True)
    return ParsedWhen(datetime(year, month, day, hour, minute, tzinfo=zone).astimezone(UTC), True)
