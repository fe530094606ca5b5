"""Action items (解决方案): add, edit, reschedule, reassign, cancel, snooze, report progress, complete.

Same contract as ``storage.lifecycle``: keyword arguments, the caller's
transaction, an audit row per change, a ``DomainError`` and no write when refused.
A delayed record goes back to 进行中 by itself once none of its open items is
overdue any more (the item was completed, cancelled or given a new deadline).

Changing the plan (edit, reschedule, reassign) is for the item's owner, the
recorder or an admin; cancelling is for the recorder or an admin, always with a
reason. Each is a substantive change once the record is submitted: the owner
concerned signs again (``storage.signoff``). The scheduler keys its deadline
warning and overdue ladder on the item's due date, so a new date re-arms both and
a cancelled item leaves them. An item's department is the one its owner takes
part in this record with, else the owner's own department.

A snooze (暂缓) pauses only the end-of-day prompt for an item, through a given
local day: at most ``MAX_SNOOZE_WORKDAYS`` workdays counted from today, never past
the item's deadline. The deadline warning and the ladder still run.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from storage import signoff
from storage.directory import calendar_for_group
from storage.errors import InvalidTransition, NotFound, PermissionDenied, ValidationFailed, message
from storage.models import ActionItem, Group, Participant, Person, ProgressUpdate, Record
from storage.rules import ActionItemInput, check_action_item, field_label
from storage.steps import (
    ACTIVE_STATUSES,
    Actor,
    audit,
    load_record,
    name_of,
    open_items,
    require_member,
    require_status,
    require_text,
    shown,
    touch,
    zone_of,
)
from storage.timekeeping import format_local, to_local, zone
from storage.types import AuditAction, ItemStatus, ItemTerm, RecordStatus

EDITABLE_RECORD_STATUSES = (RecordStatus.DRAFT, RecordStatus.CONFIRMING, *ACTIVE_STATUSES)
MAX_SNOOZE_WORKDAYS = 5


def load_item(session: Session, item_id: int) -> tuple[ActionItem, Record]:
    item = session.get(ActionItem, item_id)
    if item is None:
        raise NotFound("item.not_found", ref=f"#{item_id}")
    return item, load_record(session, item.record_id)


def find_item(session: Session, *, record_id: int, seq: int) -> ActionItem:
    """The item a user calls ``R12-2``."""
    item = session.exec(select(ActionItem).where(ActionItem.record_id == record_id, ActionItem.seq == seq)).first()
    if item is None:
        raise NotFound("item.not_found", ref=f"R{record_id}-{seq}")
    return item


def item_ref(record: Record, item: ActionItem) -> str:
    return f"{record.ref}-{item.seq}"


def _checked(item: ActionItemInput, now: datetime) -> None:
    checked = check_action_item(item, now=now)
    if not checked.ok:
        raise ValidationFailed(checked.errors, checked.warnings)


def _require_open(record: Record, item: ActionItem, attempted: str) -> None:
    if item.status is not ItemStatus.OPEN:
        raise InvalidTransition(
            "item.not_open", ref=item_ref(record, item), status=message(f"item_status.{item.status.value}"),
            attempted=message(f"action.{attempted}"),
        )  # fmt: skip


def _require_owner_or_recorder(record: Record, item: ActionItem, by: Actor, attempted: str) -> None:
    if by.is_admin or by.person_id in (item.owner_id, record.recorder_id):
        return
    raise PermissionDenied("perm.owner_only", ref=item_ref(record, item), attempted=message(f"action.{attempted}"))


def department_in_record(session: Session, record: Record, person_id: int) -> int | None:
    """The department ``person_id`` takes part in ``record`` with, else their own."""
    query = select(Participant.department_id).where(Participant.record_id == record.id,
                                                    Participant.person_id == person_id)  # fmt: skip
    found = session.exec(query).first()
    if found:
        return found
    person = session.get(Person, person_id)
    return person.department_id if person else None


def _due(session: Session, record: Record, at: datetime) -> str:
    return format_local(at, zone_of(session, record))


def _settle_delay(session: Session, record: Record, *, by: Actor, now: datetime) -> None:
    """已延期 → 进行中 when nothing open is past its deadline any more."""
    if record.status is not RecordStatus.DELAYED:
        return
    if any(item.due_at < now for item in open_items(session, record)):
        return
    record.status = RecordStatus.IN_PROGRESS
    record.delayed_at = None
    audit(session, record=record, action=AuditAction.RECORD_EDITED, by=by, now=now, fields=["status"], resumed=True)


def add_item(*, session: Session, record_id: int, by: Actor, item: ActionItemInput, now: datetime) -> ActionItem:
    record = load_record(session, record_id)
    require_status(record, EDITABLE_RECORD_STATUSES, "add_item")
    require_member(session, record, by, "add_item")
    _checked(item, now)
    last = session.exec(select(func.max(ActionItem.seq)).where(ActionItem.record_id == record.id)).one()
    owner_id = int(item.owner_ids[0])
    row = ActionItem(
        record_id=record.id,
        seq=(last or 0) + 1,
        description=item.description.strip(),
        owner_id=owner_id,
        department_id=item.department_id or department_in_record(session, record, owner_id),
        due_at=item.due_at,
        measure=(item.measure or "").strip() or None,
        resources=(item.resources or "").strip() or None,
        term=ItemTerm(item.term),
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    touch(record, now)
    audit(session, record=record, item=row, action=AuditAction.ITEM_ADDED, by=by, now=now, seq=row.seq)
    change = message("change.item_added", ref=item_ref(record, row), description=row.description,
                     owner=name_of(session, owner_id), due=_due(session, record, row.due_at))  # fmt: skip
    signoff.require_again(session, record, people=[owner_id], change=change, by=by, now=now)
    return row


def edit_item(*, session: Session, item_id: int, by: Actor, item: ActionItemInput, now: datetime) -> ActionItem:
    """Rewrite an open item. A new deadline re-arms its warning (the scheduler keys on it)."""
    row, record = load_item(session, item_id)
    require_status(record, EDITABLE_RECORD_STATUSES, "edit_item")
    _require_open(record, row, "edit_item")
    _require_owner_or_recorder(record, row, by, "edit_item")
    _checked(item, now)
    before = {"owner_id": row.owner_id, "due_at": row.due_at.isoformat(), "description": row.description,
              "measure": row.measure, "resources": row.resources, "term": row.term.value}  # fmt: skip
    owner_id = int(item.owner_ids[0])
    row.description = item.description.strip()
    if owner_id != row.owner_id:
        row.department_id = item.department_id or department_in_record(session, record, owner_id)
    elif item.department_id:
        row.department_id = item.department_id
    row.owner_id = owner_id
    row.due_at = item.due_at  # type: ignore[assignment]  # checked above: not None
    row.measure = (item.measure or "").strip() or None
    row.resources = (item.resources or "").strip() or None
    row.term = ItemTerm(item.term)
    after = {"owner_id": row.owner_id, "due_at": row.due_at.isoformat(), "description": row.description,
             "measure": row.measure, "resources": row.resources, "term": row.term.value}  # fmt: skip
    if after == before:
        return row
    if row.owner_id != before["owner_id"] or (
        row.snoozed_until and row.snoozed_until > _local_day(session, record, row.due_at)
    ):
        row.snoozed_until, row.snooze_reason = None, None
    row.updated_at = now
    session.add(row)
    touch(record, now)
    audit(session, record=record, item=row, action=AuditAction.ITEM_EDITED, by=by, now=now, before=before,
          after={k: v for k, v in after.items() if before[k] != v})  # fmt: skip
    for field in (k for k in after if before[k] != after[k]):
        old, new = (
            _shown_item_value(session, record, field, before[field]),
            _shown_item_value(session, record, field, after[field]),
        )
        change = message("change.item_field", ref=item_ref(record, row), label=field_label(_ITEM_LABELS[field]),
                         old=old, new=new)  # fmt: skip
        signoff.require_again(session, record, people=[row.owner_id], change=change, by=by, now=now)
    _settle_delay(session, record, by=by, now=now)
    return row


def _shown_item_value(session: Session, record: Record, field: str, value: Any) -> Any:
    """An item's field as a change notice shows it: a name, a local date, a term in words, short text."""
    if field == "owner_id":
        return name_of(session, value)
    if field == "due_at":
        return _due(session, record, datetime.fromisoformat(value))
    if field == "term":
        return message(f"item_term.{value}")
    return shown(value)


