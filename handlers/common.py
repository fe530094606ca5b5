"""Small steps several handler areas share: find a record in this chat, resolve people, drafts."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from cards.templates import unique
from storage.directory import ensure_person, find_department, set_department
from storage.errors import DomainError, NotFound
from storage.lifecycle import load_record
from storage.models import Department, FormDraft, Group, Person, Record
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
    record: Record | None = None, *, refuse_too_large: bool = True,
) -> FormDraft | None:  # fmt: skip
    """Keep a half-filled form. Over ``MAX_DRAFT_BYTES`` it is refused with a clear message,
    or, where saving is only a courtesy (a submission that came back with errors), quietly not kept."""
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
    draft.record_id = record.id if record else None
    draft.record_version = record.version if record else None
    session.add(draft)
    session.flush()
    return draft


def drop_draft(session: Session, group: Group, person: Person, form_key: str) -> None:
    draft = load_draft(session, group, person, form_key)
    if draft is not None:
        session.delete(draft)
