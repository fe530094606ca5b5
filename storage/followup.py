"""The follow-up's queries: what the scheduler's jobs read on every tick.

Plain column rows rather than ORM objects (a tick reads many), and ``IN (...)``
lists cut into chunks that every backend accepts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Session, col, select

from storage.models import (
    ActionItem,
    CarbonCopy,
    Department,
    Group,
    MeetingReply,
    OutboxMessage,
    Participant,
    Person,
    ProgressUpdate,
    Record,
    ResourceRequest,
)
from storage.types import NOT_IN_REGISTER, ItemStatus, RecordStatus, ResourceStatus

ACTIVE = (RecordStatus.IN_PROGRESS, RecordStatus.DELAYED)
CHUNK = 900  # ids per IN (...) list


class DueAt(NamedTuple):
    """Groups of one schedule whose time has come, and the key suffix their message gets today."""

    timezone: str
    country: str
    workspace: str | None  # None: any workspace but those with their own calendar (``own_calendars``)
    at: time
    key: str  # e.g. "prompt:2026-11-24"; the full key is "<platform>:<chat_id>:<key>", as the scheduler posts it


def groups_not_yet_told(session: Session, due: Sequence[DueAt], *, own_calendars: Sequence[str],
                        column: Any, limit: int, platforms: Sequence[str] | None = None) -> list[int]:  # fmt: skip
    """Groups with an open item, of a due schedule (matched on ``column``: the group's prompt time…), whose
    message of today is not in the outbox yet — at most ``limit``, lowest ids first. The database does the
    matching, so a tick over 100,000 groups reads only the ones it will post to."""
    has_open_item = (
        sa.select(sa.literal(1))
        .select_from(ActionItem)
        .join(Record, col(Record.id) == col(ActionItem.record_id))
        .where(col(Record.group_id) == col(Group.id), col(ActionItem.status) == ItemStatus.OPEN,
               col(Record.status).in_(ACTIVE))
        .exists()
    )  # fmt: skip
    schedules = []
    for each in dict.fromkeys(due):
        key = col(Group.platform) + ":" + col(Group.chat_id) + f":{each.key}"
        told = sa.select(sa.literal(1)).where(col(OutboxMessage.idempotency_key) == key).exists()
        if each.workspace is not None:
            workspace = col(Group.workspace) == each.workspace
        elif own_calendars:
            workspace = col(Group.workspace).not_in(list(own_calendars))
        else:
            workspace = sa.true()
        schedules.append(sa.and_(col(Group.timezone) == each.timezone, col(Group.holiday_country) == each.country,
                                 workspace, column == each.at, ~told))  # fmt: skip
    if not schedules:
        return []
    query = sa.select(col(Group.id)).where(sa.or_(*schedules), has_open_item).order_by(col(Group.id)).limit(limit)
    if platforms is not None:
        query = query.where(col(Group.platform).in_(list(platforms)))
    return list(session.execute(query).scalars())


def groups_with_records(session: Session, group_ids: Sequence[int]) -> set[int]:
    """Those of ``group_ids`` that keep records (drafts aside): the ones a monthly review means something to."""
    found: set[int] = set()
    for part in chunks(list(group_ids)):
        query = select(Record.group_id).where(
            col(Record.group_id).in_(part), col(Record.status).not_in(NOT_IN_REGISTER)
        )
        found.update(session.exec(query.distinct()))
    return found


def chunks(values: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def among(session: Session, column: Any, values: Sequence[Any]) -> Iterable[Any]:
    """``column IN values`` as few conditions as the backend allows: one array parameter on PostgreSQL
    (``= ANY(…)``: a tick may check 20,000 keys, and the driver rewrites a query per placeholder), chunks elsewhere."""
    if not values:
        return
    if session.get_bind().dialect.name == "postgresql":
        element = sa.String() if isinstance(values[0], str) else sa.Integer()
        yield column == sa.any_(sa.bindparam(None, list(values), type_=postgresql.ARRAY(element)))
        return
    for part in chunks(values):
        yield column.in_(part)


def people_by_id(session: Session, ids: Iterable[int]) -> dict[int, Person]:
    wanted = sorted({i for i in ids if i})
    found: dict[int, Person] = {}
    for part in chunks(wanted):
        found.update({p.id: p for p in session.exec(select(Person).where(col(Person.id).in_(part)))})
    return found


class OpenItem(NamedTuple):
    """An open item of an active record, as plain columns (no ORM objects: ticks read many)."""

    id: int
    seq: int
    record_id: int
    description: str
    owner_id: int
    due_at: datetime
    group_id: int
    record_version: int
    recorder_id: int
    department_id: int | None = None  # the item's (its owner's department in the record), else None
    snoozed_until: date | None = None  # no daily prompt through this local day
    platform: str = ""  # the group's platform and chat, with ``chats=True`` (to build outbox keys without the group)
    chat_id: str = ""


def open_items(session: Session, *, group_ids: Sequence[int] | None = None,
               due_before: datetime | None = None, due_after: datetime | None = None,
               chats: bool = False) -> list[OpenItem]:  # fmt: skip
    """Open items of active records (the scheduler's index: status, due_at)."""
    columns: list[Any] = [
        ActionItem.id,
        ActionItem.seq,
        ActionItem.record_id,
        ActionItem.description,
        ActionItem.owner_id,
        ActionItem.due_at,
        Record.group_id,
        Record.version,
        Record.recorder_id,
    ]
    columns += [ActionItem.department_id, ActionItem.snoozed_until, *((Group.platform, Group.chat_id) if chats else ())]
    query = (
        sa.select(*columns)
        .join(Record, col(Record.id) == ActionItem.record_id)
        .where(col(ActionItem.status) == ItemStatus.OPEN, col(Record.status).in_(ACTIVE))
    )  # fmt: skip
    if chats:
        query = query.join(Group, col(Group.id) == Record.group_id)
    if due_before is not None:
        query = query.where(col(ActionItem.due_at) < due_before)
    if due_after is not None:
        query = query.where(col(ActionItem.due_at) >= due_after)
    if group_ids is None:
        return [OpenItem(*row) for row in session.execute(query)]
    rows: list[OpenItem] = []
    for part in chunks(list(group_ids)):
        rows.extend(OpenItem(*row) for row in session.execute(query.where(col(Record.group_id).in_(part))))
    return rows


def reported_since(session: Session, item_ids: Sequence[int], since: datetime) -> dict[int, list[tuple[int, datetime]]]:
    found: dict[int, list[tuple[int, datetime]]] = defaultdict(list)
    for part in chunks(list(item_ids)):
        query = select(ProgressUpdate.action_item_id, ProgressUpdate.person_id, ProgressUpdate.created_at).where(
            col(ProgressUpdate.action_item_id).in_(part), col(ProgressUpdate.created_at) >= since
        )
        for item_id, person_id, at in session.exec(query):
            found[item_id].append((person_id, at))
    return found


def already_queued(session: Session, keys: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for condition in among(session, col(OutboxMessage.idempotency_key), list(keys)):
        found.update(session.exec(select(OutboxMessage.idempotency_key).where(condition)))
    return found


def departments_by_id(session: Session, ids: Iterable[int | None]) -> dict[int, Department]:
    wanted = sorted({i for i in ids if i})
    return {d.id: d for d in session.exec(select(Department).where(col(Department.id).in_(wanted)))} if wanted else {}


def cc_people(session: Session, record_ids: Sequence[int | None]) -> dict[int, list[int]]:
    """Each record's cc list as people: the leaders named, and the leads of the departments copied."""
    found: dict[int, list[int]] = defaultdict(list)
    wanted = [r for r in record_ids if r]
    if not wanted:
        return found
    rows = session.exec(
        select(CarbonCopy.record_id, CarbonCopy.person_id, Department.lead_id)
        .outerjoin(Department, col(Department.id) == CarbonCopy.department_id)
        .where(col(CarbonCopy.record_id).in_(wanted))
    )
    for record_id, person_id, lead_id in rows:
        if person_id or lead_id:
            found[record_id].append(person_id or lead_id)
    return found


def participants_of(
    session: Session, record_ids: Sequence[int], *, unconfirmed_only: bool = False
) -> dict[int, list[Person]]:
    found: dict[int, list[Person]] = defaultdict(list)
    if not record_ids:
        return found
    query = (
        select(Participant.record_id, Person)
        .join(Person, col(Person.id) == Participant.person_id)
        .where(col(Participant.record_id).in_(list(record_ids)))
    )
    if unconfirmed_only:
        query = query.where(col(Participant.confirmed_at).is_(None))
    for record_id, person in session.exec(query.order_by(col(Participant.id))):
        found[record_id].append(person)
    return found


def pending_approvals(session: Session) -> list[tuple[ResourceRequest, Record]]:
    """Resource requests sent to their approver and still pending, on records still open to a decision."""
    query = (
        select(ResourceRequest, Record)
        .join(Record, col(Record.id) == ResourceRequest.record_id)
        .where(ResourceRequest.status == ResourceStatus.PENDING, col(ResourceRequest.requested_at).is_not(None),
               col(ResourceRequest.approver_id).is_not(None),
               col(Record.status).in_([RecordStatus.CONFIRMING, *ACTIVE]))
        .order_by(col(ResourceRequest.id))
    )  # fmt: skip
    return [(request, record) for request, record in session.exec(query)]


def declined(
    session: Session,
    record_ids: Sequence[int],
) -> dict[tuple[int, datetime], set[int]]:
    """Who answered a meeting notice with 不能参加, by (record, meeting time): not reminded of that meeting."""
    found: dict[tuple[int, datetime], set[int]] = defaultdict(set)
    for part in chunks(list(record_ids)):
        query = select(MeetingReply.record_id, MeetingReply.meeting_at, MeetingReply.person_id).where(
            col(MeetingReply.record_id).in_(part), col(MeetingReply.attending).is_(False)
        )
        for record_id, at, person_id in session.exec(query):
            found[(record_id, at)].add(person_id)
    return found
