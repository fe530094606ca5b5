"""The record's lifecycle as plain functions: one call, one consistent change, one audit row.

草稿 DRAFT ─submit→ 待确认 CONFIRMING ─all confirm / recorder activates→ 进行中 IN_PROGRESS
进行中 ⇄ 已延期 DELAYED (a deadline missed; back when nothing open is overdue)
进行中 / 已延期 ─close with a verified result→ 已闭环 CLOSED ─reopen→ 进行中

Functions take keyword arguments only, run inside the caller's transaction
(``storage.db.unit_of_work``) and never commit, so the change, its audit rows and
the messages it causes commit together or not at all. A refused transition or a
missing permission raises a ``DomainError`` and writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete
from sqlmodel import Session, col, select

from storage.errors import InvalidTransition, NotFound, PermissionDenied, StaleVersion, ValidationFailed, message
from storage.models import (
    ActionItem,
    AuditEntry,
    CarbonCopy,
    KeyPoint,
    Participant,
    Record,
    ResourceRequest,
)
from storage.rules import RULES, check_texts, field_label
from storage.types import AuditAction, Category, ItemStatus, RecordStatus, ResourceStatus

ACTIVE_STATUSES = (RecordStatus.IN_PROGRESS, RecordStatus.DELAYED)
EDITABLE_FIELDS = frozenset(
    {
        "topic", "meeting_start", "meeting_end", "place", "meeting_link", "problem",
        "problem_what", "problem_when", "problem_where", "problem_who", "problem_why",
        "problem_how", "impact", "root_cause", "category", "notes", "next_meeting_at",
    }
)  # fmt: skip
TEXT_FIELDS = EDITABLE_FIELDS - {"meeting_start", "meeting_end", "next_meeting_at", "category"}


@dataclass(frozen=True)
class Actor:
    """Who asks for a change: a person, and whether they administer the workspace."""

    person_id: int
    is_admin: bool = False


@dataclass(frozen=True)
class ParticipantInput:
    person_id: int
    department_id: int | None = None
    decision_authority: bool = False
    resource_authority: bool = False


@dataclass(frozen=True)
class ResourceInput:
    what: str
    amount: Decimal | None = None
    unit: str | None = None
    approver_id: int | None = None
    status: ResourceStatus = ResourceStatus.PENDING


# ---------------------------------------------------------------- shared steps


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


# ---------------------------------------------------------------- create and edit


def create_draft(*, session: Session, group_id: int, recorder_id: int, topic: str, now: datetime) -> Record:
    topic = require_text("topic", topic)
    record = Record(group_id=group_id, recorder_id=recorder_id, topic=topic, created_at=now, updated_at=now)
    session.add(record)
    session.flush()
    audit(session, record=record, action=AuditAction.RECORD_CREATED, by=Actor(recorder_id), now=now, topic=topic)
    return record


def edit_record(
    *,
    session: Session,
    record_id: int,
    by: Actor,
    changes: Mapping[str, Any],
    now: datetime,
    expected_version: int | None = None,
) -> Record:
    """Change the record's own fields; text is checked against the content rules."""
    unknown = set(changes) - EDITABLE_FIELDS
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    record = load_record(session, record_id)
    check_version(record, expected_version)
    require_status(record, (RecordStatus.DRAFT, RecordStatus.CONFIRMING, *ACTIVE_STATUSES), "edit")
    require_member(session, record, by, "edit")
    cleaned = {k: (v.strip() or None) if isinstance(v, str) else v for k, v in changes.items()}
    checked = check_texts({k: v for k, v in cleaned.items() if k in TEXT_FIELDS})
    errors = dict(checked.errors)
    if "topic" in cleaned and not cleaned["topic"]:
        errors["topic"] = message("text.required", label=field_label("topic"))
    if cleaned.get("category") is not None:
        try:
            cleaned["category"] = Category(cleaned["category"])
        except ValueError:
            errors["category"] = message("record.bad_category", value=cleaned["category"])
    start = cleaned.get("meeting_start", record.meeting_start)
    end = cleaned.get("meeting_end", record.meeting_end)
    if start and end and end < start:
        errors["meeting_end"] = message("record.meeting_end_before_start")
    if errors:
        raise ValidationFailed(errors, checked.warnings)
    changed = {k: v for k, v in cleaned.items() if getattr(record, k) != v}
    if not changed:
        return record
    for field, value in changed.items():
        setattr(record, field, value)
    touch(record, now)
    audit(session, record=record, action=AuditAction.RECORD_EDITED, by=by, now=now, fields=sorted(changed))
    return record


