"""Preparing a meeting (seed steps 1–2): the notice, the replies, and a second meeting after escalation.

A record has two meeting times: ``meeting_start`` (the meeting it is written for,
often ahead while the record is being prepared) and ``next_meeting_at`` (the
follow-up, e.g. 二次沟通). The *upcoming* meeting is the earlier of them that lies
ahead; a notice (会议通知) is for that one, and each participant replies whether
they come and with which authority (提前确认其决策权限). A reply is kept per
meeting time, so moving the meeting asks again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from storage.errors import InvalidTransition, PermissionDenied, ValidationFailed, message
from storage.models import MeetingReply, Participant, Record
from storage.steps import (
    ACTIVE_STATUSES,
    Actor,
    audit,
    load_record,
    require_member_or_reached,
    require_status,
    require_text,
    shown,
    touch,
    zone_of,
)
from storage.timekeeping import format_local
from storage.types import AuditAction, RecordStatus

OPEN_STATUSES = (RecordStatus.DRAFT, RecordStatus.CONFIRMING, *ACTIVE_STATUSES)


def meetings_ahead(record: Record, now: datetime) -> list[datetime]:
    """The record's meeting times that lie ahead, earliest first."""
    return sorted({at for at in (record.meeting_start, record.next_meeting_at) if at is not None and at > now})


def upcoming_meeting(record: Record, now: datetime) -> datetime | None:
    """The earliest of the record's meeting times that lies ahead, if any."""
    ahead = meetings_ahead(record, now)
    return ahead[0] if ahead else None


def require_meeting_ahead(record: Record, now: datetime) -> datetime:
    at = upcoming_meeting(record, now)
    if at is None:
        raise InvalidTransition("meeting.none_ahead", ref=record.ref)
    return at


def notify(*, session: Session, record_id: int, by: Actor, now: datetime, at: datetime | None = None) -> datetime:
    """Send the notice for the upcoming meeting, or for ``at`` (one of the record's meetings ahead; the caller
    posts it): members, or the people escalation reached."""
    record = load_record(session, record_id)
    require_status(record, OPEN_STATUSES, "notify")
    require_member_or_reached(session, record, by, "notify")
    if at is None or at not in meetings_ahead(record, now):
        at = require_meeting_ahead(record, now)
    audit(session, record=record, action=AuditAction.MEETING_NOTIFIED, by=by, now=now, meeting_at=at.isoformat())
    return at


def schedule(
    *, session: Session, record_id: int, by: Actor, at: datetime, now: datetime, goal: str | None = None,
    agenda: str | None = None, place: str | None = None, link: str | None = None,
) -> Record:  # fmt: skip
    """Set the next meeting (二次沟通 and the like): its time, and the goal, agenda and place when given.

    Open to the people escalation reached, so a director who was called in can call the meeting.
    """
    record = load_record(session, record_id)
    require_status(record, OPEN_STATUSES, "schedule_meeting")
    require_member_or_reached(session, record, by, "schedule_meeting")
    if at <= now:
        raise ValidationFailed({"at": message("meeting.past")})
    changes: dict[str, Any] = {"next_meeting_at": at}
    for field, value, limit in (("meeting_goal", goal, "meeting_goal"), ("meeting_agenda", agenda, "meeting_agenda"),
                                ("place", place, "place"), ("meeting_link", link, "meeting_link")):  # fmt: skip
        if (value or "").strip():
            changes[field] = require_text(field, value, limit_name=limit)
    before = {field: getattr(record, field) for field in changes}
    for field, value in changes.items():
        setattr(record, field, value)
    touch(record, now)
    audit(session, record=record, action=AuditAction.MEETING_SCHEDULED, by=by, now=now,
          changes={f: [shown(before[f], 200), shown(v, 200)] for f, v in changes.items() if before[f] != v},
          at=format_local(at, zone_of(session, record)))  # fmt: skip
    return record


def reply(
    *, session: Session, record_id: int, person_id: int, meeting_at: datetime, attending: bool, decision: bool,
    resource: bool, note: str | None, now: datetime,
) -> MeetingReply:  # fmt: skip
    """A participant answers the notice for the meeting at ``meeting_at``; answering again replaces it."""
    record = load_record(session, record_id)
    require_status(record, OPEN_STATUSES, "reply_meeting")
    ahead = meetings_ahead(record, now)
    if meeting_at not in ahead:
        if not ahead:
            raise InvalidTransition("meeting.none_ahead", ref=record.ref)
        raise InvalidTransition("meeting.moved", ref=record.ref, at=format_local(ahead[0], zone_of(session, record)))
    participant = session.exec(select(Participant).where(Participant.record_id == record.id,
                                                         Participant.person_id == person_id)).first()  # fmt: skip
    if participant is None:
        raise PermissionDenied("perm.not_invited", ref=record.ref)
    note = require_text("note", note, limit_name="reason") if (note or "").strip() else None
    query = select(MeetingReply).where(MeetingReply.record_id == record.id, MeetingReply.person_id == person_id,
                                       MeetingReply.meeting_at == meeting_at)  # fmt: skip
    row = session.exec(query).first() or MeetingReply(record_id=record.id or 0, person_id=person_id,
                                                      meeting_at=meeting_at, attending=attending, replied_at=now)  # fmt: skip
    row.attending, row.decision_authority, row.resource_authority = attending, decision, resource
    row.note, row.replied_at = note, now
    session.add(row)
    audit(session, record=record, action=AuditAction.MEETING_REPLIED, by=Actor(person_id), now=now,
          meeting_at=meeting_at.isoformat(), attending=attending, decision=decision, resource=resource, note=note)  # fmt: skip
    session.flush()
    return row


def replies(session: Session, record: Record, meeting_at: datetime) -> dict[int, MeetingReply]:
    """Replies for one meeting, by person id."""
    query = select(MeetingReply).where(MeetingReply.record_id == record.id, MeetingReply.meeting_at == meeting_at)
    return {row.person_id: row for row in session.exec(query.order_by(col(MeetingReply.id)))}
