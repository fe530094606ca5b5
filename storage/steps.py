"""The steps every lifecycle function shares: load and lock, audit, version, status and permission checks.

``storage.lifecycle`` re-exports them, so ``from storage.lifecycle import audit`` keeps working;
they live here so the lifecycle, the items, the resources, the meetings and the
sign-off rules can use them without importing each other.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from storage.errors import InvalidTransition, NotFound, PermissionDenied, StaleVersion, ValidationFailed, message
from storage.models import ActionItem, AuditEntry, CarbonCopy, Department, Group, Participant, Person, Record
from storage.rules import RULES, field_label
from storage.timekeeping import zone
from storage.types import AuditAction, ItemStatus, RecordStatus

ACTIVE_STATUSES = (RecordStatus.IN_PROGRESS, RecordStatus.DELAYED)


@dataclass(frozen=True)
class Actor:
    """Who asks for a change: a person, and whether they administer the workspace."""

    person_id: int
    is_admin: bool = False


def load_record(session: Session, record_id: int, *, for_update: bool = True) -> Record:
    """The record, locked for the rest of the transaction (PostgreSQL) so changes serialize."""
    query = select(Record).where(Record.id == record_id)
    if for_update:
        query = query.with_for_update()
    record = session.exec(query).first()
    if record is None:
        raise NotFound("record.not_found", ref=f"R{record_id}")
    return record


def audit(
    session: Session,
    *,
    record: Record,
    action: AuditAction,
    by: Actor | None,
    now: datetime,
    item: ActionItem | None = None,
    **detail: Any,
) -> None:
    session.add(
        AuditEntry(
            record_id=record.id,
            action_item_id=item.id if item else None,
            actor_id=by.person_id if by else None,
            action=action,
            detail=detail,
            at=now,
        )
    )


def touch(record: Record, now: datetime, *, content: bool = True) -> None:
    """Mark a change. ``version`` counts content changes only (what a stale form would
    overwrite); sign-offs and status moves leave it, so a card's buttons stay valid."""
    if content:
        record.version += 1
    record.updated_at = now


def check_version(record: Record, expected: int | None) -> None:
    if expected is not None and expected != record.version:
        raise StaleVersion(ref=record.ref, expected=expected, current=record.version)


def require_status(record: Record, allowed: Iterable[RecordStatus], attempted: str) -> None:
    if record.status not in tuple(allowed):
        raise InvalidTransition(
            "record.bad_transition",
            ref=record.ref,
            status=message(f"status.{record.status.value}"),
            attempted=message(f"action.{attempted}"),
        )


def is_participant(session: Session, record: Record, person_id: int) -> bool:
    query = select(Participant.id).where(Participant.record_id == record.id, Participant.person_id == person_id)
    return session.exec(query).first() is not None


def require_recorder(record: Record, by: Actor, attempted: str) -> None:
    if not (by.is_admin or by.person_id == record.recorder_id):
        raise PermissionDenied("perm.recorder_only", ref=record.ref, attempted=message(f"action.{attempted}"))


def require_member(session: Session, record: Record, by: Actor, attempted: str) -> None:
    """The recorder, an admin or a participant of the record."""
    if by.is_admin or by.person_id == record.recorder_id or is_participant(session, record, by.person_id):
        return
    raise PermissionDenied("perm.members_only", ref=record.ref, attempted=message(f"action.{attempted}"))


def require_may_change(record: Record, by: Actor, *, substantive: bool) -> None:
    """After submission, the record's content (what people signed) is the recorder's or an admin's to change."""
    if (
        substantive
        and record.status is not RecordStatus.DRAFT
        and not (by.is_admin or by.person_id == record.recorder_id)
    ):
        raise PermissionDenied("perm.content_recorder_only", ref=record.ref)


def reached_by_escalation(session: Session, record: Record) -> set[int]:
    """Who the overdue ladder or ``/escalate`` @-mentions: the leads and directors of the departments
    the items belong to, the cc list, and the leads and directors of the departments copied."""
    items = session.exec(
        select(ActionItem.department_id, Person.department_id)
        .join(Person, col(Person.id) == ActionItem.owner_id)
        .where(ActionItem.record_id == record.id)
    )
    departments = {item_department or home for item_department, home in items if item_department or home}
    people: set[int] = set()
    for person_id, department_id in session.exec(
        select(CarbonCopy.person_id, CarbonCopy.department_id).where(CarbonCopy.record_id == record.id)
    ):
        if person_id:
            people.add(person_id)
        if department_id:
            departments.add(department_id)
    if departments:
        rows = session.exec(
            select(Department.lead_id, Department.director_id).where(col(Department.id).in_(departments))
        )
        people |= {person for row in rows for person in row if person}
    return people


def require_member_or_reached(session: Session, record: Record, by: Actor, attempted: str) -> None:
    """Members, and the people escalation reaches: a director called in may act on what he was called for."""
    if by.is_admin or by.person_id == record.recorder_id or is_participant(session, record, by.person_id):
        return
    if by.person_id in reached_by_escalation(session, record):
        return
    raise PermissionDenied("perm.members_only", ref=record.ref, attempted=message(f"action.{attempted}"))


def require_text(field: str, text: str | None, *, limit_name: str | None = None) -> str:
    value = (text or "").strip()
    if not value:
        raise ValidationFailed({field: message("text.required", label=field_label(limit_name or field))})
    too_long = RULES.too_long(field, value, limit_name=limit_name)
    if too_long:
        raise ValidationFailed({field: too_long})
    return value


def open_items(session: Session, record: Record) -> list[ActionItem]:
    query = select(ActionItem).where(ActionItem.record_id == record.id, ActionItem.status == ItemStatus.OPEN)
    return list(session.exec(query.order_by(col(ActionItem.seq))))


def zone_of(session: Session, record: Record) -> ZoneInfo:
    """The record's group's zone: how dates in change notices and the audit are shown."""
    group = session.get(Group, record.group_id)
    return zone(group.timezone if group else "Asia/Shanghai")


def name_of(session: Session, person_id: int | None) -> str:
    """A person's display name as plain text (a notice names people; it does not @-mention them)."""
    person = session.get(Person, person_id) if person_id else None
    return (person.display_name or person.user_id) if person else "—"


def shown(value: Any, limit: int = 60) -> str:
    """A value as a change notice or the audit shows it: short, one line."""
    if value is None or value == "":
        return "—"
    text = value.isoformat() if isinstance(value, datetime) else str(getattr(value, "value", value))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
