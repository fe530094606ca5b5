"""Two schedulers ticking at once on PostgreSQL post each reminder exactly once; a restart loses nothing."""

from __future__ import annotations

import threading
from datetime import date, datetime, time

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from bot.outbox import Delivered, OutboxSender, OutgoingMessage, RateLimit
from scheduler.jobs import run_jobs
from storage.db import make_engine
from storage.models import AuditEntry, OutboxMessage
from storage.timekeeping import ManualClock
from storage.types import AuditAction, OutboxStatus, RecordStatus

from .conftest import build


def cst(text: str) -> datetime:
    return datetime.fromisoformat(text + "+08:00")


@pytest.mark.postgres
def test_two_replicas_ticking_together_post_each_reminder_once(
    postgres_engine: sa.Engine, postgres_database: str
) -> None:
    from tests.conftest import _truncate_all

    _truncate_all(postgres_engine)
    scenarios = [
        build(postgres_engine, created=cst("2026-11-01T09:00"), chat=f"g{n}",
              dues=[("优化同步脚本", cst("2026-11-26T18:00")), ("建立监控", cst("2026-11-27T18:00"))])
        for n in range(6)
    ]  # fmt: skip
    replicas = [make_engine(postgres_database) for _ in range(2)]
    instants = [cst("2026-11-25T10:00"), cst("2026-11-25T17:30"), cst("2026-11-27T10:00"), cst("2026-12-01T10:00")]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def replica(engine: sa.Engine) -> None:
        try:
            for instant in instants:
                barrier.wait(timeout=30)
                run_jobs(engine, as_of=instant)
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
    with Session(postgres_engine) as session:
        keys = [m.idempotency_key for m in session.exec(select(OutboxMessage))]
        delayed = session.exec(select(AuditEntry).where(AuditEntry.action == AuditAction.RECORD_DELAYED)).all()
    assert len(keys) == len(set(keys))
    per_group = {s.chat: sorted(k.split(":")[2] for k in keys if k.split(":")[1] == s.chat) for s in scenarios}
    # each group: the warning for item 2 (25 Nov, two days before the 27th; item 1's was on the 24th, not ticked),
    # the prompt (25 Nov), step 1 for item 1 (27 Nov) and for item 2 (30 Nov, caught up on 1 Dec), step 2 for item 1
    assert all(kinds == per_group["g0"] for kinds in per_group.values())
    assert per_group["g0"] == ["overdue1", "overdue1", "overdue2", "prompt", "warning"]
    assert len(delayed) == 6, "each record marked delayed once, by one replica"
    assert all(s.record().status is RecordStatus.DELAYED for s in scenarios)


class RecordingPlatform:
    name = "sandbox"
    rate_limit = RateLimit(per_target=100, per_app=1000)

    def __init__(self) -> None:
        self.received: list[OutgoingMessage] = []

    async def deliver(self, message: OutgoingMessage) -> Delivered:
        self.received.append(message)
        return Delivered(f"m{len(self.received)}")


async def test_a_restart_between_enqueue_and_send_sends_each_reminder_once(engine: sa.Engine) -> None:
    scenario = build(engine, created=cst("2026-11-01T09:00"), dues=[("优化同步脚本", cst("2026-11-27T18:00"))])
    at = scenario.at(date(2026, 11, 25), time(10, 0))
    assert run_jobs(engine, as_of=at)["deadline_warning"] == 1  # queued; the process dies before sending
    platform = RecordingPlatform()
    restarted = OutboxSender(engine, {"sandbox": platform}, ManualClock(at))
    assert run_jobs(engine, as_of=at)["deadline_warning"] == 0, "the restarted scheduler queues nothing again"
    await restarted.run_once()
    await restarted.run_once()
    assert [m.key for m in platform.received] == ["sandbox:g1:warning:1:2026-11-27T10:00:00+00:00"]
    with Session(engine) as session:
        assert {m.status for m in session.exec(select(OutboxMessage))} == {OutboxStatus.SENT}
