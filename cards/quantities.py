"""Numbers people type: a percent, read the same way in a command and in a form.

``60%``, ``60％``, ``（60%）``, ``(60 %)``, ``百分之六十``, and in a form a bare ``60``
or ``60.0`` (a number field) are all 60. Out of 0–100, or not a whole percent
(``60.5%``), is an error; anything that is no percent at all is ``None``.
"""

from __future__ import annotations

import re

FULL_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
BRACKETS = "()[]【】（）"
PERCENT = re.compile(r"([+-]?[0-9]+(?:\.[0-9]*)?)\s*%|百分之(.+)")
NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]*)?")
CHINESE_DIGITS = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"两": 2}


class PercentError(ValueError):
    """Looks like a percent, but is not a whole one from 0 to 100."""

    def __init__(self, token: str) -> None:
        super().__init__(f"not a whole percent from 0 to 100: {token!r}")
        self.token = token


def read_percent(token: str, *, bare_number: bool = False) -> int | None:
    """The percent in ``token`` (surrounding brackets allowed), ``None`` if it is none.

    ``bare_number``: a plain number counts too (a form's percent field).
    """
    text = token.translate(FULL_WIDTH).strip().strip(BRACKETS).strip()
    match = PERCENT.fullmatch(text)
    if match:
        number = match.group(1) or match.group(2)
    elif bare_number and NUMBER.fullmatch(text):
        number = text
    else:
        return None
    value = _whole(number)
    if value is None or not 0 <= value <= 100:
        raise PercentError(token)
    return value


def _whole(number: str) -> int | None:
    if NUMBER.fullmatch(number):
        value = float(number)
        return int(value) if value.is_integer() and abs(value) < 10_000 else None
    return chinese_number(number)


def chinese_number(text: str) -> int | None:
    if text in ("百", "一百"):
        return 100
    tens, ten, ones = text.partition("十")
    if not ten:
        return CHINESE_DIGITS.get(text)
    high = CHINESE_DIGITS.get(tens) if tens else 1
    low = CHINESE_DIGITS.get(ones) if ones else 0
    return None if high is None or low is None else high * 10 + low
