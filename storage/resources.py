"""资源需求的审批: the named approver (or an admin) approves or rejects a record's resource request.

Same contract as ``storage.lifecycle``: keyword arguments, the caller's
transaction, an audit row, a ``DomainError`` and no write when refused. A request
is numbered as the record shows it (1, 2, … in the order written).
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from storage.errors import InvalidTransition, NotFound, PermissionDenied
from storage.lifecycle import ACTIVE_STATUSES, Actor, audit, load_record, require_status, touch
from storage.models import ResourceRequest
from storage.types import AuditAction, RecordStatus, ResourceStatus


def decide(
    *, session: Session, record_id: int, by: Actor, approve: bool, now: datetime, number: int | None = None,
    reason: str | None = None,
) -> list[ResourceRequest]:  # fmt: skip
    """Approve or reject request ``number``; without a number, every pending request ``by`` is the approver of.

    Returns the requests decided. A request decided once stays decided (a new
    request is a new row, written through the record's form).
    """
    record = load_record(session, record_id)
    require_status(record, (RecordStatus.CONFIRMING, *ACTIVE_STATUSES), "decide_resource")
    requests = list(
        session.exec(
            select(ResourceRequest).where(ResourceRequest.record_id == record.id).order_by(col(ResourceRequest.id))
        )
    )
    if number is not None:
        if not 1 <= number <= len(requests):
            raise NotFound("resource.not_found", ref=record.ref, index=number)
        chosen = [requests[number - 1]]
        if chosen[0].status is not ResourceStatus.PENDING:
            raise InvalidTransition("resource.already_decided", ref=record.ref, what=chosen[0].what)
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
    reason = (reason or "").strip() or None
    for request in chosen:
        request.status = status
        request.decided_at = now
        session.add(request)
        audit(session, record=record, action=AuditAction.RESOURCE_DECIDED, by=by, now=now, request_id=request.id,
              decision=status.value, reason=reason)  # fmt: skip
    touch(record, now, content=False)
    session.flush()
    return chosen
