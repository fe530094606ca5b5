"""Departments and group settings. Changing them is for admins (inner middleware)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import time
from typing import Any

from sqlmodel import Session, col, select

from cards import templates
from cards.model import Card, Field, Fields, Note
from cards.templates import t
from handlers import grammar
from handlers.capabilities import MINIMAL, Capabilities
from handlers.common import person_for
from handlers.router import Outcome, Router
from storage.directory import set_department
from storage.errors import PermissionDenied
from storage.i18n import normalize_language
from storage.lifecycle import Actor
from storage.models import Department, Group, Person
from storage.timekeeping import WorkdayCalendar, zone

router = Router("admin")
changes = Router("admin-changes")
router.include(changes)


def require_admin(call_next: Callable[[dict[str, Any]], Outcome], data: dict[str, Any]) -> Outcome:
    actor: Actor = data["actor"]
    command = data.get("command")
    if isinstance(command, grammar.Settings) and not command.pairs:
        return call_next(data)  # looking is for everyone
    if not actor.is_admin:
        raise PermissionDenied("perm.admin_only")
    return call_next(data)


changes.use(require_admin)


@changes.command(grammar.DeptSet)
def dept_set(command: grammar.DeptSet, session: Session, group: Group, lang: str) -> Outcome:
    lead = person_for(session, group, command.lead.user_id)
    director = person_for(session, group, command.director.user_id) if command.director else None
    department = set_department(
        session=session, workspace=group.workspace, name=command.department, lead_id=lead.id,
        director_id=director.id if director else None,
    )  # fmt: skip
    if lead.department_id is None:
        lead.department_id = department.id
        session.add(lead)
    return Outcome(
        reply=templates.notice(
            t("dept.title", lang),
            t(
                "dept.saved",
                lang,
                name=department.name,
                lead=templates.who(lead, lang),
                director=templates.who(director, lang),
            ),
        )
    )


@router.command(grammar.DeptList)
def dept_list(session: Session, group: Group, lang: str) -> Outcome:
    departments = session.exec(
        select(Department).where(Department.workspace == group.workspace).order_by(col(Department.name))
    ).all()
    rows = [
        (
            d,
            session.get(Person, d.lead_id) if d.lead_id else None,
            session.get(Person, d.director_id) if d.director_id else None,
        )
        for d in departments
    ]
    return Outcome(reply=templates.departments_card(rows, lang=lang))


def _clock_time(value: str) -> time:
    match = re.fullmatch(r"(\d{1,2})[:：](\d{2})", value.strip())
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise ValueError("HH:MM")
    return time(int(match[1]), int(match[2]))


def _whole(low: int, high: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        if not value.strip().isdigit() or not low <= int(value) <= high:
            raise ValueError(f"{low}–{high}")
        return int(value)

    return parse


def _language(value: str) -> str:
    if not re.fullmatch(r"(?i)(zh([-_]cn)?|en([-_]\w+)?|中文|英文)", value.strip()):
        raise ValueError("zh-CN / en")
    return "en" if value.strip() in ("英文",) else normalize_language(value.strip().replace("中文", "zh-CN"))


def _zone(value: str) -> str:
    zone(value.strip())
    return value.strip()


def _country(value: str) -> str:
    WorkdayCalendar(value.strip().upper())
    return value.strip().upper()


# key (and its Chinese names) → (group column, parser)
SETTINGS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "timezone": ("timezone", _zone), "时区": ("timezone", _zone),
    "language": ("language", _language), "语言": ("language", _language),
    "holidays": ("holiday_country", _country), "节假日": ("holiday_country", _country),
    "prompt": ("prompt_time", _clock_time), "提醒时间": ("prompt_time", _clock_time),
    "warning": ("warning_time", _clock_time), "预警时间": ("warning_time", _clock_time),
    "warning_days": ("warning_days", _whole(0, 10)), "预警天数": ("warning_days", _whole(0, 10)),
    "meeting_reminder": ("meeting_reminder_minutes", _whole(5, 1440)),
    "会议提醒": ("meeting_reminder_minutes", _whole(5, 1440)),
}  # fmt: skip


@changes.command(grammar.Settings)
def settings(command: grammar.Settings, session: Session, group: Group, lang: str,
             capabilities: Capabilities = MINIMAL) -> Outcome:  # fmt: skip
    """``/settings`` shows; ``/settings prompt 17:30`` changes (all pairs checked before any is applied).

    The platform's own per-group settings (``Capabilities.group_settings``) are set the same way; their
    values may be secrets, so a bad one is refused without being repeated.
    """
    if not command.pairs:
        return Outcome(reply=_with_platform_settings(templates.settings_card(group, lang=lang), group, capabilities,
                                                     lang))  # fmt: skip
    parsed: dict[str, Any] = {}
    platform: dict[str, str] = {}
    for key, value in command.pairs:
        declared = capabilities.group_setting(key)
        if declared is not None:
            try:
                platform[declared.key] = declared.parse(value)
            except ValueError as exc:
                text = t("settings.bad_platform_value", lang, key=key, reason=str(exc))
                return Outcome(reply=templates.error_card(text, lang=lang))
            continue
        if key.lower() not in SETTINGS:
            names = [*SETTINGS, *(name for s in capabilities.group_settings for name in s.names)]
            known = ", ".join(k for k in names if k.isascii())
            return Outcome(reply=templates.error_card(t("settings.unknown_key", lang, key=key, keys=known), lang=lang))
        column, parse = SETTINGS[key.lower()]
        try:
            parsed[column] = parse(value)
        except ValueError as exc:
            reason = str(exc)
            return Outcome(reply=templates.error_card(t("settings.bad_value", lang, key=key, value=value, reason=reason),
                                                      lang=lang))  # fmt: skip
    for column, value in parsed.items():
        setattr(group, column, value)
    if platform:
        group.platform_settings = {k: v for k, v in {**group.platform_settings, **platform}.items() if v}
    session.add(group)
    lang = normalize_language(group.language)
    return Outcome(reply=_with_platform_settings(templates.settings_card(group, lang=lang), group, capabilities, lang))


def _with_platform_settings(card: Card, group: Group, capabilities: Capabilities, lang: str) -> Card:
    """The settings card, with the platform's own: each one's state, and what the group lacks without it."""
    declared = capabilities.group_settings
    if not declared:
        return card
    stored = group.platform_settings or {}
    fields = Fields(items=[
        Field(label=s.label.pick(lang),
              value=s.describe(stored[s.key], lang) if stored.get(s.key) else t("settings.not_set", lang))
        for s in declared
    ])  # fmt: skip
    notes = [Note(text=s.missing.pick(lang)) for s in declared if not stored.get(s.key)]
    return card.model_copy(update={"elements": [*card.elements, fields, *notes]})