_ITEM_LABELS = {"owner_id": "owner", "due_at": "due", "description": "description", "measure": "measure",
                "resources": "resources", "term": "term"}  # fmt: skip


def cancel_item(*, session: Session, item_id: int, by: Actor, reason: str, now: datetime) -> ActionItem:
    """The owner, the recorder or an admin cancels, always with a reason.

    The other of the two (owner, recorder) signs again: an owner cannot drop
    their own task without the recorder agreeing, nor the recorder without the owner.
    """
    row, record = load_item(session, item_id)
    require_status(record, EDITABLE_RECORD_STATUSES, "cancel_item")
    _require_open(record, row, "cancel_item")
    _require_owner_or_recorder(record, row, by, "cancel_item")
    row.cancel_reason = require_text("reason", reason)
    row.status = ItemStatus.CANCELLED
    row.updated_at = now
    session.add(row)
    touch(record, now)
    audit(session, record=record, item=row, action=AuditAction.ITEM_CANCELLED, by=by, now=now, reason=row.cancel_reason)
    change = message("change.item_cancelled", ref=item_ref(record, row), reason=row.cancel_reason)
    signoff.require_again(session, record, people=[row.owner_id, record.recorder_id], change=change, by=by, now=now)
    _settle_delay(session, record, by=by, now=now)
    return row


