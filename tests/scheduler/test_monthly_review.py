"""The monthly review is posted by itself on the first workday of each month at the prompt time, once per group
per month: after a restart, on two replicas at once, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import datetime

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from scheduler.jobs import run_jobs
from storage.db import make_engine, unit_of_work
from storage.directory import ensure_group, ensure_person
from storage.lifecycle import create_draft
from storage.models import OutboxMessage, StoredFile
from storage.types import FileKind

from .conftest import build


def cst(text: str) -> datetime:
    return datetime.fromisoformat(text + "+08:00")


def reviews(engine: sa.Engine) -> list[OutboxMessage]:
    with Session(engine) as session:
        return [
            m for m in session.exec(select(OutboxMessage).order_by(OutboxMessage.id)) if ":review:" in m.idempotency_key
        ]


def charts(engine: sa.Engine) -> list[StoredFile]:
    with Session(engine) as session:
        return list(session.exec(select(StoredFile).where(StoredFile.kind == FileKind.REVIEW_CHART)))


def test_posted_on_the_first_workday_at_the_prompt_time_once(engine: sa.Engine) -> None:
    build(engine, created=cst("2026-11-02T09:00"), dues=[("优化同步脚本", cst("2026-11-20T18:00"))])
    with unit_of_work(engine) as session:  # a group with only a draft has nothing to review
        quiet = ensure_group(
            session=session, platform="sandbox", chat_id="quiet", workspace="acme", now=cst("2026-11-02T09:00")
        )
        person = ensure_person(session=session, platform="sandbox", user_id="solo")
        create_draft(
            session=session, group_id=quiet.id, recorder_id=person.id, topic="草稿", now=cst("2026-11-02T09:00")
        )
    assert run_jobs(engine, as_of=cst("2026-12-01T17:29"), names=["monthly_review"]) == {"monthly_review": 0}
    assert run_jobs(engine, as_of=cst("2026-12-01T17:30"), names=["monthly_review"]) == {"monthly_review": 1}
    (message,) = reviews(engine)
    assert message.idempotency_key == "sandbox:g1:review:2026-11" and message.target == "g1"
    card = message.payload["card"]
    assert card["header"]["title"] == "2026年11月 复盘"
    assert "新建记录 1 条，闭环 0 条；本月到期任务 1 项，按时完成 0 项（0%），逾期 1 项" in card["elements"][0]["text"]
    (attachment,) = [e for e in card["elements"] if e["kind"] == "attachment"]
    (chart,) = charts(engine)
    assert attachment == {"kind": "attachment", "file_id": chart.id, "filename": "复盘图表-2026-11.png",
                          "mime": "image/png", "image": True, "size": len(chart.content)}  # fmt: skip
    assert chart.content.startswith(b"\x89PNG")
    for later in ("2026-12-01T17:31", "2026-12-01T21:00", "2026-12-02T17:30"):  # a restart, a later tick, next day
        assert run_jobs(engine, as_of=cst(later))["monthly_review"] == 0
    assert len(reviews(engine)) == 1 and len(charts(engine)) == 1


def test_a_holiday_moves_it_to_the_next_workday(engine: sa.Engine) -> None:
    """1 January 2027 is New Year's Day and 2–3 January a weekend: December's review comes on Monday 4 January."""
    build(engine, created=cst("2026-12-01T09:00"), dues=[("建立监控", cst("2026-12-20T18:00"))])
    assert run_jobs(engine, as_of=cst("2027-01-01T17:30"), names=["monthly_review"])["monthly_review"] == 0
    assert run_jobs(engine, as_of=cst("2027-01-04T17:30"), names=["monthly_review"])["monthly_review"] == 1
    assert [m.idempotency_key for m in reviews(engine)] == ["sandbox:g1:review:2026-12"]


def test_down_all_evening_means_no_review_the_next_day(engine: sa.Engine) -> None:
    """Like the daily prompt: six hours of grace on the same day, then it is not sent late."""
    build(engine, created=cst("2026-11-02T09:00"), dues=[("优化同步脚本", cst("2026-11-20T18:00"))])
    assert run_jobs(engine, as_of=cst("2026-12-01T23:29"), names=["monthly_review"])["monthly_review"] == 1
    assert run_jobs(engine, as_of=cst("2026-12-02T10:00"), names=["monthly_review"])["monthly_review"] == 0


@pytest.mark.postgres
def test_two_replicas_post_each_groups_review_once(postgres_engine: sa.Engine, postgres_database: str) -> None:
    from tests.conftest import _truncate_all

    _truncate_all(postgres_engine)
    for n in range(4):
        build(postgres_engine, created=cst("2026-11-02T09:00"), chat=f"g{n}",
              dues=[("优化同步脚本", cst("2026-11-20T18:00"))])  # fmt: skip
    replicas = [make_engine(postgres_database) for _ in range(2)]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def replica(engine: sa.Engine) -> None:
        try:
            barrier.wait(timeout=30)
            run_jobs(engine, as_of=cst("2026-12-01T17:30"), names=["monthly_review"])
            run_jobs(engine, as_of=cst("2026-12-01T17:45"), names=["monthly_review"])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=replica, args=(engine,)) for engine in replicas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for engine in replicas:
        engine.dispose()
    assert errors == []
    keys = sorted(m.idempotency_key for m in reviews(postgres_engine))
    assert keys == [f"sandbox:g{n}:review:2026-11" for n in range(4)]
    shown = {
        a["file_id"]
        for m in reviews(postgres_engine)
        for a in m.payload["card"]["elements"]
        if a["kind"] == "attachment"
    }
    assert {c.id for c in charts(postgres_engine)} == shown, "a replica that lost the race keeps no orphan chart"
