"""Read models: a record with everything around it, lists, and the monthly review."""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import bindparam, func
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, or_, select

from storage.models import (
    ActionItem,
    CarbonCopy,
    Department,
    KeyPoint,
    Participant,
    Person,
    ProgressUpdate,
    Record,
    ResourceRequest,
)
from storage.types import NOT_IN_REGISTER, OPEN_RECORD_STATUSES, ItemStatus, ItemTerm, RecordStatus


@dataclass(frozen=True)
class ParticipantView:
    person: Person
    department: Department | None
    row: Participant


@dataclass(frozen=True)
class ItemView:
    item: ActionItem
    owner: Person
    department: Department | None
    last_progress: ProgressUpdate | None


@dataclass(frozen=True)
class ResourceView:
    request: ResourceRequest
    approver: Person | None
    decided_by: Person | None = None


@dataclass(frozen=True)
class RecordView:
    record: Record
    recorder: Person
    participants: list[ParticipantView]
    key_points: list[tuple[Department, KeyPoint]]
    items: list[ItemView]
    resources: list[ResourceView]
    cc_people: list[Person]
    cc_departments: list[Department]

    def item(self, seq: int) -> ItemView | None:
        return next((view for view in self.items if view.item.seq == seq), None)

    @property
    def unconfirmed(self) -> list[ParticipantView]:
        return [p for p in self.participants if p.row.confirmed_at is None]


def record_view(session: Session, record: Record) -> RecordView:
    """Everything a summary card, an export or a reminder needs, in a handful of queries."""
    people = _by_id(session, Person, _person_ids(session, record))
    departments = {
        d.id: d
        for d in session.exec(select(Department).where(col(Department.id).in_(_department_ids(session, record))))
    }
    participants = [
        ParticipantView(people[row.person_id], departments.get(row.department_id), row)
        for row in session.exec(
            select(Participant).where(Participant.record_id == record.id).order_by(col(Participant.id))
        )
    ]
    points = [
        (departments[row.department_id], row)
        for row in session.exec(select(KeyPoint).where(KeyPoint.record_id == record.id).order_by(col(KeyPoint.id)))
    ]
    items = list(
        session.exec(select(ActionItem).where(ActionItem.record_id == record.id).order_by(col(ActionItem.seq)))
    )
    latest = latest_progress(session, [i.id for i in items if i.id is not None])
    item_views = [ItemView(i, people[i.owner_id], departments.get(i.department_id), latest.get(i.id)) for i in items]
    resources = [
        ResourceView(
            row,
            people.get(row.approver_id) if row.approver_id else None,
            people.get(row.decided_by_id) if row.decided_by_id else None,
        )
        for row in session.exec(
            select(ResourceRequest).where(ResourceRequest.record_id == record.id).order_by(col(ResourceRequest.id))
        )
    ]
    cc_rows = list(session.exec(select(CarbonCopy).where(CarbonCopy.record_id == record.id)))
    return RecordView(
        record=record,
        recorder=people[record.recorder_id],
        participants=participants,
        key_points=points,
        items=item_views,
        resources=resources,
        cc_people=[people[row.person_id] for row in cc_rows if row.person_id],
        cc_departments=[departments[row.department_id] for row in cc_rows if row.department_id],
    )


def _person_ids(session: Session, record: Record) -> set[int]:
    ids = {record.recorder_id}
    ids |= set(session.exec(select(Participant.person_id).where(Participant.record_id == record.id)))
    ids |= set(session.exec(select(ActionItem.owner_id).where(ActionItem.record_id == record.id)))
    for approver, decider in session.exec(
        select(ResourceRequest.approver_id, ResourceRequest.decided_by_id).where(ResourceRequest.record_id == record.id)
    ):
        ids |= {i for i in (approver, decider) if i}
    ids |= {i for i in session.exec(select(CarbonCopy.person_id).where(CarbonCopy.record_id == record.id)) if i}
    return ids


def _department_ids(session: Session, record: Record) -> set[int]:
    ids: set[int] = set()
    for column, model in (
        (Participant.department_id, Participant), (KeyPoint.department_id, KeyPoint),
        (ActionItem.department_id, ActionItem), (CarbonCopy.department_id, CarbonCopy),
    ):  # fmt: skip
        ids |= {i for i in session.exec(select(column).where(model.record_id == record.id)) if i}
    return ids


def _by_id(session: Session, model: type, ids: set[int]) -> dict[int, Any]:
    return {row.id: row for row in session.exec(select(model).where(col(model.id).in_(sorted(ids))))}  # type: ignore[attr-defined]


def latest_progress(session: Session, item_ids: list[int]) -> dict[int, ProgressUpdate]:
    if not item_ids:
        return {}
    newest = (
        select(ProgressUpdate.action_item_id, func.max(ProgressUpdate.id).label("last_id"))
        .where(col(ProgressUpdate.action_item_id).in_(item_ids))
        .group_by(col(ProgressUpdate.action_item_id))
        .subquery()
    )
    rows = session.exec(select(ProgressUpdate).join(newest, col(ProgressUpdate.id) == newest.c.last_id))
    return {row.action_item_id: row for row in rows}


class RecordFilter(StrEnum):
    OPEN = "open"
    DELAYED = "delayed"
    CLOSED = "closed"
    MINE = "mine"


def list_records(
    session: Session, *, group_id: int, which: RecordFilter, person_id: int, limit: int = 50
) -> list[Record]:
    """Newest first. ``mine``: records I keep, take part in, or own an open item of."""
    params = {"group_id": group_id, "person_id": person_id, "limit": limit}
    return list(session.exec(_list_query(which), params=params))


