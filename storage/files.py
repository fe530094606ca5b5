"""Files the bot makes (exports, review charts), kept in the database until they expire.

A chat answer refers to a file by id; the platform uploads it, or (the sandbox)
serves it. Keeping the bytes in the database means every replica can serve or
upload what another one made, with nothing to share on disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import Session, col, select

from storage.models import Group, StoredFile
from storage.types import FileKind

RETENTION = {
    FileKind.RECORD_EXPORT: timedelta(days=7),
    FileKind.LIST_EXPORT: timedelta(days=7),
    FileKind.REVIEW_CHART: timedelta(days=40),  # the month's review card shows it until the next one
}
MAX_BYTES = 20 * 1024 * 1024  # well over any export; a guard against a runaway file


@dataclass(frozen=True)
class FileRef:
    """What a card needs to refer to a stored file."""

    id: int
    filename: str
    mime: str
    size: int

    @property
    def image(self) -> bool:
        return self.mime.startswith("image/")


def store_file(
    *, session: Session, group_id: int, kind: FileKind, filename: str, mime: str, content: bytes, now: datetime
) -> FileRef:
    """Keep ``content`` in the caller's transaction; it expires after the kind's retention."""
    if len(content) > MAX_BYTES:
        raise ValueError(f"{filename}: {len(content)} bytes is over the {MAX_BYTES} byte limit")
    row = StoredFile(group_id=group_id, kind=kind, filename=filename[:200], mime=mime, content=content,
                     created_at=now, expires_at=now + RETENTION[kind])  # fmt: skip
    session.add(row)
    session.flush()
    return FileRef(row.id or 0, row.filename, mime, len(content))


def file_for(session: Session, *, file_id: int, platform: str, now: datetime) -> tuple[StoredFile, Group] | None:
    """A file that has not expired and belongs to a group on ``platform``, or None."""
    query = (
        select(StoredFile, Group)
        .join(Group, col(Group.id) == StoredFile.group_id)
        .where(StoredFile.id == file_id, Group.platform == platform, col(StoredFile.expires_at) > now)
    )
    row = session.exec(query).first()
    return (row[0], row[1]) if row else None


def purge_expired(session: Session, *, now: datetime) -> int:
    """Delete expired files; returns how many went."""
    result = session.exec(delete(StoredFile).where(col(StoredFile.expires_at) <= now))  # type: ignore[call-overload]
    return result.rowcount or 0