def reschedule_item(
    *, session: Session, item_id: int, by: Actor, due_at: datetime, reason: str, now: datetime
) -> ActionItem:
    """改期: a new deadline with a reason (the overdue notice asks for one). Not in the past, not the same."""
    row, record = load_item(session, item_id)
    require_status(record, EDITABLE_RECORD_STATUSES, "reschedule")
    _require_open(record, row, "reschedule")
    _require_owner_or_recorder(record, row, by, "reschedule")
    reason = require_text("reason", reason)
    if due_at < now:
        raise ValidationFailed({"due": message("item.due_past")})
    if due_at == row.due_at:
        raise ValidationFailed({"due": message("item.due_unchanged", due=_due(session, record, due_at))})
    old = row.due_at
    row.due_at = due_at
    if row.snoozed_until and row.snoozed_until > _local_day(session, record, due_at):
        row.snoozed_until, row.snooze_reason = None, None
    row.updated_at = now
    session.add(row)
    touch(record, now)
    audit(session, record=record, item=row, action=AuditAction.ITEM_RESCHEDULED, by=by, now=now,
          old=old.isoformat(), new=due_at.isoformat(), reason=reason)  # fmt: skip
    change = message("change.item_due", ref=item_ref(record, row), old=_due(session, record, old),
                     new=_due(session, record, due_at))  # fmt: skip
    signoff.require_again(session, record, people=[row.owner_id], change=change, by=by, now=now)
    _settle_delay(session, record, by=by, now=now)
    return row


def reassign_item(
    *, session: Session, item_id: int, by: Actor, owner_id: int, reason: str | None, now: datetime
) -> ActionItem:
    """转交: a new owner. The department follows the new owner's in this record (else their own);
    a new owner who takes part in the record is asked to sign what they now own."""
    row, record = load_item(session, item_id)
    require_status(record, EDITABLE_RECORD_STATUSES, "reassign")
    _require_open(record, row, "reassign")
    _require_owner_or_recorder(record, row, by, "reassign")
    reason = require_text("reason", reason) if (reason or "").strip() else None
    if owner_id == row.owner_id:
        raise ValidationFailed({"owner": message("item.same_owner", name=name_of(session, owner_id))})
    if session.get(Person, owner_id) is None:
        raise NotFound("person.not_found", ref=f"#{owner_id}")
    old = row.owner_id
    row.owner_id = owner_id
    row.department_id = department_in_record(session, record, owner_id)
    row.snoozed_until, row.snooze_reason = None, None
    row.updated_at = now
    session.add(row)
    touch(record, now)
    audit(session, record=record, item=row, action=AuditAction.ITEM_REASSIGNED, by=by, now=now, old=old,
          new=owner_id, reason=reason)  # fmt: skip
    change = message("change.item_owner", ref=item_ref(record, row), old=name_of(session, old),
                     new=name_of(session, owner_id))  # fmt: skip
    signoff.require_again(session, record, people=[owner_id], change=change, by=by, now=now)
    return row


