"""Read models for the group's pages: the board (every record by status), a record's history, the members.

The board answers "where does every problem stand?" at a glance, so it loads a
group's records with their items, owners and last progress in a fixed handful of
queries, whatever the number of records.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, or_, select

from storage.models import (
    ActionItem,
    AuditEntry,
    Department,
    Group,
    GroupMember,
    KeyPoint,
    Participant,
    Person,
    ProgressUpdate,
    Record,
    WebForm,
)
from storage.queries import ItemView, latest_progress
from storage.types import Category, RecordStatus

BOARD_STATUSES = (RecordStatus.CONFIRMING, RecordStatus.IN_PROGRESS, RecordStatus.DELAYED, RecordStatus.CLOSED)


@dataclass(frozen=True)
class BoardFilter:
    """What the board shows: everything, or only what matches every filter given."""

    person_id: int | None = None  # mine: records I keep, take part in, or own an item of
    department_id: int | None = None  # taking part, with a key point, or owning an item
    category: Category | None = None
    created_from: datetime | None = None  # a month, as UTC bounds in the group's zone
    created_before: datetime | None = None


@dataclass(frozen=True)
class BoardRecord:
    record: Record
    recorder: Person
    items: list[ItemView]


def board_records(session: Session, *, group_id: int, which: BoardFilter, limit: int = 500) -> list[BoardRecord]:
    """The group's records past the draft stage, newest first, each with its items (by number)."""
    query = select(Record).where(Record.group_id == group_id, col(Record.status).in_(BOARD_STATUSES))
    if which.person_id is not None:
        takes_part = select(Participant.record_id).where(Participant.person_id == which.person_id)
        owns = select(ActionItem.record_id).where(ActionItem.owner_id == which.person_id)
        query = query.where(
            or_(Record.recorder_id == which.person_id, col(Record.id).in_(takes_part), col(Record.id).in_(owns))
        )
    if which.department_id is not None:
        department = which.department_id
        query = query.where(
            or_(
                col(Record.id).in_(select(Participant.record_id).where(Participant.department_id == department)),
                col(Record.id).in_(select(KeyPoint.record_id).where(KeyPoint.department_id == department)),
                col(Record.id).in_(select(ActionItem.record_id).where(ActionItem.department_id == department)),
            )
        )
    if which.category is not None:
        query = query.where(Record.category == which.category)
    if which.created_from is not None:
        query = query.where(Record.created_at >= which.created_from)
    if which.created_before is not None:
        query = query.where(Record.created_at < which.created_before)
    records = list(session.exec(query.order_by(col(Record.id).desc()).limit(limit)))
    if not records:
        return []
    items = list(
        session.exec(
            select(ActionItem)
            .where(col(ActionItem.record_id).in_([r.id for r in records]))
            .order_by(col(ActionItem.record_id), col(ActionItem.seq))
        )
    )
    people = _people(session, {r.recorder_id for r in records} | {i.owner_id for i in items})
    departments = _departments(session, {i.department_id for i in items if i.department_id})
    latest = latest_progress(session, [i.id for i in items if i.id is not None])
    by_record: dict[int, list[ItemView]] = {}
    for item in items:
        view = ItemView(item, people[item.owner_id], departments.get(item.department_id or 0), latest.get(item.id))
        by_record.setdefault(item.record_id, []).append(view)
    return [BoardRecord(r, people[r.recorder_id], by_record.get(r.id or 0, [])) for r in records]


@dataclass(frozen=True)
class HistoryEntry:
    entry: AuditEntry
    actor: Person | None
    item_seq: int | None
    progress: ProgressUpdate | None  # the report itself, for an ``item.progress`` entry


def record_history(session: Session, record: Record) -> list[HistoryEntry]:
    """What happened to the record, oldest first, from its append-only audit trail."""
    entries = list(
        session.exec(select(AuditEntry).where(AuditEntry.record_id == record.id).order_by(col(AuditEntry.id)))
    )
    people = _people(session, {e.actor_id for e in entries if e.actor_id})
    items = {i.id: i for i in session.exec(select(ActionItem).where(ActionItem.record_id == record.id))}
    reports = {
        (p.action_item_id, p.created_at): p
        for p in session.exec(select(ProgressUpdate).where(col(ProgressUpdate.action_item_id).in_(list(items))))
    }
    return [
        HistoryEntry(
            entry=e,
            actor=people.get(e.actor_id) if e.actor_id else None,
            item_seq=items[e.action_item_id].seq if e.action_item_id in items else None,
            progress=reports.get((e.action_item_id, e.at)),
        )
        for e in entries
    ]


def group_members(session: Session, group: Group) -> list[Person]:
    """Who a person picker offers in this group: the workspace's people with a department, and everyone
    who has spoken to the bot there, taken part in the group's records or opened its forms. Platforms do
    not tell us a chat's members on every event, so this is what the group itself has seen."""
    in_departments = select(Department.id).where(Department.workspace == group.workspace)
    records = select(Record.id).where(Record.group_id == group.id)
    seen = (
        select(Record.recorder_id).where(Record.group_id == group.id),
        select(Participant.person_id).where(col(Participant.record_id).in_(records)),
        select(ActionItem.owner_id).where(col(ActionItem.record_id).in_(records)),
        select(WebForm.person_id).where(WebForm.group_id == group.id),
        select(GroupMember.person_id).where(GroupMember.group_id == group.id),
    )
    query = select(Person).where(
        Person.platform == group.platform,
        or_(col(Person.department_id).in_(in_departments), *(col(Person.id).in_(s) for s in seen)),
    )
    return list(session.exec(query.order_by(col(Person.id))))


def _people(session: Session, ids: set[int | None]) -> dict[int, Person]:
    wanted = sorted(i for i in ids if i)
    return {p.id: p for p in session.exec(select(Person).where(col(Person.id).in_(wanted)))} if wanted else {}  # type: ignore[misc]


def _departments(session: Session, ids: set[int | None]) -> dict[int, Department]:
    wanted = sorted(i for i in ids if i)
    if not wanted:
        return {}
    return {d.id: d for d in session.exec(select(Department).where(col(Department.id).in_(wanted)))}  # type: ignore[misc]
