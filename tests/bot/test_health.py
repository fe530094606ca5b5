"""What an operator and a load balancer see: liveness, readiness, 503 within the budget, metrics without secrets."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer
from sqlmodel import Session, select

from bot.app import create_app
from bot.metrics import Metrics
from bot.platforms.feishu.adapter import FeishuPlatform
from bot.platforms.feishu.settings import FeishuSettings
from bot.settings import load_settings
from scheduler.runner import SchedulerRunner
from storage.db import unit_of_work
from storage.models import InboundEvent, OutboxMessage, ProcessedEvent
from storage.outbox import enqueue
from storage.timekeeping import ManualClock
from tests.bot.platforms.feishu.conftest import fake_feishu  # noqa: F401  (a fixture)
from tests.platforms.feishu.fake import FakeFeishu
from tests.platforms.feishu.peer import APP, Feishu
from tests.scheduler.conftest import build

BUDGETS = {"CLOSELOOP_ACK_BUDGET_SECONDS": "0.3", "CLOSELOOP_READY_WRITE_BUDGET_SECONDS": "0.3",
           "CLOSELOOP_READY_MAX_OUTBOX": "3"}  # fmt: skip


@pytest.fixture
async def feishu(engine: sa.Engine, clock: ManualClock, fake_feishu: FakeFeishu) -> AsyncIterator[Feishu]:  # noqa: F811
    platform = FeishuPlatform(FeishuSettings(_env_file=None, **APP, FEISHU_API_BASE=fake_feishu.base), clock=clock)
    app = create_app(load_settings(_env_file=None, **BUDGETS), engine=engine, clock=clock, platforms=[platform],
                     run_sender=False, run_inbox=False, run_scheduler=False)  # fmt: skip
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    yield Feishu(client, engine, clock, fake=fake_feishu)
    await client.close()


@contextmanager
def database_locked(engine: sa.Engine) -> Iterator[None]:
    """Another process holds the database's write lock (SQLite) or locks the tables the bot writes (PostgreSQL)."""
    if engine.dialect.name == "sqlite":
        other = sqlite3.connect(engine.url.database or "", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            other.execute("ROLLBACK")
            other.close()
        return
    with engine.connect() as other:
        transaction = other.begin()
        other.execute(sa.text("LOCK TABLE inbox, readiness_probe IN ACCESS EXCLUSIVE MODE"))
        try:
            yield
        finally:
            transaction.rollback()


async def get(feishu: Feishu, path: str) -> tuple[int, dict]:
    response = await feishu.client.get(path)
    return response.status, await response.json()


async def test_a_healthy_bot_is_alive_and_ready(feishu: Feishu) -> None:
    assert await get(feishu, "/livez") == (200, {"status": "ok"})
    assert await get(feishu, "/healthz") == (200, {"status": "ok", "database": "ok", "platforms": ["feishu"]})
    assert await get(feishu, "/readyz") == (200, {"status": "ready", "database": "ok", "platforms": ["feishu"],
                                                  "inbox": 0, "outbox": 0})  # fmt: skip


async def test_a_locked_database_answers_503_within_the_budget_and_the_retry_is_handled_once(
    feishu: Feishu, caplog: pytest.LogCaptureFixture
) -> None:
    message = feishu.message("/help", chat_type="p2p")
    with database_locked(feishu.engine), caplog.at_level(logging.ERROR, logger="bot.platforms.gateway"):
        started = time.monotonic()
        status, _ = await feishu.push(message)
        waited = time.monotonic() - started
        assert status == 503 and waited < 1.5, f"{status} after {waited:.2f} s (budget 0.3 s)"
        status, ready = await get(feishu, "/readyz")
        assert status == 503 and ready["database"] == "slow" and ready["status"] == "not ready"
        assert (await get(feishu, "/livez"))[0] == 200, "alive all the same: a restart would not help"
    # busy, not broken: one line that says so, without a traceback per refused event
    (refused,) = [r for r in caplog.records if r.name == "bot.platforms.gateway"]
    assert "could not store event" in refused.getMessage() and "no write within" in refused.getMessage()
    assert refused.exc_info is None
    status, _ = await feishu.push(message)  # Feishu delivers again
    assert status == 200
    assert await feishu.inbox.run_once() == 1 and await feishu.inbox.run_once() == 0
    with Session(feishu.engine) as session:
        assert len(session.exec(select(ProcessedEvent)).all()) == 1 and session.exec(select(InboundEvent)).all() == []
        assert len(session.exec(select(OutboxMessage)).all()) == 1, "one answer"
    assert (await get(feishu, "/readyz"))[0] == 200


async def test_an_acknowledgement_that_timed_out_before_its_commit_leaves_nothing_behind(feishu: Feishu) -> None:
    with database_locked(feishu.engine):
        first = feishu.message("/help", chat_type="p2p")
        second = feishu.message("/record list", chat_type="p2p")
        assert (await feishu.push(first))[0] == 503  # its commit is under way, held by the lock
        assert (await feishu.push(second))[0] == 503  # waited for the next commit: withdrawn
    assert (await get(feishu, "/readyz"))[0] == 200
    with Session(feishu.engine) as session:
        stored = [e.event_id for e in session.exec(select(InboundEvent))]
    assert second["header"]["event_id"] not in stored


async def test_a_backlog_over_the_threshold_makes_the_bot_not_ready(feishu: Feishu) -> None:
    with unit_of_work(feishu.engine) as session:
        for n in range(3):
            enqueue(session, platform="feishu", target="oc_group", card={"elements": []}, key=f"k{n}",
                    now=feishu.clock.now())  # fmt: skip
    status, ready = await get(feishu, "/readyz")
    assert status == 503 and ready["problems"] == ["3 messages wait in the outbox (limit 3)"]


async def test_metrics_count_what_happens_and_show_no_secret(feishu: Feishu) -> None:
    await feishu.push(feishu.message("/help", chat_type="p2p"))
    await feishu.push(feishu.message("/record list", chat_type="p2p"))
    waiting = (await feishu.client.get("/metrics")).text
    assert "closeloop_inbox_backlog 2.0" in await waiting()
    await feishu.inbox.run_once()
    feishu.fake.fail_next(status=429, code=99991400, headers={"x-ogw-ratelimit-reset": "1"})
    await feishu.sender.run_once()  # the first answer is refused; the second waits behind it (same chat)
    text = await (await feishu.client.get("/metrics")).text()
    for line in (
        'closeloop_outbox_refusals_total{code="throttled",platform="feishu"} 1.0',
        'closeloop_outbox_pending{platform="feishu"} 2.0',
        'closeloop_outbox_retrying{platform="feishu"} 1.0',
    ):
        assert line in text, line
    feishu.clock.advance(timedelta(seconds=5))
    await feishu.sender.run_once()
    response = await feishu.client.get("/metrics")
    text = await response.text()
    assert response.status == 200 and response.content_type == "text/plain"
    for line in (
        "closeloop_inbox_backlog 0.0",
        'closeloop_dispatch_seconds_count{kind="CommandEvent",platform="feishu"} 2.0',
        'closeloop_outbox_deliveries_total{platform="feishu"} 2.0',
        'closeloop_outbox_attempts_total{platform="feishu"} 3.0',
        'closeloop_outbox_pending{platform="feishu"} 0.0',
        'closeloop_outbox_retrying{platform="feishu"} 0.0',
    ):
        assert line in text, line
    for name in ("FEISHU_APP_SECRET", "FEISHU_VERIFICATION_TOKEN", "FEISHU_ENCRYPT_KEY"):
        assert APP[name] not in text


async def test_a_scheduler_tick_is_timed_and_counted_per_job(engine: sa.Engine) -> None:
    build(engine, created=datetime.fromisoformat("2026-11-01T09:00+08:00"),
          dues=[("优化同步脚本", datetime.fromisoformat("2026-12-31T18:00+08:00"))])  # fmt: skip
    metrics = Metrics()
    runner = SchedulerRunner(engine, ManualClock(datetime.fromisoformat("2026-11-24T17:30+08:00")),
                             on_tick=metrics.ticked)  # fmt: skip
    await runner.tick()
    text = metrics.render().decode()
    assert 'closeloop_scheduler_queued_total{job="daily_prompt"} 1.0' in text
    assert "closeloop_scheduler_tick_seconds_count 1.0" in text
