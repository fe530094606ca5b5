"""Stored files and the keys platforms gave back for them: kept once per scope, gone with the file."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from storage.directory import ensure_group
from storage.files import file_content, purge_expired, remember_upload, store_file, upload_key
from storage.models import FileUpload, StoredFile
from storage.timekeeping import ManualClock
from storage.types import FileKind


def a_file(session: Session, clock: ManualClock, kind: FileKind = FileKind.RECORD_EXPORT) -> int:
    group = ensure_group(session=session, platform="feishu", chat_id="oc_group", workspace="acme", now=clock.now())
    ref = store_file(session=session, group_id=group.id or 0, kind=kind, filename="R1-订单.xlsx",
                     mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", content=b"PK\x03\x04",
                     now=clock.now())  # fmt: skip
    session.commit()
    return ref.id


def test_the_first_key_kept_for_a_scope_stays(session: Session, clock: ManualClock) -> None:
    file_id = a_file(session, clock)
    assert upload_key(session, file_id=file_id, platform="feishu", scope="cli:file") is None
    first = remember_upload(
        session, file_id=file_id, platform="feishu", scope="cli:file", key="file_a", now=clock.now()
    )
    again = remember_upload(
        session, file_id=file_id, platform="feishu", scope="cli:file", key="file_b", now=clock.now()
    )
    other = remember_upload(
        session, file_id=file_id, platform="feishu", scope="cli:image", key="img_c", now=clock.now()
    )
    session.commit()
    assert (first, again, other) == ("file_a", "file_a", "img_c"), "a second worker's upload yields to the first"
    assert upload_key(session, file_id=file_id, platform="feishu", scope="cli:file") == "file_a"
    assert upload_key(session, file_id=file_id, platform="slack", scope="cli:file") is None


def test_a_files_content_is_its_platforms_until_it_expires(session: Session, clock: ManualClock) -> None:
    file_id = a_file(session, clock)
    content = file_content(session, file_id=file_id, platform="feishu", now=clock.now())
    assert content is not None and (content.filename, content.content, content.image) == ("R1-订单.xlsx", b"PK\x03\x04",
                                                                                            False)  # fmt: skip
    assert file_content(session, file_id=file_id, platform="slack", now=clock.now()) is None
    assert file_content(session, file_id=file_id, platform="feishu", now=clock.now() + timedelta(days=8)) is None


def test_purging_an_expired_file_takes_its_keys_with_it(session: Session, clock: ManualClock) -> None:
    export = a_file(session, clock)  # kept 7 days
    chart = a_file(session, clock, FileKind.REVIEW_CHART)  # kept 40 days
    for file_id in (export, chart):
        remember_upload(
            session, file_id=file_id, platform="feishu", scope="cli:file", key=f"k{file_id}", now=clock.now()
        )
    session.commit()
    assert purge_expired(session, now=clock.now() + timedelta(days=8)) == 1
    session.commit()
    assert [f.id for f in session.exec(select(StoredFile))] == [chart]
    assert [(u.file_id, u.key) for u in session.exec(select(FileUpload))] == [(chart, f"k{chart}")]
