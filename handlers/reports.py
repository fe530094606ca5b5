"""The monthly review (复盘), the list export, and help."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from cards import templates
from cards.chart import review_chart
from cards.exports import MIME, filename, list_csv, list_xlsx
from cards.review import file_card, review_card
from cards.templates import t
from handlers import grammar
from handlers.capabilities import Capabilities
from handlers.router import Outcome, Router
from storage.files import FileRef, store_file
from storage.lifecycle import Actor
from storage.models import Group
from storage.queries import export_rows
from storage.review import Month, Review, Scope, months_back, review
from storage.timekeeping import to_local
from storage.types import ExportFormat, FileKind

router = Router("reports")


def month_asked(year: int | None, month: int | None, months_ago: int, *, now: datetime, zone: ZoneInfo) -> Month:
    """No month: this one (or ``months_ago`` back). A month without a year is the latest such month, not a future one."""
    if month is None:
        return months_back(now, zone, months_ago)
    if year is not None:
        return Month(year, month)
    today = to_local(now, zone).date()
    return Month(today.year if month <= today.month else today.year - 1, month)


def review_with_chart(session: Session, *, group: Group, figures: Review, lang: str, now: datetime) -> FileRef:
    """Draw the review's chart and keep it (the card refers to it; the platform uploads or shows it)."""
    period = f"{figures.month}{'-all' if figures.scope.workspace_wide else ''}"
    return store_file(
        session=session, group_id=group.id or 0, kind=FileKind.REVIEW_CHART, mime="image/png", now=now,
        filename=f"{t('review.chart_file', lang, period=period)}.png", content=review_chart(figures, lang=lang),
    )  # fmt: skip


@router.command(grammar.Report)
def report(command: grammar.Report, session: Session, group: Group, actor: Actor, lang: str, now: datetime,
           zone: ZoneInfo) -> Outcome:  # fmt: skip
    """``/report`` is this month in the group's zone; ``/report 2026-03`` any month; ``/report all`` every group."""
    if command.workspace and not actor.is_admin:
        return Outcome(reply=templates.error_card(t("review.all_admin_only", lang), lang=lang))
    month = month_asked(command.year, command.month, command.months_ago, now=now, zone=zone)
    scope = Scope(group.workspace, None if command.workspace else group.id)
    figures = review(session, scope=scope, month=month, now=now)
    chart = review_with_chart(session, group=group, figures=figures, lang=lang, now=now)
    return Outcome(reply=review_card(figures, lang=lang, zone=zone, now=now, chart=chart))


@router.command(grammar.Export)
def export(command: grammar.Export, session: Session, group: Group, lang: str, now: datetime,
           zone: ZoneInfo) -> Outcome:  # fmt: skip
    """``/export``: every record of the group; ``/export 2026-03``: those opened that month. One row per item."""
    if command.month is None and not command.months_ago:
        rows = export_rows(session, group_id=group.id or 0)
        period = t("export.period_all", lang)
        stem = f"{t('export.sheet_list', lang)}"
    else:
        month = month_asked(command.year, command.month, command.months_ago, now=now, zone=zone)
        start, end = month.bounds(zone)
        rows = export_rows(session, group_id=group.id or 0, start=start, end=end)
        period = t("export.period_month", lang, year=month.year, month=month.month)
        stem = f"{t('export.sheet_list', lang)}-{month}"
    if command.format is ExportFormat.CSV:
        content = list_csv(rows, lang=lang, zone=zone)
    else:
        content = list_xlsx(rows, lang=lang, zone=zone, title=stem)
    ref = store_file(session=session, group_id=group.id or 0, kind=FileKind.LIST_EXPORT, now=now,
                     filename=filename(stem, command.format), mime=MIME[command.format], content=content)  # fmt: skip
    what = t("export.what_list", lang, period=period, count=len(rows))
    return Outcome(reply=file_card(ref, kind=FileKind.LIST_EXPORT, what=what, lang=lang))


@router.command(grammar.Help)
def help_(command: grammar.Help, lang: str, capabilities: Capabilities | None = None) -> Outcome:
    specs = [s for s in grammar.COMMANDS if command.topic is None or s.name == command.topic] or list(grammar.COMMANDS)
    as_typed = capabilities.as_typed if capabilities is not None else str
    return Outcome(reply=templates.help_card(specs, lang=lang, as_typed=as_typed))
