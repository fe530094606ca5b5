"""The record's lifecycle as plain functions: one call, one consistent change, one audit row.

草稿 DRAFT ─submit→ 待确认 CONFIRMING ─all confirm / recorder activates→ 进行中 IN_PROGRESS
进行中 ⇄ 已延期 DELAYED (a deadline missed; back when nothing open is overdue)
进行中 / 已延期 ─close with a verified result→ 已闭环 CLOSED ─reopen→ 进行中
草稿 / 待确认 ─withdraw→ 已撤回 WITHDRAWN (never active; out of lists and reminders, kept in the audit)

After submission the record's content is what its participants signed: a
substantive change is the recorder's (or an admin's) to make and asks the people
it concerns to sign again; a cosmetic one is any member's (``storage.signoff``).
A closed or withdrawn record is read-only.

Functions take keyword arguments only, run inside the caller's transaction
(``storage.db.unit_of_work``) and never commit, so the change, its audit rows and
the messages it causes commit together or not at all. A refused transition or a
missing permission raises a ``DomainError`` and writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from storage import signoff
from storage.content import (  # re-exported: the record's lists are part of its lifecycle
    ParticipantInput,
    ResourceInput,
    set_cc,
    set_key_points,
    set_participants,
    set_resources,
)
from storage.errors import InvalidTransition, PermissionDenied, ValidationFailed, message
from storage.models import ActionItem, Participant, Record, ResourceRequest
from storage.rules import check_texts, field_label
from storage.steps import (  # re-exported: callers have always found them here
    ACTIVE_STATUSES,
    Actor,
    audit,
    check_version,
    is_participant,
    load_record,
    open_items,
    reached_by_escalation,
    require_may_change,
    require_member,
    require_member_or_reached,
    require_recorder,
    require_status,
    require_text,
    shown,
    touch,
)
from storage.types import AuditAction, Category, RecordStatus, ResourceStatus

EDITABLE_FIELDS = frozenset(
    {
        "topic", "meeting_start", "meeting_end", "place", "meeting_link", "problem",
        "problem_what", "problem_when", "problem_where", "problem_who", "problem_why",
        "problem_how", "impact", "root_cause", "category", "notes", "next_meeting_at",
        "meeting_goal", "meeting_agenda", "material_link", "recorder_id",
    }
)  # fmt: skip
TEXT_FIELDS = EDITABLE_FIELDS - {"meeting_start", "meeting_end", "next_meeting_at", "category", "recorder_id"}
SUBMITTED_STATUSES = (RecordStatus.CONFIRMING, *ACTIVE_STATUSES)

__all__ = [
    "ACTIVE_STATUSES", "EDITABLE_FIELDS", "Actor", "ParticipantInput", "ResourceInput", "activate", "audit",
    "check_version", "close", "confirm", "create_draft", "edit_record", "escalate", "is_participant", "load_record",
    "mark_delayed", "open_items", "reached_by_escalation", "reopen", "require_closable", "require_member", "require_member_or_reached",
    "require_recorder", "require_status", "require_text", "set_cc", "set_key_points", "set_participants",
    "set_resources", "submit", "touch", "unconfirmed", "withdraw",
]  # fmt: skip


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
    require_status(record, (RecordStatus.DRAFT, *SUBMITTED_STATUSES), "edit")
    require_member(session, record, by, "edit")
    cleaned = {k: (v.strip() or None) if isinstance(v, str) else v for k, v in changes.items()}
    checked = check_texts({k: v for k, v in cleaned.items() if k in TEXT_FIELDS})
    errors = dict(checked.errors)
    if "topic" in cleaned and not cleaned["topic"]:
        errors["topic"] = message("text.required", label=field_label("topic"))
    if "recorder_id" in cleaned and not cleaned["recorder_id"]:
        del cleaned["recorder_id"]  # nobody named: the recorder stays
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
    require_may_change(record, by, substantive=signoff.is_substantive(changed))
    if "recorder_id" in changed:
        require_recorder(record, by, "edit")
    before = {field: getattr(record, field) for field in changed}
    for field, value in changed.items():
        setattr(record, field, value)
    touch(record, now)
    audit(session, record=record, action=AuditAction.RECORD_EDITED, by=by, now=now, fields=sorted(changed),
          changes={f: [shown(before[f], 200), shown(v, 200)] for f, v in changed.items()})  # fmt: skip
    for field in sorted(f for f in changed if f in signoff.SUBSTANTIVE_FIELDS):
        change = message("change.field", label=field_label(field), old=shown(before[field]), new=shown(changed[field]))
        signoff.require_again(session, record, people=None, change=change, by=by, now=now)
    return record


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
    _request_resources(session, record, now)
    return participants


def _request_resources(session: Session, record: Record, now: datetime) -> list[ResourceRequest]:
    """Submission sends the pending resource requests to their approvers (see ``storage.resources``)."""
    query = select(ResourceRequest).where(
        ResourceRequest.record_id == record.id, ResourceRequest.status == ResourceStatus.PENDING,
        col(ResourceRequest.requested_at).is_(None),
    )  # fmt: skip
    requests = list(session.exec(query.order_by(col(ResourceRequest.id))))
    for request in requests:
        request.requested_at = now
        session.add(request)
    return requests


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
    _request_resources(session, record, now)
    record.status = RecordStatus.IN_PROGRESS
    record.activated_at = now
    record.submitted_at = record.submitted_at or now
    touch(record, now, content=False)
    audit(session, record=record, action=AuditAction.RECORD_ACTIVATED, by=by, now=now, unconfirmed=missing)


# ---------------------------------------------------------------- delay, close, reopen, withdraw


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


def require_closable(*, session: Session, record_id: int, by: Actor) -> Record:
    """Everything ``close`` refuses for, except the verification text: asked before the result is looked at."""
    record = load_record(session, record_id)
    require_status(record, ACTIVE_STATUSES, "close")
    require_recorder(record, by, "close")
    still_open = open_items(session, record)
    if still_open:
        refs = "、".join(f"{record.ref}-{item.seq}" for item in still_open)
        raise InvalidTransition("record.items_still_open", ref=record.ref, items=refs)
    return record


def close(*, session: Session, record_id: int, by: Actor, verification: str, now: datetime) -> Record:
    """已闭环: only with a verified result, only by the recorder or an admin, nothing left open."""
    record = require_closable(session=session, record_id=record_id, by=by)
    verification = require_text("verification", verification)
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


def withdraw(*, session: Session, record_id: int, by: Actor, reason: str | None, now: datetime) -> Record:
    """撤回 a record that never became active (a duplicate, a false start): it leaves the lists and the
    reminders, and stays in the audit trail. Only the recorder or an admin; a reason is optional."""
    record = load_record(session, record_id)
    require_status(record, (RecordStatus.DRAFT, RecordStatus.CONFIRMING), "withdraw")
    require_recorder(record, by, "withdraw")
    reason = (reason or "").strip() or None
    if reason:
        reason = require_text("reason", reason)
    previous = record.status
    record.status = RecordStatus.WITHDRAWN
    record.withdrawn_at = now
    touch(record, now, content=False)
    audit(session, record=record, action=AuditAction.RECORD_WITHDRAWN, by=by, now=now, reason=reason,
          previous=previous.value)  # fmt: skip
    return record


def escalate(
    *, session: Session, record_id: int, by: Actor, now: datetime, item: ActionItem | None = None, reason: str | None
) -> Record:
    """升级: a member, or someone the escalation already reached (a lead, the director, the cc list),
    asks the leads to step in; recorded so the monthly review can count it."""
    record = load_record(session, record_id)
    require_status(record, (RecordStatus.CONFIRMING, *ACTIVE_STATUSES), "escalate")
    require_member_or_reached(session, record, by, "escalate")
    reason = (reason or "").strip() or None
    if reason:
        require_text("reason", reason)
    audit(session, record=record, item=item, action=AuditAction.ESCALATED, by=by, now=now, reason=reason)
    return record
