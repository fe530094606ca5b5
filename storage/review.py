"""The monthly review (复盘): the figures, computed by a few aggregate queries per time zone.

What the seed asks of the review — which problem types keep coming back, which
departments carry the load, how many items finish on time — for one group, or for
every group of a workspace (``/report all``). The database does the counting:
grouped counts, and individual rows only where a workday difference must be taken
(records closed in the month, items finished late or still overdue), so a
workspace of 10,000 groups × 100 records stays within seconds (``bench/review.py``).

A month is the group's own calendar month in its time zone; a workspace whose
groups sit in several zones (or holiday calendars) is read one zone at a time and
the figures added up. Workdays follow the group's calendar (statutory holidays,
make-up workdays, the workspace's overrides).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from statistics import median
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, case, func, or_
from sqlmodel import Session, col, select

from storage.directory import calendar_for_group
from storage.models import ActionItem, AuditEntry, Department, Group, Record, ResourceRequest
from storage.timekeeping import WorkdayCalendar, local_to_utc, to_local, zone
from storage.types import NOT_IN_REGISTER, OPEN_RECORD_STATUSES, AuditAction, ItemStatus, RecordStatus, ResourceStatus

# The audit actions that mean "this item got a new due date". One place, so a new way of rescheduling is
# counted by adding its action here.
RESCHEDULE_ACTIONS: tuple[AuditAction, ...] = (AuditAction.ITEM_RESCHEDULED,)
TREND_MONTHS = 6  # months of category counts kept (the chart); the card shows the last three
RECURRING_IN_MONTH = 2  # records of one type in the month …
RECURRING_STREAK = 3  # … or present in this many consecutive months: a type that recurs
RECORDS_PER_CATEGORY = 10  # records listed behind each type
UNCATEGORISED = "uncategorised"


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    @classmethod
    def of(cls, day: date) -> Month:
        return cls(day.year, day.month)

    def shift(self, months: int) -> Month:
        index = self.year * 12 + self.month - 1 + months
        return Month(index // 12, index % 12 + 1)

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    def bounds(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """[start, end) of the month in ``tz``, as UTC instants."""
        return local_to_utc(self.first_day, time(0), tz), local_to_utc(self.shift(1).first_day, time(0), tz)

    def __str__(self) -> str:
        return f"{self.year}-{self.month:02d}"


@dataclass(frozen=True)
class Scope:
    """One group, or (``group_id=None``) every group of the workspace."""

    workspace: str
    group_id: int | None = None

    @property
    def workspace_wide(self) -> bool:
        return self.group_id is None


@dataclass(frozen=True)
class RecordLine:
    id: int
    topic: str
    status: RecordStatus

    @property
    def ref(self) -> str:
        return f"R{self.id}"


@dataclass
class CategoryTrend:
    """One problem type: records per month (oldest first; the last is the review's month) and the records behind it."""

    category: str
    counts: list[int]
    records: list[RecordLine] = field(default_factory=list)

    @property
    def this_month(self) -> int:
        return self.counts[-1]

    @property
    def recurs_in_month(self) -> bool:
        return self.category != UNCATEGORISED and self.this_month >= RECURRING_IN_MONTH

    @property
    def recurs_in_a_row(self) -> bool:
        return self.category != UNCATEGORISED and all(n > 0 for n in self.counts[-RECURRING_STREAK:])

    @property
    def recurring(self) -> bool:
        return self.recurs_in_month or self.recurs_in_a_row


@dataclass
class DepartmentLoad:
    """Items a department owns: due in the month and how they went, and what it holds open now."""

    name: str | None  # None: items whose owner has no department
    due: int = 0
    on_time: int = 0
    late: int = 0  # finished after the deadline, or still open past it
    open_now: int = 0
    overdue_now: int = 0

    @property
    def on_time_rate(self) -> float | None:
        decided = self.on_time + self.late
        return self.on_time / decided if decided else None


@dataclass
class ResourceTotal:
    status: ResourceStatus
    unit: str | None
    requests: int
    amount: Decimal | None


@dataclass
class Review:
    """The figures of one month; every count is of the scope's groups."""

    month: Month
    scope: Scope
    months: list[Month]  # the trend's months, oldest first, ending with ``month``
    records_opened: int = 0
    records_closed: int = 0
    records_open_at_end: int = 0  # opened by the month's end and not closed by then
    close_workdays: list[int] = field(default_factory=list)  # one per record closed in the month
    items_due: int = 0  # due in the month, not cancelled
    items_on_time: int = 0
    items_done_late: int = 0
    items_overdue: int = 0  # due in the month, still open past the deadline
    items_pending: int = 0  # due in the month, open, deadline not reached yet
    items_cancelled: int = 0
    late_workdays: Counter[int] = field(default_factory=Counter)  # workdays late → items (done late or overdue)
    reschedules: int = 0
    rescheduled_items: int = 0
    categories: list[CategoryTrend] = field(default_factory=list)  # ranked: most records this month first
    departments: list[DepartmentLoad] = field(default_factory=list)  # most open items first
    escalations: Counter[str] = field(default_factory=Counter)  # "1", "2" (the overdue ladder), "manual"
    resources: list[ResourceTotal] = field(default_factory=list)

    @property
    def median_close_workdays(self) -> float | None:
        return median(self.close_workdays) if self.close_workdays else None

    @property
    def slowest_close_workdays(self) -> int | None:
        return max(self.close_workdays) if self.close_workdays else None

    @property
    def items_late(self) -> int:
        return self.items_done_late + self.items_overdue

    @property
    def on_time_rate(self) -> float | None:
        decided = self.items_on_time + self.items_late
        return self.items_on_time / decided if decided else None

    @property
    def recurring(self) -> list[CategoryTrend]:
        return [c for c in self.categories if c.recurring]


class WorkdaySpan:
    """Workdays in (start, end] for many pairs of days, each in O(1) after one pass over the calendar."""

    def __init__(self, calendar: WorkdayCalendar, first: date, last: date) -> None:
        self.first = first
        self.count = [0]
        for offset in range((last - first).days + 1):
            self.count.append(self.count[-1] + calendar.is_workday(first + timedelta(days=offset)))

    def between(self, start: date, end: date) -> int:
        """Workdays after ``start`` up to and including ``end`` (0 when ``end`` is not after ``start``)."""
        if end <= start:
            return 0
        return self.count[(end - self.first).days + 1] - self.count[(start - self.first).days + 1]


@dataclass(frozen=True)
class _Zone:
    """Groups of the scope that share a time zone and a holiday calendar."""

    tz: ZoneInfo
    calendar: WorkdayCalendar
    groups: Any  # a SQL condition on a group id column: applied as groups(Record.group_id)

    def of(self, column: Any) -> ColumnElement[bool]:
        return self.groups(column)


def review(session: Session, *, scope: Scope, month: Month, now: datetime) -> Review:
    """The review of ``month`` for ``scope``, as of ``now`` (what is overdue or open now)."""
    result = Review(month=month, scope=scope, months=[month.shift(n) for n in range(1 - TREND_MONTHS, 1)])
    trends: dict[str, CategoryTrend] = {}
    departments: dict[int | None, DepartmentLoad] = {}
    resources: dict[tuple[ResourceStatus, str | None], ResourceTotal] = {}
    for part in _zones(session, scope):
        _records(session, part, result, now, trends)
        _items(session, part, result, now, departments)
        _audit(session, part, result)
        _resources(session, part, result, resources)
    names = _department_names(session, [d for d in departments if d is not None])
    for department_id, load in departments.items():
        load.name = names.get(department_id) if department_id is not None else None
    result.categories = sorted(trends.values(), key=lambda c: (-c.this_month, -sum(c.counts), c.category))
    result.departments = sorted(departments.values(), key=lambda d: (-d.open_now, -d.due, d.name or "\uffff"))
    result.resources = sorted(resources.values(), key=lambda r: (list(ResourceStatus).index(r.status), r.unit or ""))
    return result


def _zones(session: Session, scope: Scope) -> list[_Zone]:
    if scope.group_id is not None:
        group = session.get(Group, scope.group_id)
        if group is None:
            return []
        gid = scope.group_id
        return [_Zone(zone(group.timezone), calendar_for_group(session, group), lambda column: column == gid)]
    zones = []
    pairs = session.exec(
        select(Group.timezone, Group.holiday_country).where(Group.workspace == scope.workspace).distinct()
    ).all()
    for tz_name, country in sorted(pairs):
        sample = session.exec(
            select(Group).where(Group.workspace == scope.workspace, Group.timezone == tz_name,
                                Group.holiday_country == country)
        ).first()  # fmt: skip
        ids = select(Group.id).where(Group.workspace == scope.workspace, Group.timezone == tz_name,
                                     Group.holiday_country == country)  # fmt: skip
        zones.append(_Zone(zone(tz_name), calendar_for_group(session, sample), lambda column, ids=ids: column.in_(ids)))  # type: ignore[arg-type, misc]
    return zones


# ---------------------------------------------------------------- records


def _records(session: Session, part: _Zone, result: Review, now: datetime, trends: dict[str, CategoryTrend]) -> None:
    bounds = [m.bounds(part.tz) for m in result.months]
    start, end = bounds[-1]
    counted = and_(part.of(col(Record.group_id)), col(Record.status).not_in(NOT_IN_REGISTER))
    which_month = case(*[(col(Record.created_at) < b_end, index) for index, (_, b_end) in enumerate(bounds)])
    rows = session.exec(
        select(which_month, Record.category, func.count())
        .where(counted, col(Record.created_at) >= bounds[0][0], col(Record.created_at) < end)
        .group_by(which_month, col(Record.category))
    ).all()  # fmt: skip
    for index, category, count in rows:
        key = category.value if category else UNCATEGORISED
        trend = trends.setdefault(key, CategoryTrend(key, [0] * len(bounds)))
        trend.counts[index] += count
        if index == len(bounds) - 1:
            result.records_opened += count
    _records_behind(session, counted, start, end, trends)
    closed = session.exec(
        select(Record.created_at, Record.closed_at)
        .where(counted, col(Record.closed_at) >= start, col(Record.closed_at) < end)
    ).all()  # fmt: skip
    result.records_closed += len(closed)
    if closed:
        days = [(to_local(opened, part.tz).date(), to_local(shut, part.tz).date()) for opened, shut in closed]
        span = WorkdaySpan(part.calendar, min(d for d, _ in days), max(d for _, d in days))
        result.close_workdays = sorted([*result.close_workdays, *(span.between(a, b) for a, b in days)])
    result.records_open_at_end += session.exec(
        select(func.count()).select_from(Record).where(
            counted, col(Record.created_at) < end, or_(col(Record.closed_at).is_(None), col(Record.closed_at) >= end)
        )
    ).one()  # fmt: skip


def _records_behind(
    session: Session, counted: Any, start: datetime, end: datetime, trends: dict[str, CategoryTrend]
) -> None:
    """The month's records of each type, the first ``RECORDS_PER_CATEGORY`` of each (a window, not every row)."""
    rank = func.row_number().over(partition_by=col(Record.category), order_by=col(Record.id)).label("rank")
    inner = (
        select(Record.id, Record.topic, Record.status, Record.category, rank)
        .where(counted, col(Record.created_at) >= start, col(Record.created_at) < end)
        .subquery()
    )
    rows = session.exec(
        select(inner.c.id, inner.c.topic, inner.c.status, inner.c.category).where(inner.c.rank <= RECORDS_PER_CATEGORY)
    ).all()
    for record_id, topic, status, category in rows:
        key = category or UNCATEGORISED
        lines = trends[str(key)].records
        lines.append(RecordLine(record_id, topic, RecordStatus(status)))
        lines.sort(key=lambda line: line.id)
        del lines[RECORDS_PER_CATEGORY:]


# ---------------------------------------------------------------- action items


def _items(session: Session, part: _Zone, result: Review, now: datetime,
           departments: dict[int | None, DepartmentLoad]) -> None:  # fmt: skip
    start, end = result.month.bounds(part.tz)
    outcome = case(
        (ActionItem.status == ItemStatus.CANCELLED, "cancelled"),
        (and_(ActionItem.status == ItemStatus.DONE, col(ActionItem.done_at) <= col(ActionItem.due_at)), "on_time"),
        (ActionItem.status == ItemStatus.DONE, "late"),
        (col(ActionItem.due_at) < now, "overdue"),
        else_="pending",
    )
    in_scope = and_(part.of(col(Record.group_id)), col(Record.status).not_in(NOT_IN_REGISTER))
    due_in_month = and_(in_scope, col(ActionItem.due_at) >= start, col(ActionItem.due_at) < end)
    joined = select(ActionItem.department_id, outcome, func.count()).join(
        Record, col(Record.id) == ActionItem.record_id
    )
    for department_id, kind, count in session.exec(
        joined.where(due_in_month).group_by(col(ActionItem.department_id), outcome)
    ):
        load = departments.setdefault(department_id, DepartmentLoad(None))
        if kind == "cancelled":
            result.items_cancelled += count
            continue
        load.due += count
        result.items_due += count
        if kind == "on_time":
            load.on_time += count
            result.items_on_time += count
        elif kind == "pending":
            result.items_pending += count
        else:
            load.late += count
            if kind == "late":
                result.items_done_late += count
            else:
                result.items_overdue += count
    late = session.exec(
        select(ActionItem.due_at, ActionItem.done_at).join(Record, col(Record.id) == ActionItem.record_id)
        .where(due_in_month, ActionItem.status != ItemStatus.CANCELLED,
               or_(col(ActionItem.done_at) > col(ActionItem.due_at),
                   and_(ActionItem.status == ItemStatus.OPEN, col(ActionItem.due_at) < now)))
    ).all()  # fmt: skip
    if late:
        days = [(to_local(due, part.tz).date(), to_local(done or now, part.tz).date()) for due, done in late]
        span = WorkdaySpan(part.calendar, min(d for d, _ in days), max(d for _, d in days))
        result.late_workdays.update(span.between(a, b) for a, b in days)
    open_now = session.exec(
        select(ActionItem.department_id, func.count(), func.sum(case((col(ActionItem.due_at) < now, 1), else_=0)))
        .join(Record, col(Record.id) == ActionItem.record_id)
        .where(part.of(col(Record.group_id)), col(Record.status).in_(OPEN_RECORD_STATUSES),
               ActionItem.status == ItemStatus.OPEN)
        .group_by(col(ActionItem.department_id))
    ).all()  # fmt: skip
    for department_id, count, overdue in open_now:
        load = departments.setdefault(department_id, DepartmentLoad(None))
        load.open_now += count
        load.overdue_now += int(overdue or 0)


def _department_names(session: Session, ids: Sequence[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.exec(select(Department.id, Department.name).where(col(Department.id).in_(sorted(ids))))
    return {department_id: name for department_id, name in rows}


# ---------------------------------------------------------------- the audit trail: reschedules, escalations


def _audit(session: Session, part: _Zone, result: Review) -> None:
    start, end = result.month.bounds(part.tz)
    in_month = and_(part.of(col(Record.group_id)), col(AuditEntry.at) >= start, col(AuditEntry.at) < end)
    joined = select(func.count(), func.count(func.distinct(AuditEntry.action_item_id))).join(
        Record, col(Record.id) == AuditEntry.record_id
    )
    reschedules, items = session.exec(joined.where(in_month, col(AuditEntry.action).in_(RESCHEDULE_ACTIONS))).one()
    result.reschedules += reschedules
    result.rescheduled_items += items
    level = col(AuditEntry.detail)["level"].as_string()
    rows = session.exec(
        select(level, func.count()).join(Record, col(Record.id) == AuditEntry.record_id)
        .where(in_month, AuditEntry.action == AuditAction.ESCALATED).group_by(level)
    ).all()  # fmt: skip
    for name, count in rows:
        result.escalations[str(name) if name is not None else "manual"] += count


# ---------------------------------------------------------------- resources


def _resources(session: Session, part: _Zone, result: Review,
               totals: dict[tuple[ResourceStatus, str | None], ResourceTotal]) -> None:  # fmt: skip
    """Requests of the records opened in the month, by decision and unit (元 and 台 do not add up)."""
    start, end = result.month.bounds(part.tz)
    rows = session.exec(
        select(ResourceRequest.status, ResourceRequest.unit, func.count(), func.sum(ResourceRequest.amount))
        .join(Record, col(Record.id) == ResourceRequest.record_id)
        .where(part.of(col(Record.group_id)), col(Record.status).not_in(NOT_IN_REGISTER),
               col(Record.created_at) >= start, col(Record.created_at) < end)
        .group_by(col(ResourceRequest.status), col(ResourceRequest.unit))
    ).all()  # fmt: skip
    for status, unit, count, amount in rows:
        key = (ResourceStatus(status), unit)
        total = totals.setdefault(key, ResourceTotal(key[0], unit, 0, None))
        total.requests += count
        if amount is not None:
            total.amount = (total.amount or Decimal(0)) + Decimal(amount)


def months_back(now: datetime, tz: ZoneInfo, months: int = 0) -> Month:
    """The month ``months`` before the one ``now`` falls in, in ``tz``."""
    return Month.of(to_local(now, tz).date()).shift(-months)
