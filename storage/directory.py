"""Groups, people, departments and calendar overrides: who and where, created on first contact."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from storage.models import CalendarOverride, Department, Group, GroupMember, Person
from storage.timekeeping import CalendarOverrides, WorkdayCalendar

# Built once: every event looks its group and its sender up, and building a statement costs more than running it.
GROUP_BY_CHAT = select(Group).where(Group.platform == bindparam("platform"), Group.chat_id == bindparam("chat_id"))
PERSON_BY_ID = select(Person).where(Person.platform == bindparam("platform"), Person.user_id == bindparam("user_id"))


def ensure_group(
    *, session: Session, platform: str, chat_id: str, workspace: str, now: datetime, **defaults: Any
) -> Group:
    """The group for a chat, created with ``defaults`` (name, timezone, …) on first contact."""
    group = session.exec(GROUP_BY_CHAT, params={"platform": platform, "chat_id": chat_id}).first()
    if group is not None:
        if defaults.get("name") and group.name != defaults["name"]:
            group.name = defaults["name"]
            session.add(group)
        return group
    values = {"platform": platform, "chat_id": chat_id, "workspace": workspace, "created_at": now, **defaults}
    return _insert_once(session, Group, values, GROUP_BY_CHAT, {"platform": platform, "chat_id": chat_id})


def ensure_person(*, session: Session, platform: str, user_id: str, display_name: str | None = None) -> Person:
    person = session.exec(PERSON_BY_ID, params={"platform": platform, "user_id": user_id}).first()
    if person is not None:
        if display_name and person.display_name != display_name:
            person.display_name = display_name[:100]
            session.add(person)
        return person
    values = {"platform": platform, "user_id": user_id, "display_name": (display_name or user_id)[:100]}
    return _insert_once(session, Person, values, PERSON_BY_ID, {"platform": platform, "user_id": user_id})


def note_members(*, session: Session, group_id: int, person_ids: Iterable[int], now: datetime) -> None:
    """Remember who spoke or acted in a group (once each): the group's person pickers offer them.

    One prepared statement (compiled once per dialect), so the dispatcher pays a lookup, not a compile.
    """
    rows = [{"group_id": group_id, "person_id": person_id, "first_seen_at": now} for person_id in set(person_ids)]
    if rows:
        session.connection().execute(
            _NOTE_MEMBER[session.get_bind().dialect.name == "postgresql"], rows
        )  # Core: 6× less


_NOTE_MEMBER = {
    postgres: (postgresql.insert if postgres else sqlite.insert)(GroupMember).on_conflict_do_nothing(
        index_elements=["group_id", "person_id"]
    )
    for postgres in (False, True)
}


def _insert_once(session: Session, model: type, values: dict[str, Any], existing: Any, params: dict[str, Any]) -> Any:
    """Insert unless the row is there (another replica may have inserted it a moment earlier), then load it.

    ``INSERT … ON CONFLICT DO NOTHING`` on the connection, not a savepoint around the
    ORM's flush: a new person or group cost as much as three whole commands that way.
    The columns not given take their defaults from the table (no model built for it).
    """
    session.connection().execute(_INSERT_NEW[session.get_bind().dialect.name == "postgresql", model], values)
    return session.exec(existing, params=params).one()


_INSERT_NEW: dict[tuple[bool, type], Any] = {
    (postgres, model): (postgresql.insert if postgres else sqlite.insert)(model).on_conflict_do_nothing()
    for postgres in (False, True)
    for model in (Group, Person)
}


def set_department(
    *,
    session: Session,
    workspace: str,
    name: str,
    lead_id: int | None = None,
    director_id: int | None = None,
) -> Department:
    department = find_department(session=session, workspace=workspace, name=name)
    if department is None:
        department = Department(workspace=workspace, name=name.strip())
    if lead_id is not None:
        department.lead_id = lead_id
    if director_id is not None:
        department.director_id = director_id
    session.add(department)
    session.flush()
    return department


def find_department(*, session: Session, workspace: str, name: str) -> Department | None:
    query = select(Department).where(Department.workspace == workspace, Department.name == name.strip())
    return session.exec(query).first()


def set_calendar_override(
    *, session: Session, workspace: str, day: date, is_workday: bool, note: str | None = None
) -> CalendarOverride:
    """A company day off (``is_workday=False``) or an extra working day (``True``)."""
    query = select(CalendarOverride).where(CalendarOverride.workspace == workspace, CalendarOverride.day == day)
    override = session.exec(query).first() or CalendarOverride(workspace=workspace, day=day, is_workday=is_workday)
    override.is_workday = is_workday
    override.note = note
    session.add(override)
    session.flush()
    return override


def calendar_overrides(*, session: Session, workspace: str) -> Iterable[CalendarOverride]:
    return session.exec(select(CalendarOverride).where(CalendarOverride.workspace == workspace))


def calendar_for_group(session: Session, group: Group) -> WorkdayCalendar:
    """A group's workdays: its country's statutory days plus its workspace's overrides."""
    rows = list(calendar_overrides(session=session, workspace=group.workspace))
    overrides = CalendarOverrides(
        extra_holidays=frozenset(row.day for row in rows if not row.is_workday),
        extra_workdays=frozenset(row.day for row in rows if row.is_workday),
    )
    return WorkdayCalendar(group.holiday_country, overrides)
