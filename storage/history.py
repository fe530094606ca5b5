"""The audit trail as people read it (``/record history R12``): newest first, a page at a time.

The rows are the append-only ``audit_trail``; this module only pages them and
gathers the names of the people they mention (actors, old and new owners), so the
card can say who did what without @-mentioning anyone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from storage.models import ActionItem, AuditEntry, Person, Record

PAGE_SIZE = 12


@dataclass(frozen=True)
class HistoryPage:
    record: Record
    entries: list[AuditEntry]
    page: int  # 1-based
    pages: int
    names: dict[int, str]  # person id → display name
    items: dict[int, int]  # action item id → its number on the record (R12-<n>)


def history_page(session: Session, record: Record, *, page: int = 1, size: int = PAGE_SIZE) -> HistoryPage:
    total = session.exec(select(func.count()).select_from(AuditEntry).where(AuditEntry.record_id == record.id)).one()
    pages = max(1, -(-total // size))
    page = min(max(1, page), pages)
    query = (
        select(AuditEntry)
        .where(AuditEntry.record_id == record.id)
        .order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc())
        .offset((page - 1) * size)
        .limit(size)
    )
    entries = list(session.exec(query))
    ids: set[int] = set()
    for entry in entries:
        ids |= {i for i in (entry.actor_id, *_people_in(entry.detail)) if isinstance(i, int)}
    names = {p.id: p.display_name or p.user_id for p in session.exec(select(Person).where(col(Person.id).in_(ids)))}
    items = dict(session.exec(select(ActionItem.id, ActionItem.seq).where(ActionItem.record_id == record.id)).all())
    return HistoryPage(record, entries, page, pages, names, items)  # type: ignore[arg-type]


def _people_in(detail: dict[str, Any]) -> list[Any]:
    found: list[Any] = []
    for key in ("old", "new", "owner_id"):
        if isinstance(detail.get(key), int):
            found.append(detail[key])
    for key in ("people", "unconfirmed", "removed", "added", "changed"):
        value = detail.get(key)
        if isinstance(value, list):
            found.extend(v for v in value if isinstance(v, int))
    for side in ("before", "after"):
        if isinstance(detail.get(side), dict) and isinstance(detail[side].get("owner_id"), int):
            found.append(detail[side]["owner_id"])
    return found
