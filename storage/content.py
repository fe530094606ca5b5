"""The record's lists: participants, key points (沟通要点), resource requests, cc.

Same contract as ``storage.lifecycle`` (which re-exports these functions): keyword
arguments, the caller's transaction, an audit row per change, a ``DomainError``
and no write when refused. Each function compares what it is given with what is
stored and changes, audits and bumps the version only when something differs —
a form saved again unchanged changes nothing. After submission a change here is
substantive: the recorder's (or an admin's) to make, and the people it concerns
sign again (``storage.signoff``). A resource request that comes back unchanged
keeps its approver's decision; a changed one is a new request, pending again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlmodel import Session, col, select

from storage import signoff
from storage.errors import ValidationFailed, message
from storage.models import CarbonCopy, Department, KeyPoint, Participant, Record, ResourceRequest
from storage.steps import (
    ACTIVE_STATUSES,
    Actor,
    audit,
    check_version,
    load_record,
    name_of,
    require_may_change,
    require_member,
    require_status,
    require_text,
    touch,
)
from storage.types import AuditAction, RecordStatus, ResourceStatus

EDITABLE = (RecordStatus.DRAFT, RecordStatus.CONFIRMING, *ACTIVE_STATUSES)


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


def _editable(session: Session, record_id: int, by: Actor) -> Record:
    record = load_record(session, record_id)
    require_status(record, EDITABLE, "edit")
    require_member(session, record, by, "edit")
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
    """Replace the participant list; people who stay unchanged keep their confirmation."""
    record = _editable(session, record_id, by)
    check_version(record, expected_version)
    if len({p.person_id for p in participants}) != len(participants):
        raise ValidationFailed({"participants": message("record.duplicate_participant")})
    existing = {p.person_id: p for p in session.exec(select(Participant).where(Participant.record_id == record.id))}
    wanted = {p.person_id: p for p in participants}
    added = [p for p in wanted if p not in existing]
    removed = [p for p in existing if p not in wanted]
    changed = [
        p for p, given in wanted.items() if p in existing and (existing[p].department_id, existing[p].decision_authority,
                                                               existing[p].resource_authority)
        != (given.department_id, given.decision_authority, given.resource_authority)
    ]  # fmt: skip
    if added or removed or changed:
        require_may_change(record, by, substantive=True)
        for person_id in removed:
            session.delete(existing[person_id])
        for person_id, given in wanted.items():
            row = existing.get(person_id) or Participant(record_id=record.id or 0, person_id=person_id)
            row.department_id = given.department_id
            row.decision_authority = given.decision_authority
            row.resource_authority = given.resource_authority
            session.add(row)
        session.flush()
        touch(record, now)
        audit(session, record=record, action=AuditAction.PARTICIPANTS_SET, by=by, now=now, people=sorted(wanted),
              added=added, removed=removed, changed=changed)  # fmt: skip
        for key, people in (("added", added), ("changed", changed), ("removed", removed)):
            for person_id in people:
                change = message(f"change.participant_{key}", name=name_of(session, person_id))
                signoff.require_again(session, record, people=[] if key == "removed" else [person_id], change=change,
                                      by=by, now=now)  # fmt: skip
    return list(session.exec(select(Participant).where(Participant.record_id == record.id)))


def set_key_points(*, session: Session, record_id: int, by: Actor, points: Mapping[int, str], now: datetime) -> None:
    """沟通要点: one position per department (department id → text)."""
    record = _editable(session, record_id, by)
    cleaned = {dept: require_text("key_point", text) for dept, text in points.items()}
    existing = {k.department_id: k for k in session.exec(select(KeyPoint).where(KeyPoint.record_id == record.id))}
    changed = sorted(d for d in set(existing) | set(cleaned) if (existing[d].text if d in existing else None)
                     != cleaned.get(d))  # fmt: skip
    if not changed:
        return
    require_may_change(record, by, substantive=True)
    for department_id in changed:
        if department_id in existing:
            session.delete(existing[department_id])
    session.flush()
    for department_id, text in cleaned.items():  # in the order given: the order the record shows
        if department_id in changed:
            session.add(KeyPoint(record_id=record.id or 0, department_id=department_id, text=text))
    touch(record, now)
    audit(session, record=record, action=AuditAction.KEY_POINTS_SET, by=by, now=now, departments=sorted(cleaned),
          changed=changed)  # fmt: skip
    for department_id in changed:
        department = session.get(Department, department_id)
        members = session.exec(select(Participant.person_id).where(
            Participant.record_id == record.id, Participant.department_id == department_id)).all()  # fmt: skip
        change = message("change.key_point", department=department.name if department else "—")
        signoff.require_again(session, record, people=list(members) or None, change=change, by=by, now=now)


def _request_key(what: str, amount: Decimal | None, unit: str | None, approver_id: int | None) -> tuple:
    return what, None if amount is None else Decimal(amount).normalize(), unit or None, approver_id


def set_resources(
    *, session: Session, record_id: int, by: Actor, requests: Sequence[ResourceInput], now: datetime
) -> list[ResourceRequest]:
    """Replace the requests; returns the new ones (pending, to go to their approvers once submitted)."""
    record = _editable(session, record_id, by)
    wanted = []
    for index, request in enumerate(requests):
        what = require_text(f"resources.{index}.what", request.what, limit_name="resource_what")
        if request.amount is not None and request.amount < 0:
            raise ValidationFailed({f"resources.{index}.amount": message("resource.negative_amount")})
        wanted.append((_request_key(what, request.amount, request.unit, request.approver_id), request))
    rows = list(session.exec(select(ResourceRequest).where(ResourceRequest.record_id == record.id)
                             .order_by(col(ResourceRequest.id))))  # fmt: skip
    kept = {_request_key(r.what, r.amount, r.unit, r.approver_id): r for r in rows}
    if [key for key, _ in wanted] == [_request_key(r.what, r.amount, r.unit, r.approver_id) for r in rows]:
        return []
    require_may_change(record, by, substantive=True)
    new_rows = []
    submitted = record.status is not RecordStatus.DRAFT
    for key, request in wanted:
        if kept.pop(key, None) is not None:
            continue  # unchanged: keeps its id (buttons on its approval request stay valid) and its decision
        decided = request.status is not ResourceStatus.PENDING
        new_rows.append(ResourceRequest(
            record_id=record.id or 0, what=key[0], amount=request.amount, unit=request.unit,
            approver_id=request.approver_id, status=request.status, decided_at=now if decided else None,
            requested_at=now if submitted else None,
        ))  # fmt: skip
    removed = list(kept.values())
    for row in removed:
        session.delete(row)
    session.add_all(new_rows)
    session.flush()
    touch(record, now)
    audit(session, record=record, action=AuditAction.RESOURCES_SET, by=by, now=now, count=len(wanted),
          added=[r.what for r in new_rows], removed=[r.what for r in removed])  # fmt: skip
    concerned = set(session.exec(select(Participant.person_id).where(
        Participant.record_id == record.id, col(Participant.resource_authority).is_(True))))  # fmt: skip
    concerned |= {r.approver_id for r in [*new_rows, *removed] if r.approver_id}
    for row in new_rows:
        signoff.require_again(session, record, people=concerned, change=message("change.resource", what=row.what),
                              by=by, now=now)  # fmt: skip
    for row in removed:
        signoff.require_again(session, record, people=concerned,
                              change=message("change.resource_removed", what=row.what), by=by, now=now)  # fmt: skip
    return new_rows


def set_cc(
    *,
    session: Session,
    record_id: int,
    by: Actor,
    person_ids: Iterable[int] = (),
    department_ids: Iterable[int] = (),
    now: datetime,
) -> None:
    """抄送: leaders (people) and supporting departments (reached through their leads). Cosmetic."""
    record = _editable(session, record_id, by)
    people, departments = sorted(set(person_ids)), sorted(set(department_ids))
    rows = list(session.exec(select(CarbonCopy).where(CarbonCopy.record_id == record.id)))
    stored = sorted(r.person_id for r in rows if r.person_id), sorted(r.department_id for r in rows if r.department_id)
    if stored == (people, departments):
        return
    for row in rows:
        session.delete(row)
    session.flush()
    session.add_all(CarbonCopy(record_id=record.id or 0, person_id=p) for p in people)
    session.add_all(CarbonCopy(record_id=record.id or 0, department_id=d) for d in departments)
    touch(record, now)
    audit(session, record=record, action=AuditAction.CC_SET, by=by, now=now, people=people, departments=departments)
