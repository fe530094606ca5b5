"""Files the bot makes (exports, review charts), kept in the database until they expire.

A chat answer refers to a file by id; the platform uploads it, or (the sandbox)
serves it. Keeping the bytes in the database means every replica can serve or
upload what another one made, with nothing to share on disk. What a platform gave
back for an upload (its key) is kept beside the file (``file_uploads``), so a
retried message, or a second one with the same file, does not upload it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from storage.models import FileUpload, Group, StoredFile
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


def file_for(session: Session, *, file_id: int, platform: str | None, now: datetime) -> tuple[StoredFile, Group] | None:
    """A file that has not expired and belongs to a group on ``platform`` (``None``: any), or None."""
    query = (
        select(StoredFile, Group)
        .join(Group, col(Group.id) == StoredFile.group_id)
        .where(StoredFile.id == file_id, col(StoredFile.expires_at) > now)
    )
    if platform is not None:
        query = query.where(Group.platform == platform)
    row = session.exec(query).first()
    return (row[0], row[1]) if row else None


@dataclass(frozen=True)
class FileContent:
    """A stored file's bytes, for a platform to upload."""

    id: int
    filename: str
    mime: str
    content: bytes

    @property
    def image(self) -> bool:
        return self.mime.startswith("image/")


def file_content(session: Session, *, file_id: int, platform: str, now: datetime) -> FileContent | None:
    found = file_for(session, file_id=file_id, platform=platform, now=now)
    if found is None:
        return None
    row = found[0]
    return FileContent(row.id or 0, row.filename, row.mime, row.content)


def upload_key(session: Session, *, file_id: int, platform: str, scope: str) -> str | None:
    """The key ``platform`` gave back when the file was uploaded for ``scope``, if it was."""
    query = select(FileUpload.key).where(
        FileUpload.file_id == file_id, FileUpload.platform == platform, FileUpload.scope == scope
    )
    return session.exec(query).first()


def remember_upload(session: Session, *, file_id: int, platform: str, scope: str, key: str, now: datetime) -> str:
    """Keep an upload's key; when another worker kept one first, that one stays and is returned."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(FileUpload).on_conflict_do_nothing(index_elements=["file_id", "platform", "scope"])
    session.connection().execute(
        statement, {"file_id": file_id, "platform": platform, "scope": scope, "key": key, "created_at": now}
    )
    return upload_key(session, file_id=file_id, platform=platform, scope=scope) or key


def purge_expired(session: Session, *, now: datetime) -> int:
    """Delete expired files (and what platforms gave back for them); returns how many went."""
    expired = select(StoredFile.id).where(col(StoredFile.expires_at) <= now)
    session.exec(delete(FileUpload).where(col(FileUpload.file_id).in_(expired)))  # type: ignore[call-overload]
    result = session.exec(delete(StoredFile).where(col(StoredFile.expires_at) <= now))  # type: ignore[call-overload]
    return result.rowcount or 0
