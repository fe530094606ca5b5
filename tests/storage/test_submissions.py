"""Exactly once: a form's token is claimed once, even by two copies arriving at the same moment."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from storage import submissions
from storage.db import unit_of_work
from storage.directory import ensure_group, ensure_person
from storage.models import FormSubmission, Record

NOW = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


def setup(engine: sa.Engine) -> tuple[int, int]:
    with unit_of_work(engine) as session:
        group = ensure_group(session=session, platform="sandbox", chat_id="g", workspace="w", now=NOW)
        person = ensure_person(session=session, platform="sandbox", user_id="zhangwei")
        return group.id, person.id


def make_record(session: Session, group_id: int, person_id: int, token: str) -> None:
    """What a handler does: store the record, then claim the form's token in the same transaction."""
    record = Record(group_id=group_id, recorder_id=person_id, topic="订单延迟", created_at=NOW, updated_at=NOW)
    session.add(record)
    session.flush()
    submissions.claim(session, token=token, group_id=group_id, person_id=person_id, action="record.submit", now=NOW,
                      record_id=record.id)  # fmt: skip


def test_a_token_is_claimed_once_and_points_to_what_it_made(engine: sa.Engine) -> None:
    group_id, person_id = setup(engine)
    with unit_of_work(engine) as session:
        make_record(session, group_id, person_id, "tok-1")
    with pytest.raises(submissions.AlreadySubmitted) as again, unit_of_work(engine) as session:
        make_record(session, group_id, person_id, "tok-1")
    assert again.value.message() == "这份表单已经提交过了，结果见 R1。"
    with Session(engine) as session:
        assert len(session.exec(select(Record)).all()) == 1, "the second record was rolled back with its claim"
        assert submissions.ref_of(session, submissions.find(session, "tok-1")) == "R1"
        assert submissions.find(session, None) is None


def test_two_copies_at_the_same_moment_make_one_record(engine: sa.Engine) -> None:
    group_id, person_id = setup(engine)
    first_in = threading.Event()
    outcome: list[str] = []

    def second() -> None:
        try:
            with unit_of_work(engine) as session:
                first_in.wait(5)
                make_record(session, group_id, person_id, "tok-2")  # blocks on the first copy's claim
            outcome.append("stored")
        except submissions.AlreadySubmitted:
            outcome.append("already")

    with unit_of_work(engine) as session:
        make_record(session, group_id, person_id, "tok-2")
        thread = threading.Thread(target=second)
        thread.start()
        first_in.set()
        thread.join(0.3)  # the second copy is now waiting for this transaction
    thread.join(10)
    assert outcome == ["already"]
    with Session(engine) as session:
        assert len(session.exec(select(Record)).all()) == 1
        assert len(session.exec(select(FormSubmission)).all()) == 1
