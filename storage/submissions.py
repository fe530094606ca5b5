"""Exactly once from people too: a form is stored once, however often it arrives.

Every form the bot hands out carries a random token in its payload
(``CardPayload.extra["token"]``). When a submission is stored, its token is
written to ``form_submissions`` (unique) in the same transaction, with what it
made (a record, an item). So:

- a double click, a browser resend or a platform retrying a card callback
  brings the same token again: ``find`` returns the first submission and the
  handler answers "already submitted — here is R12" instead of storing again;
- a stale form pressed after its record exists answers the same way;
- two copies arriving at the same moment on PostgreSQL both pass ``find``, but
  only one ``claim`` inserts: the other raises ``AlreadySubmitted``, which rolls
  its transaction back (its record with it). On SQLite the writes run one at a
  time, so the second always sees the first.

A form without a token (one posted before tokens existed) is stored as before.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from storage.errors import DomainError
from storage.models import ActionItem, FormSubmission


class AlreadySubmitted(DomainError):
    """The same form was stored a moment ago by a concurrent copy of this submission."""

    def __init__(self, *, ref: str) -> None:
        super().__init__("form.already_submitted", ref=ref)


def find(session: Session, token: str | None) -> FormSubmission | None:
    if not token:
        return None
    return session.exec(select(FormSubmission).where(FormSubmission.token == token[:64])).first()


def claim(
    session: Session, *, token: str | None, group_id: int, person_id: int, action: str, now: datetime,
    record_id: int | None = None, item_id: int | None = None,
) -> None:  # fmt: skip
    """Remember that the form with ``token`` made ``record_id``/``item_id``; raises if it was stored already."""
    if not token:
        return
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(FormSubmission)
        .values(token=token[:64], group_id=group_id, person_id=person_id, action=action[:64], record_id=record_id,
                item_id=item_id, created_at=now)
        .on_conflict_do_nothing(index_elements=["token"])
        .returning(col(FormSubmission.id))
    )  # fmt: skip
    if session.execute(statement).first() is None:
        raise AlreadySubmitted(ref=ref_of(session, find(session, token)))


def ref_of(session: Session, submission: FormSubmission | None) -> str:
    """What the submission made, as people write it: R12, or R12-4 for an item."""
    if submission is None or submission.record_id is None:
        return "—"
    if submission.item_id is not None:
        item = session.get(ActionItem, submission.item_id)
        if item is not None:
            return f"R{submission.record_id}-{item.seq}"
    return f"R{submission.record_id}"
