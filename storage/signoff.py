"""Signing again after a change: what is substantive, who signs again, and what the notice lists.

A participant's 确认无误 is an electronic signature on the record's *content*: the
problem and the plan. Once a record is submitted (待确认, 进行中, 已延期), a
**substantive** change resets the confirmations of the participants it concerns
and asks them again, with a list of what changed; a **cosmetic** change resets
nothing. The rule, in one place:

| change | substantive? | who signs again |
|---|---|---|
| problem, its 5W1H, impact, root cause | yes | every participant |
| a department's key point (沟通要点) | yes | that department's participants (everyone if none) |
| an action item added, rewritten, rescheduled, reassigned or cancelled | yes | its owner (the new one when reassigned) |
| a participant added, or their department or authority changed | yes | that participant |
| a resource request added, changed or removed | yes | participants with resource authority, and the approver |
| topic, meeting time/place/link, goal, agenda, material, notes, next meeting, category, cc, recorder | no | nobody |

Whoever makes a change is not asked to sign it again: if they are among the
people concerned, their own confirmation is left as it was. A draft has no
signatures, so nothing happens before submission.

Only the recorder (or an admin) may make a substantive change to a submitted
record; any member may make a cosmetic one (``storage.lifecycle.require_may_change``).

One save often calls several lifecycle functions (the record form writes the
fields, the participants, the key points, the resources and the items), and the
group should get one notice for all of it. So each call adds what it reset to
a note kept on the session (``session.info``) for the rest of the transaction,
and the handler takes it once, at the end (``take``), to post the notice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from storage.i18n import Message
from storage.models import Participant, Record
from storage.types import AuditAction, RecordStatus

if TYPE_CHECKING:
    from storage.lifecycle import Actor

SIGNED_STATUSES = (RecordStatus.CONFIRMING, RecordStatus.IN_PROGRESS, RecordStatus.DELAYED)
SUBSTANTIVE_FIELDS = frozenset(
    {"problem", "problem_what", "problem_when", "problem_where", "problem_who", "problem_why", "problem_how",
     "impact", "root_cause"}
)  # fmt: skip
_NOTE = "closeloop.signoff"


@dataclass
class Resign:
    """What one transaction asked people to sign again: who, and the changes to show them."""

    record_id: int
    people: list[int] = field(default_factory=list)
    changes: list[Message] = field(default_factory=list)


def is_substantive(fields: Iterable[str]) -> bool:
    return any(name in SUBSTANTIVE_FIELDS for name in fields)


def require_again(
    session: Session, record: Record, *, people: Iterable[int] | None, change: Message, by: Actor | None,
    now: datetime,
) -> list[int]:  # fmt: skip
    """Reset the confirmations of the participants concerned (``None``: all of them); returns who is asked.

    Does nothing before submission. The actor, if concerned, keeps their confirmation as it was.
    """
    if record.status not in SIGNED_STATUSES:
        return []
    query = select(Participant).where(Participant.record_id == record.id)
    if people is not None:
        query = query.where(col(Participant.person_id).in_(sorted(set(people))))
    rows = list(session.exec(query.order_by(col(Participant.id))))
    asked, reset = [], []
    for row in rows:
        if by is not None and row.person_id == by.person_id:
            continue  # whoever makes the change keeps their own sign-off (or its absence) as it was
        asked.append(row.person_id)
        if row.confirmed_at is not None:
            reset.append(row.person_id)
        row.confirmed_at = None
        session.add(row)
    if reset:
        from storage.lifecycle import audit  # the lifecycle imports this module: import at use

        audit(session, record=record, action=AuditAction.SIGNOFF_RESET, by=by, now=now, people=reset,
              change=change.render("zh-CN"))  # fmt: skip
    note = session.info.setdefault(_NOTE, {}).setdefault(record.id, Resign(record.id or 0))
    note.people.extend(p for p in asked if p not in note.people)
    note.changes.append(change)
    return asked


def take(session: Session, record_id: int | None) -> Resign | None:
    """What this transaction asked people to sign again on the record, once (then it is forgotten)."""
    note = session.info.get(_NOTE, {}).pop(record_id, None)
    return note if note is not None and (note.people or note.changes) else None


def discard(session: Session) -> None:
    """Forget everything noted (the work it described was rolled back)."""
    session.info.pop(_NOTE, None)
