"""催办 (roll-call): remind only those still owing something on a record, now.

Before the record is active that is the participants who have not signed it;
once it is active, the owners of open items who have not reported today (the
group's day), leaving out items snoozed today. Recorder or admin; audited, so the
history shows who chased whom.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time
from enum import StrEnum

from sqlmodel import Session, col, select

from storage.models import ActionItem, Participant, Person, ProgressUpdate, Record
from storage.steps import ACTIVE_STATUSES, Actor, audit, load_record, require_recorder, require_status, zone_of
from storage.timekeeping import local_to_utc, to_local
from storage.types import AuditAction, ItemStatus, RecordStatus


class RollCallKind(StrEnum):
    CONFIRM = "confirm"  # sign-off still missing
    REPORT = "report"  # no progress report today


@dataclass(frozen=True)
class RollCall:
    record: Record
    kind: RollCallKind
    people: list[Person]
    items: dict[int, list[ActionItem]] = field(default_factory=dict)  # person id → their open items (REPORT)


def roll_call(*, session: Session, record_id: int, by: Actor, now: datetime) -> RollCall:
    record = load_record(session, record_id)
    require_status(record, (RecordStatus.CONFIRMING, *ACTIVE_STATUSES), "remind")
    require_recorder(record, by, "remind")
    if record.status is RecordStatus.CONFIRMING:
        query = (
            select(Person)
            .join(Participant, col(Participant.person_id) == Person.id)
            .where(Participant.record_id == record.id, col(Participant.confirmed_at).is_(None))
            .order_by(col(Participant.id))
        )
        found = RollCall(record, RollCallKind.CONFIRM, list(session.exec(query)))
    else:
        found = _not_reported(session, record, now)
    audit(session, record=record, action=AuditAction.REMINDED, by=by, now=now, kind=found.kind.value,
          people=[p.id for p in found.people])  # fmt: skip
    return found


def _not_reported(session: Session, record: Record, now: datetime) -> RollCall:
    tz = zone_of(session, record)
    today = to_local(now, tz).date()
    midnight = local_to_utc(today, time(0), tz)
    query = select(ActionItem).where(ActionItem.record_id == record.id, ActionItem.status == ItemStatus.OPEN)
    items = [
        i
        for i in session.exec(query.order_by(col(ActionItem.seq)))
        if not (i.snoozed_until and i.snoozed_until >= today)
    ]
    reported = {
        (item_id, person_id)
        for item_id, person_id in session.exec(
            select(ProgressUpdate.action_item_id, ProgressUpdate.person_id).where(
                col(ProgressUpdate.action_item_id).in_([i.id for i in items]),
                col(ProgressUpdate.created_at) >= midnight,
            )
        )
    }
    waiting: dict[int, list[ActionItem]] = {}
    for item in items:
        if (item.id, item.owner_id) not in reported:
            waiting.setdefault(item.owner_id, []).append(item)
    people = {p.id: p for p in session.exec(select(Person).where(col(Person.id).in_(list(waiting))))}
    return RollCall(record, RollCallKind.REPORT, [people[i] for i in waiting], waiting)
