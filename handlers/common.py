"""Small steps several handler areas share: find a record in this chat, resolve people, drafts,
forms that are stored once and warn once, the sign-again notice."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from cards.model import CardPayload
from cards.templates import notice, t, unique
from handlers.context import Poster
from storage import signoff, submissions
from storage.directory import ensure_person, find_department, set_department
from storage.errors import DomainError, NotFound
from storage.lifecycle import load_record
from storage.models import Department, FormDraft, FormSubmission, Group, Person, Record
from storage.queries import RecordView, record_view


def record_in_group(session: Session, group: Group, record_id: int | None) -> Record:
    """The record, only if it belongs to this chat: R12 of another group is not found here."""
    if record_id is None:
        raise NotFound("record.not_found", ref="R?")
    record = load_record(session, record_id)
    if record.group_id != group.id:
        raise NotFound("record.not_found", ref=f"R{record_id}")
    return record


def view_of(session: Session, group: Group, record_id: int | None) -> RecordView:
    return record_view(session, record_in_group(session, group, record_id))


def person_for(session: Session, group: Group, user_id: str) -> Person:
    return ensure_person(session=session, platform=group.platform, user_id=user_id)


def department_named(session: Session, group: Group, name: str | None) -> Department | None:
    """A department of this workspace by name, created on first mention."""
    if not name:
        return None
    return find_department(session=session, workspace=group.workspace, name=name) or set_department(
        session=session, workspace=group.workspace, name=name
    )


def leads_of(session: Session, departments: Iterable[Department | None], *, directors: bool = False) -> list[Person]:
    ids = []
    for department in departments:
        if department is None:
            continue
        ids.append(department.director_id if directors else department.lead_id)
    return [p for p in (session.get(Person, i) for i in dict.fromkeys(i for i in ids if i)) if p]


def informed_on_activation(session: Session, view: RecordView) -> list[Person]:
    """Who hears that a record starts: the cc list, the leads of cc'd and taking-part departments."""
    departments = [p.department for p in view.participants] + list(view.cc_departments)
    return unique([*view.cc_people, *leads_of(session, departments)])


def load_draft(session: Session, group: Group, person: Person, form_key: str) -> FormDraft | None:
    query = select(FormDraft).where(
        FormDraft.group_id == group.id, FormDraft.person_id == person.id, FormDraft.form_key == form_key
    )
    return session.exec(query).first()


# The largest a filled-in record form can legitimately get (every section at its row and length limits, in
# Chinese) is about 200 KB of JSON; anything beyond is not a draft worth keeping in every replica's memory.
MAX_DRAFT_BYTES = 256 * 1024


def draft_size(values: dict[str, Any]) -> int:
    return len(json.dumps(values, ensure_ascii=False, default=str).encode())


def save_draft(
    session: Session, group: Group, person: Person, form_key: str, values: dict[str, Any], now: datetime,
    record: Record | None = None, *, refuse_too_large: bool = True, warned: bool | None = None,
) -> FormDraft | None:  # fmt: skip
    """Keep a half-filled form. Over ``MAX_DRAFT_BYTES`` it is refused with a clear message, or, where saving is
    only a courtesy (a submission that came back with errors), quietly not kept. ``warned=False``: a fresh form,
    whose warnings have not been shown yet."""
    size = draft_size(values)
    if size > MAX_DRAFT_BYTES:
        if refuse_too_large:
            raise DomainError("draft.too_large", size=size // 1024, limit=MAX_DRAFT_BYTES // 1024)
        return None
    draft = load_draft(session, group, person, form_key) or FormDraft(
        group_id=group.id or 0, person_id=person.id or 0, form_key=form_key
    )
    draft.values = values
    draft.updated_at = now
    draft.warned_at = None if warned is False else draft.warned_at
    draft.record_id = record.id if record else None
    draft.record_version = record.version if record else None
    session.add(draft)
    session.flush()
    return draft


def drop_draft(session: Session, group: Group, person: Person, form_key: str) -> None:
    draft = load_draft(session, group, person, form_key)
    if draft is not None:
        session.delete(draft)


# ---------------------------------------------------------------- forms: exactly once, the lint once


def with_token(payload: CardPayload) -> CardPayload:
    """The payload of a form being handed out, with a fresh submission token (``storage.submissions``)."""
    return payload.model_copy(update={"extra": {**payload.extra, "token": secrets.token_urlsafe(12)}})


def token_of(payload: CardPayload) -> str | None:
    return payload.extra.get("token") or None


def replayed(session: Session, group: Group, payload: CardPayload) -> FormSubmission | None:
    """The submission this form already made, if it made one (a double click, a resend, a stale form)."""
    found = submissions.find(session, token_of(payload))
    return found if found is not None and found.group_id == group.id else None


def remember(session: Session, group: Group, person: Person, payload: CardPayload, action: str, now: datetime, *,
             record_id: int | None, item_id: int | None = None) -> None:  # fmt: skip
    submissions.claim(session, token=token_of(payload), group_id=group.id or 0, person_id=person.id or 0,
                      action=action, now=now, record_id=record_id, item_id=item_id)  # fmt: skip


def come_back_once(session: Session, group: Group, person: Person, form_key: str, values: dict[str, Any],
                   warnings: dict[str, str], now: datetime, record: Record | None = None) -> bool:  # fmt: skip
    """True when a form with only warnings must come back (once) instead of being stored.

    The form comes back once per filling: after a person has seen its warnings
    (shown alone, or beside errors), the next submission is stored whatever they
    say, which is what its 仍然提交 button promises. Opening the form afresh asks again.
    """
    draft = load_draft(session, group, person, form_key)
    if not warnings or (draft is not None and draft.warned_at is not None):
        return False
    saw_warnings(session, group, person, form_key, values, now, record)
    return True


def saw_warnings(session: Session, group: Group, person: Person, form_key: str, values: dict[str, Any],
                 now: datetime, record: Record | None = None) -> None:  # fmt: skip
    draft = save_draft(session, group, person, form_key, values, now, record, refuse_too_large=False)
    if draft is not None:  # a form too large to keep as a draft is shown its warnings each time
        draft.warned_at = now
        session.add(draft)


def said(text: str, lang: str) -> Any:
    """A short answer to a typed command that posted nothing else (a typed command's toast goes nowhere)."""
    return notice(t("notice.title", lang), text)


def post_resign(session: Session, record: Record, lang: str, out: Poster, *, key: str) -> bool:
    """Ask the people a substantive change concerned to sign again (``storage.signoff``); True if posted."""
    from cards.plan import resign_notice

    note = signoff.take(session, record.id)
    if note is None or not note.people:
        return False
    people = [p for p in (session.get(Person, i) for i in note.people) if p]
    return out.post(resign_notice(record, people, note.changes, lang=lang), key=f"record:{record.id}:resign:{key}")


def resign_people(session: Session, record: Record) -> list[Person]:
    """Who this transaction asked to sign again (taken: nobody else will post for it)."""
    note = signoff.take(session, record.id)
    return [p for p in (session.get(Person, i) for i in note.people) if p] if note else []