def set_participants(
    *,
    session: Session,
    record_id: int,
    by: Actor,
    participants: Sequence[ParticipantInput],
    now: datetime,
    expected_version: int | None = None,
) -> list[Participant]:
    """Replace the participant list; people who stay keep their confirmation."""
    record = load_record(session, record_id)
    check_version(record, expected_version)
    require_status(record, (RecordStatus.DRAFT, RecordStatus.CONFIRMING, *ACTIVE_STATUSES), "edit")
    require_member(session, record, by, "edit")
    if len({p.person_id for p in participants}) != len(participants):
        raise ValidationFailed({"participants": message("record.duplicate_participant")})
    existing = {p.person_id: p for p in session.exec(select(Participant).where(Participant.record_id == record.id))}
    wanted = {p.person_id: p for p in participants}
    for person_id, row in existing.items():
        if person_id not in wanted:
            session.delete(row)
    for person_id, given in wanted.items():
        row = existing.get(person_id) or Participant(record_id=record.id, person_id=person_id)
        row.department_id = given.department_id
        row.decision_authority = given.decision_authority
        row.resource_authority = given.resource_authority
        session.add(row)
    touch(record, now)
    audit(session, record=record, action=AuditAction.PARTICIPANTS_SET, by=by, now=now, people=sorted(wanted))
    session.flush()
    return list(session.exec(select(Participant).where(Participant.record_id == record.id)))


def set_key_points(*, session: Session, record_id: int, by: Actor, points: Mapping[int, str], now: datetime) -> None:
    """沟通要点: one position per department (department id → text)."""
    record = load_record(session, record_id)
    require_status(record, (RecordStatus.DRAFT, RecordStatus.CONFIRMING, *ACTIVE_STATUSES), "edit")
    require_member(session, record, by, "edit")
    cleaned = {dept: require_text("key_point", text) for dept, text in points.items()}
    session.exec(delete(KeyPoint).where(col(KeyPoint.record_id) == record.id))  # type: ignore[call-overload]
    for department_id, text in cleaned.items():
        session.add(KeyPoint(record_id=record.id, department_id=department_id, text=text))
    touch(record, now)
    audit(session, record=record, action=AuditAction.KEY_POINTS_SET, by=by, now=now, departments=sorted(cleaned))


def set_resources(
    *, session: Session, record_id: int, by: Actor, requests: Sequence[ResourceInput], now: datetime
) -> None:
    record = load_record(session, record_id)
    require_status(record, (RecordStatus.DRAFT, RecordStatus.CONFIRMING, *ACTIVE_STATUSES), "edit")
    require_member(session, record, by, "edit")
    # a request that comes back unchanged (the form carries no decision) keeps its approver's decision
    decided = {
        (r.what, r.amount, r.unit, r.approver_id): (r.status, r.decided_at)
        for r in session.exec(select(ResourceRequest).where(ResourceRequest.record_id == record.id))
        if r.status is not ResourceStatus.PENDING
    }
    rows = []
    for index, request in enumerate(requests):
        what = require_text(f"resources.{index}.what", request.what, limit_name="resource_what")
        if request.amount is not None and request.amount < 0:
            raise ValidationFailed({f"resources.{index}.amount": message("resource.negative_amount")})
        status, decided_at = request.status, now if request.status is not ResourceStatus.PENDING else None
        if status is ResourceStatus.PENDING:
            status, decided_at = decided.get((what, request.amount, request.unit, request.approver_id), (status, None))
        rows.append(
            ResourceRequest(
                record_id=record.id,
                what=what,
                amount=request.amount,
                unit=request.unit,
                approver_id=request.approver_id,
                status=status,
                decided_at=decided_at,
            )
        )
    session.exec(delete(ResourceRequest).where(col(ResourceRequest.record_id) == record.id))  # type: ignore[call-overload]
    session.add_all(rows)
    touch(record, now)
    audit(session, record=record, action=AuditAction.RESOURCES_SET, by=by, now=now, count=len(rows))


