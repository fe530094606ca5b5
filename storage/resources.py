"""资源需求的审批: the named approver (or an admin) approves or rejects a record's resource request.

Same contract as ``storage.lifecycle``: keyword arguments, the caller's
transaction, an audit row, a ``DomainError`` and no write when refused. Requests
are numbered as the record shows them (1, 2, … in the order written). A request
goes to its approver when the record is submitted (``requested_at``); one still
pending a workday later is reminded once (``scheduler.jobs.approval_reminder``).
A decision keeps who made it, when and the note; rejecting needs a reason.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from storage.errors import InvalidTransition, NotFound, PermissionDenied, ValidationFailed, message
from storage.models import Record, ResourceRequest
from storage.steps import ACTIVE_STATUSES, Actor, audit, load_record, require_status, require_text, touch
from storage.types import AuditAction, RecordStatus, ResourceStatus


def requests_of(session: Session, record: Record) -> list[ResourceRequest]:
    query = select(ResourceRequest).where(ResourceRequest.record_id == record.id)
    return list(session.exec(query.order_by(col(ResourceRequest.id))))


def number_of(session: Session, request: ResourceRequest) -> int:
    """The request's number on its record (1-based)."""
    record = session.get(Record, request.record_id)
    return next(i for i, r in enumerate(requests_of(session, record), 1) if r.id == request.id)  # type: ignore[arg-type]


def decide(
    *, session: Session, record_id: int, by: Actor, approve: bool, now: datetime, number: int | None = None,
    reason: str | None = None, request_id: int | None = None,
) -> list[ResourceRequest]:  # fmt: skip
    """Approve or reject request ``number`` (or ``request_id``, from a button); without either, every
    pending request ``by`` is the named approver of (an admin with exactly one pending may omit it).

    Returns the requests decided. A decided request stays decided; a changed request is a new one.
    """
    record = load_record(session, record_id)
    require_status(record, (RecordStatus.CONFIRMING, *ACTIVE_STATUSES), "decide_resource")
    reason = (reason or "").strip() or None
    if reason:
        reason = require_text("reason", reason)
    elif not approve:
        raise ValidationFailed({"reason": message("resource.reject_reason")})
    requests = requests_of(session, record)
    if number is not None or request_id is not None:
        if request_id is not None:
            chosen = [r for r in requests if r.id == request_id]
        else:
            chosen = [requests[number - 1]] if number is not None and 1 <= number <= len(requests) else []
        if not chosen:
            raise NotFound("resource.not_found", ref=record.ref, index=number if number is not None else "?")
        if chosen[0].status is not ResourceStatus.PENDING:
            raise InvalidTransition(
                "resource.already_decided", ref=record.ref, what=chosen[0].what,
                status=message(f"resource_status.{chosen[0].status.value}"),
            )  # fmt: skip
        if not (by.is_admin or chosen[0].approver_id == by.person_id):
            raise PermissionDenied("perm.approver_only", what=chosen[0].what)
    else:
        pending = [r for r in requests if r.status is ResourceStatus.PENDING]
        chosen = [r for r in pending if r.approver_id == by.person_id]
        if not chosen and by.is_admin and len(pending) == 1:
            chosen = pending
        elif not chosen and by.is_admin and pending:
            raise InvalidTransition("resource.choose", ref=record.ref)
        if not chosen:
            raise NotFound("resource.none_pending", ref=record.ref)
    status = ResourceStatus.APPROVED if approve else ResourceStatus.REJECTED
    for request in chosen:
        request.status = status
        request.decided_at = now
        request.decided_by_id = by.person_id
        request.decision_note = reason
        session.add(request)
        audit(session, record=record, action=AuditAction.RESOURCE_DECIDED, by=by, now=now, request_id=request.id,
              what=request.what, decision=status.value, reason=reason)  # fmt: skip
    touch(record, now, content=False)
    session.flush()
    return chosen


def waiting_for_approval(session: Session, record: Record) -> list[ResourceRequest]:
    """Pending requests that went to an approver and have not been decided."""
    return [r for r in requests_of(session, record) if r.status is ResourceStatus.PENDING and r.requested_at]