def _local_day(session: Session, record: Record, at: datetime) -> date:
    return to_local(at, zone_of(session, record)).date()


def snooze_item(*, session: Session, item_id: int, by: Actor, until: date, reason: str, now: datetime) -> ActionItem:
    """暂缓: no end-of-day prompt for this item through ``until`` (a day in the group's zone)."""
    row, record = load_item(session, item_id)
    require_status(record, ACTIVE_STATUSES, "snooze")
    _require_open(record, row, "snooze")
    _require_owner_or_recorder(record, row, by, "snooze")
    reason = require_text("reason", reason)
    group = session.get(Group, record.group_id)
    assert group is not None
    tz = zone(group.timezone)
    today, due_day = to_local(now, tz).date(), to_local(row.due_at, tz).date()
    if until < today:
        raise ValidationFailed({"until": message("snooze.past", until=until.isoformat())})
    if until > due_day:
        raise ValidationFailed({"until": message("snooze.past_deadline", until=until.isoformat(),
                                                 due=format_local(row.due_at, tz))})  # fmt: skip
    calendar = calendar_for_group(session, group)
    days = calendar.workdays_between(today, date.fromordinal(until.toordinal() + 1))
    if days > MAX_SNOOZE_WORKDAYS:
        raise ValidationFailed({"until": message("snooze.too_long", days=days, most=MAX_SNOOZE_WORKDAYS)})
    row.snoozed_until, row.snooze_reason = until, reason
    row.updated_at = now
    session.add(row)
    touch(record, now, content=False)
    audit(session, record=record, item=row, action=AuditAction.ITEM_SNOOZED, by=by, now=now,
          until=until.isoformat(), reason=reason)  # fmt: skip
    return row


def record_progress(
    *,
    session: Session,
    item_id: int,
    by: Actor,
    text: str,
    now: datetime,
    percent: int | None = None,
    blocked: bool = False,
) -> ProgressUpdate:
    """The owner's daily report (下班前汇报进度)."""
    row, record = load_item(session, item_id)
    require_status(record, ACTIVE_STATUSES, "progress")
    _require_open(record, row, "progress")
    _require_owner_or_recorder(record, row, by, "progress")
    text = require_text("progress", text)
    if percent is not None and not 0 <= percent <= 100:
        raise ValidationFailed({"percent": message("progress.bad_percent", percent=percent)})
    update = ProgressUpdate(
        action_item_id=row.id, person_id=by.person_id, text=text, percent=percent, blocked=blocked, created_at=now
    )
    session.add(update)
    touch(record, now, content=False)
    audit(session, record=record, item=row, action=AuditAction.ITEM_PROGRESS, by=by, now=now, percent=percent,
          blocked=blocked)  # fmt: skip
    return update


def complete_item(*, session: Session, item_id: int, by: Actor, result: str, now: datetime) -> ActionItem:
    row, record = load_item(session, item_id)
    require_status(record, ACTIVE_STATUSES, "complete")
    _require_open(record, row, "complete")
    _require_owner_or_recorder(record, row, by, "complete")
    row.result = require_text("result", result)
    row.status = ItemStatus.DONE
    row.done_at = now
    row.updated_at = now
    session.add(row)
    touch(record, now, content=False)
    audit(
        session, record=record, item=row, action=AuditAction.ITEM_COMPLETED, by=by, now=now, on_time=now <= row.due_at
    )
    _settle_delay(session, record, by=by, now=now)
    return row
