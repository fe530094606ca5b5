"""The review's chart as a PNG: problem types over the last months, and each department's on-time rate.

Drawn with matplotlib's Agg renderer (no display, no system fonts needed). Chinese
text is set in Noto Sans SC, which comes with the ``pylopdf-fonts-zh-cn`` package
(SIL Open Font License) — a project dependency — so a fresh machine renders 资源冲突,
not empty boxes, after ``pip install``.
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import pylopdf_fonts_zh_cn

from cards.markup import to_plain
from cards.templates import CATALOG, category_text
from storage.review import Review

if TYPE_CHECKING:  # matplotlib is imported when a chart is drawn: a fifth of the bot's start-up otherwise
    from matplotlib.axes import Axes
    from matplotlib.font_manager import FontProperties

TREND_SHOWN = 6  # months on the chart
TOP_CATEGORIES = 6  # the rest would be unreadable; the card lists them all
TOP_DEPARTMENTS = 10
COLOURS = ("#2563eb", "#16a34a", "#d97706", "#dc2626", "#7c3aed", "#0891b2")


def t(key: str, lang: str, /, **params: object) -> str:
    return CATALOG.text(key, lang, **params)


def font_path() -> Path:
    """Noto Sans SC, from the project's own dependencies."""
    return Path(pylopdf_fonts_zh_cn.sans_path())


@lru_cache(maxsize=4)
def _font(size: float) -> FontProperties:
    from matplotlib.font_manager import FontProperties

    return FontProperties(fname=str(font_path()), size=size)


def review_chart(review: Review, *, lang: str) -> bytes:
    """A 1000×420 px PNG: grouped bars of records per type and month, bars of on-time rate per department."""
    from matplotlib.figure import Figure  # a bare Figure draws with Agg; pyplot (and a display) is never involved

    figure = Figure(figsize=(10, 4.2), dpi=100)
    left, right = figure.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    _categories(left, review, lang)
    _departments(right, review, lang)
    figure.suptitle(t("review.chart_title", lang, year=review.month.year, month=review.month.month),
                    fontproperties=_font(14))  # fmt: skip
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _categories(axes: Axes, review: Review, lang: str) -> None:
    months = review.months[-TREND_SHOWN:]
    shown = [c for c in review.categories if sum(c.counts[-TREND_SHOWN:])][:TOP_CATEGORIES]
    axes.set_title(t("review.chart_categories", lang, months=len(months)), fontproperties=_font(11))
    if not shown:
        _empty(axes, lang)
        return
    width = 0.8 / len(shown)
    for index, trend in enumerate(shown):
        positions = [m + (index - (len(shown) - 1) / 2) * width for m in range(len(months))]
        axes.bar(positions, trend.counts[-TREND_SHOWN:], width, label=to_plain(category_text(trend.category, lang)),
                 color=COLOURS[index % len(COLOURS)])  # fmt: skip
    axes.set_xticks(range(len(months)))
    axes.set_xticklabels([t("review.month_label", lang, year=m.year, month=m.month) for m in months],
                         fontproperties=_font(9))  # fmt: skip
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.legend(prop=_font(8), loc="upper left")


def _departments(axes: Axes, review: Review, lang: str) -> None:
    axes.set_title(t("review.chart_departments", lang), fontproperties=_font(11))
    rated = [d for d in review.departments if d.on_time_rate is not None][:TOP_DEPARTMENTS]
    if not rated:
        _empty(axes, lang)
        return
    names = [d.name or t("review.no_department", lang) for d in rated]
    rates = [round((d.on_time_rate or 0) * 100) for d in rated]
    rows = range(len(rated))
    axes.barh(rows, rates, color=[COLOURS[1] if r >= 80 else COLOURS[2] if r >= 50 else COLOURS[3] for r in rates])
    axes.set_yticks(rows)
    axes.set_yticklabels(names, fontproperties=_font(9))
    axes.invert_yaxis()
    axes.set_xlim(0, 100)
    for row, rate in zip(rows, rates, strict=True):
        axes.text(min(rate + 2, 88), row, f"{rate}%", va="center", fontproperties=_font(8))


def _empty(axes: Axes, lang: str) -> None:
    axes.text(0.5, 0.5, t("review.chart_empty", lang), ha="center", va="center", fontproperties=_font(10),
              transform=axes.transAxes)  # fmt: skip
    axes.set_xticks([])
    axes.set_yticks([])
