"""Action items (解决方案): add, edit, cancel, report progress, complete.

Same contract as ``storage.lifecycle``: keyword arguments, the caller's
transaction, an audit row per change, a ``DomainError`` and no write when refused.
A delayed record goes back to 进行中 by itself once none of its open items is
overdue any more (the item was completed, cancelled or given a new deadline).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, select

from storage.errors import InvalidTransition, NotFound, PermissionDenied, ValidationFailed, message
from storage.lifecycle import (
    ACTIVE_STATUSES,
    Actor,
    audit,
    load_record,
    open_items,
    require_member,
    require_recorder,
    require_status,
    require_text,
    touch,
)
from storage.models import ActionItem, ProgressUpdate, Record
from storage.rules import ActionItemInput, check_action_item
from storage.types import AuditAction, ItemStatus, ItemTerm, RecordStatus

EDITABLE_RECORD_STATUSES = (RecordStatus.DRAFT, RecordStatus.CONFIRMING, *ACTIVE_STATUSES)


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
    row = ActionItem(
        record_id=record.id,
        seq=(last or 0) + 1,
        description=item.description.strip(),
        owner_id=item.owner_ids[0],
        department_id=item.department_id,
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
    return row


def edit_item(*, session: Session, item_id: int, by: Actor, item: ActionItemInput, now: datetime) -> ActionItem:
    """Rewrite an open item. A new deadline re-arms its warning (the scheduler keys on it)."""
    row, record = load_item(session, item_id)
    require_status(record, EDITABLE_RECORD_STATUSES, "edit_item")
    _require_open(record, row, "edit_item")
    _require_owner_or_recorder(record, row, by, "edit_item")
    _checked(item, now)
    before = {"owner_id": row.owner_id, "due_at": row.due_at.isoformat(), "description": row.description}
    row.description = item.description.strip()
    row.owner_id = item.owner_ids[0]
    row.department_id = item.department_id
    row.due_at = item.due_at  # type: ignore[assignment]  # checked above: not None
    row.measure = (item.measure or "").strip() or None
    row.resources = (item.resources or "").strip() or None
    row.term = ItemTerm(item.term)
    row.updated_at = now
    session.add(row)
    touch(record, now)
    audit(session, record=record, item=row, action=AuditAction.ITEM_EDITED, by=by, now=now, before=before)
    _settle_delay(session, record, by=by, now=now)
    return row


def cancel_item(*, session: Session, item_id: int, by: Actor, reason: str, now: datetime) -> ActionItem:
    """Only the recorder or an admin cancels, and always with a reason."""
    row, record = load_item(session, item_id)
    require_status(record, EDITABLE_RECORD_STATUSES, "cancel_item")
    _require_open(record, row, "cancel_item")
    require_recorder(record, by, "cancel_item")
    row.cancel_reason = require_text("reason", reason)
    row.status = ItemStatus.CANCELLED
    row.updated_at = now
    session.add(row)
    touch(record, now)
    audit(session, record=record, item=row, action=AuditAction.ITEM_CANCELLED, by=by, now=now, reason=row.cancel_reason)
    _settle_delay(session, record, by=by, now=now)
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
