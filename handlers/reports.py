"""The monthly review (复盘) and help."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from sqlmodel import Session

from cards import templates
from handlers import grammar
from handlers.router import Outcome, Router
from storage.models import Group
from storage.queries import month_bounds, monthly_report
from storage.timekeeping import local_to_utc, to_local

router = Router("reports")


@router.command(grammar.Report)
def report(
    command: grammar.Report, session: Session, group: Group, lang: str, now: datetime, zone: ZoneInfo
) -> Outcome:
    """``/report`` is this month in the group's zone; ``/report 2026-03`` any month."""
    local_now = to_local(now, zone)
    year, month = command.year or local_now.year, command.month or local_now.month
    first, after = month_bounds(year, month)
    figures = monthly_report(
        session, group_id=group.id or 0, start=local_to_utc(first, time(0), zone), end=local_to_utc(after, time(0), zone),
        year=year, month=month, now=now,
    )  # fmt: skip
    return Outcome(reply=templates.report_card(figures, lang=lang))


@router.command(grammar.Help)
def help_(command: grammar.Help, lang: str) -> Outcome:
    specs = [s for s in grammar.COMMANDS if command.topic is None or s.name == command.topic] or list(grammar.COMMANDS)
    return Outcome(reply=templates.help_card(specs, lang=lang))