def set_cc(
    *,
    session: Session,
    record_id: int,
    by: Actor,
    person_ids: Iterable[int] = (),
    department_ids: Iterable[int] = (),
    now: datetime,
) -> None:
    """抄送: leaders (people) and supporting departments (reached through their leads)."""
    record = load_record(session, record_id)
    require_status(record, (RecordStatus.DRAFT, RecordStatus.CONFIRMING, *ACTIVE_STATUSES), "edit")
    require_member(session, record, by, "edit")
    people, departments = sorted(set(person_ids)), sorted(set(department_ids))
    session.exec(delete(CarbonCopy).where(col(CarbonCopy.record_id) == record.id))  # type: ignore[call-overload]
    session.add_all(CarbonCopy(record_id=record.id, person_id=p) for p in people)
    session.add_all(CarbonCopy(record_id=record.id, department_id=d) for d in departments)
    touch(record, now)
    audit(session, record=record, action=AuditAction.CC_SET, by=by, now=now, people=people, departments=departments)


# ---------------------------------------------------------------- sign-off


def _require_complete(session: Session, record: Record) -> list[Participant]:
    """What a record needs before people sign it: a problem, participants, an action item."""
    errors = {}
    if not (record.problem or "").strip():
        errors["problem"] = message("record.problem_required")
    participants = list(session.exec(select(Participant).where(Participant.record_id == record.id)))
    if not participants:
        errors["participants"] = message("record.participants_required")
    if not open_items(session, record):
        errors["items"] = message("record.items_required")
    if errors:
        raise ValidationFailed(errors)
    return participants


def submit(*, session: Session, record_id: int, by: Actor, now: datetime) -> list[Participant]:
    """DRAFT → CONFIRMING; returns the participants whose sign-off is now requested."""
    record = load_record(session, record_id)
    require_status(record, (RecordStatus.DRAFT,), "submit")
    require_recorder(record, by, "submit")
    participants = _require_complete(session, record)
    record.status = RecordStatus.CONFIRMING
    record.submitted_at = now
    touch(record, now, content=False)
    audit(session, record=record, action=AuditAction.RECORD_SUBMITTED, by=by, now=now)
    return participants


def confirm(
    *, session: Session, record_id: int, person_id: int, now: datetime, expected_version: int | None = None
) -> bool:
    """A participant signs the record off. Returns True when this made the record active.

    Signing twice changes nothing. A participant may also sign late, after the
    recorder activated the record without them.
    """
    record = load_record(session, record_id)
    require_status(record, (RecordStatus.CONFIRMING, *ACTIVE_STATUSES), "confirm")
    check_version(record, expected_version)
    query = select(Participant).where(Participant.record_id == record.id, Participant.person_id == person_id)
    participant = session.exec(query).first()
    if participant is None:
        raise PermissionDenied("perm.not_participant", ref=record.ref)
    if participant.confirmed_at is not None:
        return False
    participant.confirmed_at = now
    session.add(participant)
    touch(record, now, content=False)
    audit(session, record=record, action=AuditAction.RECORD_CONFIRMED, by=Actor(person_id), now=now)
    session.flush()
    if record.status is RecordStatus.CONFIRMING and not unconfirmed(session, record):
        _activate(session, record, by=None, now=now, missing=[])
        return True
    return False


