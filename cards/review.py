"""The monthly review card (复盘) and the card that hands over a generated file.

The review reads top-down the way a manager asks: how many problems came and went,
did the work finish on time, which kinds of problem keep coming back (with a
suggestion to review that process), which departments carry the load, what was
escalated, what money was asked for — then the chart, when there is one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from cards.markup import Markup, md
from cards.model import Attachment, Card, Header, Markdown, Note, Tone
from cards.templates import category_text, t
from storage.files import RETENTION, FileRef
from storage.review import RECURRING_STREAK, Review
from storage.timekeeping import format_local
from storage.types import FileKind

TREND_ON_CARD = 3  # months of each type's trend on the card (the chart shows more)
RECORDS_ON_CARD = 5  # records named behind each type; the rest are counted
LINES = Markup("\n")
LATE_BUCKETS = ((0, 1, "≤1"), (2, 3, "2–3"), (4, 5, "4–5"), (6, None, ">5"))


def _rate(value: float | None, lang: str) -> str:
    return f"{value:.0%}" if value is not None else t("review.na", lang)


def _number(value: float | None, lang: str) -> str:
    if value is None:
        return t("review.na", lang)
    return f"{value:g}" if isinstance(value, float) else str(value)


def review_card(review: Review, *, lang: str, zone: ZoneInfo, now: datetime, chart: FileRef | None = None) -> Card:
    title_key = "review.title_all" if review.scope.workspace_wide else "report.title"
    elements: list[Any] = [Markdown(text=LINES.join(_summary(review, lang)))]
    elements.append(Markdown(text=md("**{}**\n{}", t("report.categories", lang), _categories(review, lang))))
    if review.recurring:
        elements.append(Markdown(text=md("**{}**\n{}", t("review.recurring", lang), _recurring(review, lang))))
    if review.departments:
        elements.append(Markdown(text=md("**{}**\n{}", t("review.departments", lang), _departments(review, lang))))
    elements.append(Markdown(text=LINES.join([_escalations(review, lang), _resources(review, lang)])))
    if chart is not None:
        elements.append(Attachment(file_id=chart.id, filename=chart.filename, mime=chart.mime, image=chart.image,
                                   size=chart.size))  # fmt: skip
    elements.append(Note(text=t("review.as_of", lang, at=format_local(now, zone), zone=zone.key)))
    header = Header(title=t(title_key, lang, year=review.month.year, month=review.month.month), tone=Tone.INFO)
    return Card(header=header, elements=elements)


def _summary(review: Review, lang: str) -> list[Markup]:
    lines = [
        t("review.summary", lang, opened=review.records_opened, closed=review.records_closed, due=review.items_due,
          on_time=review.items_on_time, rate=_rate(review.on_time_rate, lang), late=review.items_late,
          cancelled=review.items_cancelled),
        t("review.backlog", lang, open=review.records_open_at_end),
    ]  # fmt: skip
    if review.close_workdays:
        lines.append(t("review.close_time", lang, median=_number(review.median_close_workdays, lang),
                       slowest=_number(review.slowest_close_workdays, lang)))  # fmt: skip
    if review.items_late:
        buckets = []
        for low, high, label in LATE_BUCKETS:
            count = sum(n for days, n in review.late_workdays.items() if days >= low and (high is None or days <= high))
            if count:
                buckets.append(t("review.late_bucket", lang, label=label, count=count))
        lines.append(t("review.late", lang, done_late=review.items_done_late, overdue=review.items_overdue,
                       buckets=Markup("、").join(buckets)))  # fmt: skip
    if review.items_pending:
        lines.append(t("review.pending", lang, pending=review.items_pending))
    if review.reschedules:
        lines.append(t("review.rescheduled", lang, count=review.reschedules, items=review.rescheduled_items))
    return lines


def _categories(review: Review, lang: str) -> Markup:
    shown = [c for c in review.categories if c.this_month]
    if not shown:
        return t("review.no_records", lang)
    lines = []
    for trend in shown:
        months = review.months[-TREND_ON_CARD:]
        history = " → ".join(
            f"{t('review.month_label', lang, year=m.year, month=m.month)} {n}"
            for m, n in zip(months, trend.counts[-TREND_ON_CARD:], strict=True)
        )
        names = [f"{line.ref} {line.topic}" for line in trend.records[:RECORDS_ON_CARD]]
        if trend.this_month > len(names):
            names.append(t("review.more_records", lang, count=trend.this_month - len(names)))
        records = t("review.category_records", lang, records="、".join(names)) if names else ""
        lines.append(md("- {}", t("review.category_line", lang, category=category_text(trend.category, lang),
                                  count=trend.this_month, trend=history, records=records)))  # fmt: skip
    return LINES.join(lines)


def _recurring(review: Review, lang: str) -> Markup:
    lines = []
    for trend in review.recurring:
        why = []
        if trend.recurs_in_month:
            why.append(t("review.recurring_month", lang, count=trend.this_month))
        if trend.recurs_in_a_row:
            why.append(t("review.recurring_streak", lang, months=RECURRING_STREAK))
        lines.append(md("- {}", t("review.recurring_line", lang, category=category_text(trend.category, lang),
                                  why=Markup("，").join(why))))  # fmt: skip
    return LINES.join(lines)


def _departments(review: Review, lang: str) -> Markup:
    return LINES.join(
        md("- {}", t("review.department_line", lang, name=d.name or t("review.no_department", lang), open=d.open_now,
                 overdue=d.overdue_now, due=d.due, rate=_rate(d.on_time_rate, lang)))
        for d in review.departments
    )  # fmt: skip


def _escalations(review: Review, lang: str) -> Markup:
    levels = review.escalations
    return t("review.escalations", lang, first=levels.get("1", 0), second=levels.get("2", 0),
             manual=levels.get("manual", 0))  # fmt: skip


def _resources(review: Review, lang: str) -> Markup:
    if not review.resources:
        return t("review.no_resources", lang)
    parts = [
        t("review.resource_part", lang, status=t(f"resource_status.{r.status.value}", lang), count=r.requests,
          amount=f" {r.amount.normalize():f} {r.unit or ''}".rstrip() if r.amount is not None else "")
        for r in review.resources
    ]  # fmt: skip
    return t("review.resources", lang, parts=Markup("；").join(parts))


def file_card(ref: FileRef, *, kind: FileKind, what: str, lang: str) -> Card:
    """The answer to an export: which file, how long it stays, and the file itself."""
    days = RETENTION[kind].days
    return Card(
        header=Header(title=t("export.file_title", lang, filename=ref.filename), tone=Tone.SUCCESS),
        elements=[
            Markdown(text=t("export.file_text", lang, what=what, days=days)),
            Attachment(file_id=ref.id, filename=ref.filename, mime=ref.mime, image=ref.image, size=ref.size),
        ],
    )