@functools.cache
def _list_query(which: RecordFilter) -> Any:
    """Built once per filter (``/record list`` is the most frequent command; building costs more than running)."""
    query = select(Record).where(Record.group_id == bindparam("group_id"))
    if which is RecordFilter.OPEN:
        open_statuses = [*OPEN_RECORD_STATUSES, RecordStatus.CONFIRMING, RecordStatus.DRAFT]
        query = query.where(col(Record.status).in_([s.value for s in open_statuses]))
    elif which is RecordFilter.DELAYED:
        query = query.where(Record.status == RecordStatus.DELAYED)
    elif which is RecordFilter.CLOSED:
        query = query.where(Record.status == RecordStatus.CLOSED)
    else:
        person = bindparam("person_id")
        takes_part = select(Participant.record_id).where(Participant.person_id == person)
        owns = select(ActionItem.record_id).where(ActionItem.owner_id == person, ActionItem.status == ItemStatus.OPEN)
        query = query.where(
            or_(Record.recorder_id == person, col(Record.id).in_(takes_part), col(Record.id).in_(owns)),
            col(Record.status).not_in([RecordStatus.CLOSED.value, RecordStatus.WITHDRAWN.value]),
        )
    return query.order_by(col(Record.id).desc()).limit(bindparam("limit"))


@dataclass
class MonthlyReport:
    """复盘: which problem types recur, which departments carry the load, how many items finish on time."""

    year: int
    month: int
    records_opened: int = 0
    records_closed: int = 0
    by_category: Counter[str] = field(default_factory=Counter)
    open_items_by_department: Counter[str] = field(default_factory=Counter)
    items_due: int = 0
    items_done_on_time: int = 0
    items_overdue: int = 0

    @property
    def on_time_rate(self) -> float | None:
        return self.items_done_on_time / self.items_due if self.items_due else None


def monthly_report(session: Session, *, group_id: int, start: datetime, end: datetime, year: int, month: int,
                   now: datetime) -> MonthlyReport:  # fmt: skip
    """Figures for records opened and items due in [start, end) (the month in the group's zone, as UTC)."""
    report = MonthlyReport(year, month)
    records = list(
        session.exec(
            select(Record).where(
                Record.group_id == group_id,
                Record.created_at >= start,
                Record.created_at < end,
                Record.status != RecordStatus.WITHDRAWN,
            )
        )
    )
    report.records_opened = len(records)
    report.by_category = Counter((r.category.value if r.category else "uncategorised") for r in records)
    report.records_closed = session.exec(
        select(func.count())
        .select_from(Record)
        .where(Record.group_id == group_id, Record.closed_at >= start, Record.closed_at < end)
    ).one()
    due_items = session.exec(
        select(ActionItem).join(Record, col(Record.id) == ActionItem.record_id).where(
            Record.group_id == group_id, ActionItem.due_at >= start, ActionItem.due_at < end,
            ActionItem.status != ItemStatus.CANCELLED,
        )
    ).all()  # fmt: skip
    report.items_due = len(due_items)
    report.items_done_on_time = sum(1 for i in due_items if i.done_at is not None and i.done_at <= i.due_at)
    report.items_overdue = sum(1 for i in due_items if (i.done_at or now) > i.due_at and (i.done_at or now) <= now)
    open_rows = session.exec(
        select(Department.name, func.count()).select_from(ActionItem)
        .join(Record, col(Record.id) == ActionItem.record_id)
        .join(Department, col(Department.id) == ActionItem.department_id)
        .where(Record.group_id == group_id, ActionItem.status == ItemStatus.OPEN)
        .group_by(col(Department.name))
    ).all()  # fmt: skip
    report.open_items_by_department = Counter({name: count for name, count in open_rows})
    return report


def month_bounds(year: int, month: int) -> tuple[date, date]:
    first = date(year, month, 1)
    return first, date(year + (month == 12), month % 12 + 1, 1)


@dataclass(frozen=True)
class ExportRow:
    """One line of a list export: a record with one of its items (or none), people and departments by name."""

    record_id: int
    topic: str
    category: str | None
    record_status: RecordStatus
    recorder: str
    created_at: datetime
    closed_at: datetime | None
    verification: str | None
    item_seq: int | None
    description: str | None
    term: ItemTerm | None
    owner: str | None
    department: str | None
    due_at: datetime | None
    item_status: ItemStatus | None
    done_at: datetime | None
    outcome: str | None


def export_rows(
    session: Session, *, group_id: int, start: datetime | None = None, end: datetime | None = None
) -> list[ExportRow]:
    """The group's records (opened in [start, end) when given; drafts and withdrawn ones left out), one row per item."""
    recorder, owner = aliased(Person), aliased(Person)
    query = (
        select(Record.id, Record.topic, Record.category, Record.status, recorder.display_name, Record.created_at,
               Record.closed_at, Record.verification, ActionItem.seq, ActionItem.description, ActionItem.term,
               owner.display_name, Department.name, ActionItem.due_at, ActionItem.status, ActionItem.done_at,
               func.coalesce(ActionItem.result, ActionItem.cancel_reason))
        .join(recorder, col(recorder.id) == Record.recorder_id)
        .outerjoin(ActionItem, col(ActionItem.record_id) == Record.id)
        .outerjoin(owner, col(owner.id) == ActionItem.owner_id)
        .outerjoin(Department, col(Department.id) == ActionItem.department_id)
        .where(Record.group_id == group_id, col(Record.status).not_in(NOT_IN_REGISTER))
        .order_by(col(Record.id), col(ActionItem.seq))
    )  # fmt: skip
    if start is not None:
        query = query.where(col(Record.created_at) >= start)
    if end is not None:
        query = query.where(col(Record.created_at) < end)
    return [
        ExportRow(rid, topic, category.value if category else None, *rest)
        for rid, topic, category, *rest in session.exec(query)
    ]