def unconfirmed(session: Session, record: Record) -> list[Participant]:
    query = select(Participant).where(Participant.record_id == record.id, col(Participant.confirmed_at).is_(None))
    return list(session.exec(query))


def activate(*, session: Session, record_id: int, by: Actor, now: datetime) -> list[Participant]:
    """The recorder starts follow-up without waiting; returns who has not confirmed yet."""
    record = load_record(session, record_id)
    require_status(record, (RecordStatus.DRAFT, RecordStatus.CONFIRMING), "activate")
    require_recorder(record, by, "activate")
    _require_complete(session, record)
    missing = unconfirmed(session, record)
    _activate(session, record, by=by, now=now, missing=[p.person_id for p in missing])
    return missing


def _activate(session: Session, record: Record, *, by: Actor | None, now: datetime, missing: list[int]) -> None:
    record.status = RecordStatus.IN_PROGRESS
    record.activated_at = now
    record.submitted_at = record.submitted_at or now
    touch(record, now, content=False)
    audit(session, record=record, action=AuditAction.RECORD_ACTIVATED, by=by, now=now, unconfirmed=missing)


# ---------------------------------------------------------------- delay, close, reopen


def mark_delayed(
    *, session: Session, record_id: int, by: Actor | None, now: datetime, reason: str | None = None
) -> bool:
    """IN_PROGRESS → DELAYED; ``by=None`` is the scheduler. False if it already was delayed."""
    record = load_record(session, record_id)
    if record.status is RecordStatus.DELAYED:
        return False
    require_status(record, (RecordStatus.IN_PROGRESS,), "delay")
    if by is not None:
        require_member(session, record, by, "delay")
    record.status = RecordStatus.DELAYED
    record.delayed_at = now
    touch(record, now, content=False)
    audit(session, record=record, action=AuditAction.RECORD_DELAYED, by=by, now=now, reason=reason)
    return True


def close(*, session: Session, record_id: int, by: Actor, verification: str, now: datetime) -> Record:
    """已闭环: only with a verified result, only by the recorder or an admin, nothing left open."""
    record = load_record(session, record_id)
    require_status(record, ACTIVE_STATUSES, "close")
    require_recorder(record, by, "close")
    verification = require_text("verification", verification)
    still_open = open_items(session, record)
    if still_open:
        refs = "、".join(f"{record.ref}-{item.seq}" for item in still_open)
        raise InvalidTransition("record.items_still_open", ref=record.ref, items=refs)
    record.status = RecordStatus.CLOSED
    record.verification = verification
    record.closed_at = now
    touch(record, now, content=False)
    audit(session, record=record, action=AuditAction.RECORD_CLOSED, by=by, now=now, verification=verification)
    return record


def reopen(*, session: Session, record_id: int, by: Actor, reason: str, now: datetime) -> Record:
    """已闭环 → 进行中, e.g. when the problem comes back; the old verification stays in the audit."""
    record = load_record(session, record_id)
    require_status(record, (RecordStatus.CLOSED,), "reopen")
    require_recorder(record, by, "reopen")
    reason = require_text("reason", reason)
    previous = record.verification
    record.status = RecordStatus.IN_PROGRESS
    record.verification = None
    record.closed_at = None
    touch(record, now, content=False)
    audit(session, record=record, action=AuditAction.RECORD_REOPENED, by=by, now=now, reason=reason, previous=previous)
    return record


def escalate(
    *, session: Session, record_id: int, by: Actor, now: datetime, item: ActionItem | None = None, reason: str | None
) -> Record:
    """升级: a member asks the leads to step in; recorded so the monthly review can count it."""
    record = load_record(session, record_id)
    require_status(record, (RecordStatus.CONFIRMING, *ACTIVE_STATUSES), "escalate")
    require_member(session, record, by, "escalate")
    reason = (reason or "").strip() or None
    if reason:
        require_text("reason", reason)
    audit(session, record=record, item=item, action=AuditAction.ESCALATED, by=by, now=now, reason=reason)
    return record
